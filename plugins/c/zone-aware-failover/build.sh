#!/usr/bin/env bash
# Builds the C failover policy into a component: build.sh [OUT.wasm]
# Bindings from plugins/tools/wit-c-gen (the `wit-bindgen c` generator as a small host
# tool, built once into the plugins target dir), compiled by zig cc (PyPI `ziglang`) for
# wasm32-wasi as a reactor, wrapped by `wasm-tools component new`: a few KB, imports only
# the policy ABI's `log`.
set -euo pipefail
out=$(realpath -m "${1:-zone_aware_failover.wasm}")
here=$(cd "$(dirname "$0")" && pwd)
plugins=$(cd "$here/../.." && pwd)
target="${CARGO_TARGET_DIR:-$plugins/../target}/wasm-plugins"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
(cd "$plugins" && env -u RUSTFLAGS -u CARGO_BUILD_TARGET CARGO_TARGET_DIR="$target" \
  cargo build --quiet --locked -p wit-c-gen)
"$target/debug/wit-c-gen" "$plugins/../wit" failover-candidate-policy "$gen" >/dev/null
python3 -m ziglang cc -target wasm32-wasi -Os -mexec-model=reactor -I "$gen" -I "$here" \
  "$here/policy.c" "$here/glue.c" "$gen/failover_candidate_policy.c" \
  "$gen/failover_candidate_policy_component_type.o" \
  -Wl,--initial-memory=131072 -Wl,-z,stack-size=32768 -Wl,--strip-debug -o "$gen/core.wasm"
wasm-tools component new "$gen/core.wasm" -o "$out"
