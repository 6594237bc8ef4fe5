#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine (as root) and runs the whole suite:
# formatting, lints, unit tests, and the end-to-end tests against real mariadbd,
# mariabackup, an S3 server and Wasm modules built from plugins/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast
echo "==> plugin SDK (its own wasm-guest workspace)"
(cd plugins && cargo test --locked -p mysql-operator-policy-sdk)
echo "==> chart"
bash scripts/test-chart.sh  # chart: helm lint/template, kubernetes-validate, bad values, CRDs == `mysql-operator crd`
echo "==> README commands"
bash scripts/test-readme.sh  # the README blocks marked <!-- ci: run --> (sandbox, CLI, chart rendering), run as written
