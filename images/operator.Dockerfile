# syntax=docker/dockerfile:1.7
# The operator image: `mysql-operator` alone on distroless (glibc, CA certificates, no
# shell, no package manager), running as the distroless nonroot user 65532 — the UID the
# chart's securityContext expects. Used by the operator Deployment (`controller`) and by
# backup Jobs (`backup`). Build from the repository root (see images/README.md):
#   docker build -f images/operator.Dockerfile -t mysql-operator:dev .

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# aws-lc-sys (rustls provider) builds with the stock gcc: no cmake or clang needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mysql-operator --bin mysql-operator \
 && install -D -m 0755 target/release/mysql-operator /out/mysql-operator \
 && /out/mysql-operator version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mysql-operator /usr/local/bin/mysql-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mysql-operator"]
CMD ["controller"]
