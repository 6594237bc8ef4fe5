#!/usr/bin/env bash
# Builds the JavaScript failover policy into a component: build.sh [OUT.wasm]
# QuickJS (componentize-qjs, ~1.1 MB, ~450 KB gzip: fits one ConfigMap). WASI imports are
# stubbed out, so the module imports only the policy ABI; log with the `log` import.
set -euo pipefail
out=$(realpath -m "${1:-zone_aware_failover.wasm}")
cd "$(dirname "$0")"
componentize-qjs --wit ../../../wit --world failover-candidate-policy --js policy.js \
  --opt-size --sync --stub-wasi -o "$out" >/dev/null
