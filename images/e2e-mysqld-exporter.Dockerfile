# Test-only stand-in for prom/mysqld-exporter:v0.15.1 (the MySQL pods' metrics-exporter
# container) on nodes without a registry: Debian bookworm's prometheus-mysqld-exporter
# (0.14) behind a shim that accepts the 0.15 flags the pods pass. Point the operator at it
# with MYSQL_OPERATOR_METRICS_EXPORTER_IMAGE=mysql-operator-e2e-mysqld-exporter:dev
# (controller flag --metrics-exporter-image). Build from the repository root:
#   docker build -f images/e2e-mysqld-exporter.Dockerfile -t mysql-operator-e2e-mysqld-exporter:dev .
FROM docker.io/library/debian:bookworm-slim
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends prometheus-mysqld-exporter; \
    rm -rf /var/lib/apt/lists/*; \
    prometheus-mysqld-exporter --version
COPY images/e2e-mysqld-exporter.sh /usr/local/bin/mysqld-exporter
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/mysqld-exporter"]
