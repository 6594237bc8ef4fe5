#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine (as root) and runs the whole suite:
# formatting, lints, unit tests, the tests against real mariadbd, mariabackup, an S3 server
# and Wasm modules built from plugins/, then the e2e suite and the README's cluster blocks
# on a real single-node Kubernetes that this script starts on this machine and tears down
# again (scripts/local-cluster.sh; images built by scripts/build-images.sh).
#
# E2E=0 skips nothing silently: it is refused (the e2e layer is part of the suite).
# KEEP_NODE=1 leaves the node running at the end (for inspection; `scripts/local-cluster.sh down`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The node's images need Debian base trees (network-bound, ~1 min): made while cargo compiles.
base_log=$(mktemp)
bash scripts/build-images.sh --bases-only >"$base_log" 2>&1 &
bases_pid=$!

echo "==> cargo test"
# The e2e binary needs a cluster: it runs below, once the node is up (its helpers' unit
# tests run here).
cargo test --workspace --locked --no-fail-fast --exclude mysql-operator-e2e
cargo test --locked -p mysql-operator-e2e --lib
echo "==> plugin SDK (its own wasm-guest workspace)"
(cd plugins && cargo test --locked -p mysql-operator-policy-sdk)
echo "==> chart"
bash scripts/test-chart.sh  # chart: helm lint/template, kubernetes-validate, bad values, CRDs == `mysql-operator crd`

echo "==> a real single-node Kubernetes (scripts/local-cluster.sh up)"
if ! wait "$bases_pid"; then cat "$base_log"; echo "building the Debian base trees failed"; exit 1; fi
cat "$base_log"
node_down() {
  local rc=$?
  if [ "${KEEP_NODE:-0}" = 1 ]; then echo "KEEP_NODE=1: the node keeps running"; return $rc; fi
  echo "==> scripts/local-cluster.sh down"
  bash scripts/local-cluster.sh down --keep-images || rc=1
  return $rc
}
trap node_down EXIT
bash scripts/local-cluster.sh up
eval "$(bash scripts/local-cluster.sh env)"
echo "==> images (scripts/build-images.sh)"
bash scripts/build-images.sh
echo "==> e2e suite (tests/e2e) against $KUBECONFIG"
E2E_FIGURES_FILE=${E2E_FIGURES_FILE:-$CARGO_TARGET_DIR/e2e-figures.tsv} \
  cargo test --locked -p mysql-operator-e2e --test e2e
echo "==> the operator at scale on this API server (tests/e2e/tests/scale.rs, 200 clusters)"
SCALE_CLUSTERS=200 cargo test --locked -p mysql-operator-e2e --test scale
echo "==> README commands (incl. the blocks that need a cluster, on this node)"
README_NODE=1 bash scripts/test-readme.sh  # the README blocks marked <!-- ci: run --> / <!-- ci: node -->, run as written
