# Sourced by scripts: where the test tools live and where cargo builds.
export MYSQL_OPERATOR_TOOLS="${MYSQL_OPERATOR_TOOLS:-$HOME/.local/share/mysql-operator-tools}"
pybin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
export PATH="$MYSQL_OPERATOR_TOOLS/bin:${pybin:+$pybin:}$HOME/.cargo/bin:$PATH"
# Keep build output outside the clone so a reused machine rebuilds only what changed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mysql-operator/target}"
export HELM_CACHE_HOME="${HELM_CACHE_HOME:-$HOME/.cache/mysql-operator/helm/cache}"
export HELM_CONFIG_HOME="${HELM_CONFIG_HOME:-$HOME/.cache/mysql-operator/helm/config}"
export HELM_DATA_HOME="${HELM_DATA_HOME:-$HOME/.cache/mysql-operator/helm/data}"
