#!/usr/bin/env bash
# Builds the Python failover policy into a component: build.sh [OUT.wasm]
# componentize-py bundles CPython (~18 MB, ~6 MB gzip): ship it split across ConfigMaps
# (`mysql-operator plugin configmap` writes the parts). The component imports WASI, which
# the host answers with deny-by-default stubs (stdout/stderr go to the operator's log).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
out=$(realpath -m "${1:-zone_aware_failover.wasm}")
cd "$(dirname "$0")"
componentize-py -q -d ../../../wit -w failover-candidate-policy componentize app -o "$out"
