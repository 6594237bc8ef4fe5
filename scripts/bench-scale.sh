#!/usr/bin/env bash
# The operator at scale on the real API server (issue 15): N MysqlClusters (default 1 000)
# whose pods never run and whose pod names resolve nowhere; prints the first and steady
# pass, RSS, CPU, API requests, change → applied StatefulSet latency and SIGTERM → exit.
# Needs the local node (`bash scripts/local-cluster.sh up`) or KUBECONFIG, root (the
# operator runs in its own mount namespace with a silent resolv.conf), and no other
# mysql-operator installed in that cluster. CI runs the same test with 200 clusters.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
[ -n "${KUBECONFIG:-}" ] || eval "$(bash scripts/local-cluster.sh env)"
cargo build --locked -p mysql-operator --bin mysql-operator
SCALE_CLUSTERS=${SCALE_CLUSTERS:-1000} cargo test --locked -p mysql-operator-e2e --test scale
