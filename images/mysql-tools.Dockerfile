# syntax=docker/dockerfile:1.7
# The MySQL pod's tooling image: a server (mysqld or mariadbd), the matching physical
# backup tool (mariabackup/mbstream or xtrabackup/xbstream) and `mysql-operator`, for the
# `init` container (clone from a peer or a bucket, prepare, render config) and the `agent`
# sidecar (health, clone/backup streams). The backup tool must match the server's version,
# hence one image per flavour and server line. Build from the repository root:
#   docker build -f images/mysql-tools.Dockerfile --target mariadb -t mysql-tools:dev-mariadb10.11 .
#   docker build -f images/mysql-tools.Dockerfile --target percona -t mysql-tools:dev-percona8.0 .
#   docker build -f images/mysql-tools.Dockerfile --target mariadb-debian -t mysql-tools:dev-mariadb10.11 .
# CI (scripts/build-images.sh, buildah) skips the Rust stage: it passes
# --build-arg BINARY_IMAGE=<an image holding a prebuilt binary at /out/mysql-operator>.

ARG RUST_VERSION=1.95
ARG MARIADB_VERSION=10.11
ARG PERCONA_SERIES=ps-80
# Where /out/mysql-operator comes from: the `build` stage below, or a prebuilt-binary image.
ARG BINARY_IMAGE=build

# A static (musl) binary: it runs whatever glibc the server's base image has.
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    triple="$(uname -m)-unknown-linux-musl" \
 && cargo build --release --locked --target "$triple" -p mysql-operator --bin mysql-operator \
 && install -D -m 0755 "target/$triple/release/mysql-operator" /out/mysql-operator

FROM ${BINARY_IMAGE} AS binary

# MariaDB: the official image already ships mariadbd, mariadb-backup (mariabackup) and
# mbstream of the same release. Runs as its `mysql` user (UID/GID 999).
FROM docker.io/library/mariadb:${MARIADB_VERSION} AS mariadb
COPY --from=binary /out/mysql-operator /usr/local/bin/mysql-operator
RUN mysql-operator version && mariadbd --version && mariadb-backup --version && mbstream --help >/dev/null
USER 999:999
ENTRYPOINT ["/usr/local/bin/mysql-operator"]
CMD ["agent"]

# MySQL (Percona Server 8.0): server and XtraBackup 8.0 from Percona's apt repository.
# Runs as the `mysql` user the packages create (UID printed at build time).
FROM docker.io/library/debian:bookworm-slim AS percona
ARG PERCONA_SERIES
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl gnupg lsb-release; \
    curl -fsSLo /tmp/percona-release.deb https://repo.percona.com/apt/percona-release_latest.bookworm_all.deb; \
    apt-get install -y /tmp/percona-release.deb; \
    percona-release enable-only "${PERCONA_SERIES}" release; \
    percona-release enable tools release; \
    apt-get update; \
    apt-get install -y --no-install-recommends percona-server-server percona-xtrabackup-80 zstd; \
    apt-get purge -y curl gnupg lsb-release; apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/* /tmp/percona-release.deb /var/lib/mysql/*; \
    id mysql
COPY --from=binary /out/mysql-operator /usr/local/bin/mysql-operator
RUN mysql-operator version && mysqld --version && xtrabackup --version && xbstream --version
USER mysql
ENTRYPOINT ["/usr/local/bin/mysql-operator"]
CMD ["agent"]

# MariaDB from Debian: bookworm's mariadb-server/-backup/-client (MariaDB 10.11), for nodes
# that build their images from Debian packages only (the CI node: scripts/build-images.sh).
# The `mysql` user is created first with UID/GID 999, as in the official image and as the
# pods' runAsUser/fsGroup expect; Debian's package would otherwise pick a dynamic system UID.
FROM docker.io/library/debian:bookworm-slim AS mariadb-debian
RUN set -eux; \
    groupadd --system --gid 999 mysql; \
    useradd --system --uid 999 --gid 999 --home-dir /var/lib/mysql --no-create-home \
      --shell /usr/sbin/nologin mysql; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends mariadb-server mariadb-backup mariadb-client ca-certificates; \
    rm -rf /var/lib/apt/lists/* /var/lib/mysql/*; \
    mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld /var/lib/mysql; \
    test "$(id -u mysql):$(id -g mysql)" = 999:999
COPY --from=binary /out/mysql-operator /usr/local/bin/mysql-operator
RUN mysql-operator version && mariadbd --version && mariadb-backup --version && mbstream --help >/dev/null
USER 999:999
ENTRYPOINT ["/usr/local/bin/mysql-operator"]
CMD ["agent"]
