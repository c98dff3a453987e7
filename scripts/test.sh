#!/usr/bin/env bash
# The one test command: everything CI runs, in order, stopping at the first
# failure.
#
#   1. scripts/setup.sh          install what is missing (etcd, protoc, kubectl)
#   2. cargo fmt --check         formatting
#   3. cargo clippy -D warnings  lints, on every target
#      + import-circles.py       no file uses a file that uses it back
#   4. cargo nextest run         unit, crate integration and e2e tests, the
#                                binaries side by side (.config/nextest.toml)
#      + cargo test --doc        the doctests (nextest does not run them)
#      + gen-protobuf-schema.py --check  schema.txt still what its generator writes
#   5. rkube bench store --quick a smoke run of the store benchmark
#   6. rkube bench api --quick   a smoke run of the API benchmark
#   7. rkube bench cluster --quick  a smoke run of the cluster benchmark
#   8. rkube bench node --quick  a smoke run of the real-node benchmark (root, runc)
#   9. rkube bench net --quick   a smoke run of Services, DNS and pod network (root, dnsperf)
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-shot build gains nothing from incremental state, which would double the
# target directory's size on CI's disk.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "no import circles (scripts/import-circles.py)"
python3 scripts/import-circles.py crates/apimachinery/src crates/apiserver/src crates/controllers/src \
  crates/scheduler/src crates/events/src crates/node/src crates/rkube/src \
  crates/cri/src crates/image/src crates/net/src crates/stream/src \
  crates/proxy/src crates/dns/src crates/netpol/src

step "cargo nextest run --workspace (.config/nextest.toml)"
cargo nextest run --workspace

step "cargo test --workspace --doc"
cargo test --workspace --doc

step "protobuf schema.txt up to date (scripts/gen-protobuf-schema.py --check)"
python3 scripts/gen-protobuf-schema.py --check

step "rkube bench store --quick (smoke)"
bench_dir=$(mktemp -d "${TMPDIR:-/tmp}/rkube-bench-smoke.XXXXXX")
trap 'rm -rf "$bench_dir"' EXIT
cargo run --quiet -p rkube -- bench store --quick --dir "$bench_dir"

step "rkube bench api --quick (smoke)"
cargo run --quiet -p rkube -- bench api --quick --dir "$bench_dir"

step "rkube bench cluster --quick (smoke)"
cargo run --quiet -p rkube -- bench cluster --quick --dir "$bench_dir"

step "rkube bench node --quick (smoke)"
cargo run --quiet -p rkube -- bench node --quick --dir "$bench_dir"

step "rkube bench net --quick (smoke)"
cargo run --quiet -p rkube -- bench net --quick --dir "$bench_dir"

step "all checks passed"
