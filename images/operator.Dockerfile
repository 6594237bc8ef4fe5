# syntax=docker/dockerfile:1.7
# The operator image: `mysql-operator` alone on distroless (glibc, CA certificates, no
# shell, no package manager), running as the distroless nonroot user 65532 — the UID the
# chart's securityContext expects. Used by the operator Deployment (`controller`) and by
# backup Jobs (`backup`). Build from the repository root (see images/README.md):
#   docker build -f images/operator.Dockerfile -t mysql-operator:dev .
# CI (scripts/build-images.sh, buildah) skips the Rust stage: it passes
# --build-arg BINARY_IMAGE=<an image holding a prebuilt binary at /out/mysql-operator>.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# Where /out/mysql-operator comes from: the `build` stage below, or a prebuilt-binary image.
ARG BINARY_IMAGE=build

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# aws-lc-sys (rustls provider) builds with the stock gcc: no cmake or clang needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mysql-operator --bin mysql-operator \
 && install -D -m 0755 target/release/mysql-operator /out/mysql-operator \
 && /out/mysql-operator version

FROM ${BINARY_IMAGE} AS binary

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=binary /out/mysql-operator /usr/local/bin/mysql-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mysql-operator"]
CMD ["controller"]
