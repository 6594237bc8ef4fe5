#!/usr/bin/env bash
# Our backup and restore side by side with `mariabackup | gzip|zstd | rclone rcat` and
# `rclone cat | gzip -d|zstd -d | mbstream -x` + prepare, on the same data and the same
# local S3 server (SeaweedFS), in one run; prints MiB/s, wall time, peak RSS and the
# ratio ours / best standard pipeline. Installs nothing: run `bash scripts/setup.sh` first.
#
#   bash scripts/bench-backup.sh            # BACKUP_BENCH_ROWS, BACKUP_BENCH_ROUNDS tune it
#
# The bench profile's thin LTO is switched off (like docs/backup.md's figures) so the build
# takes minutes, not tens of minutes, on 2 cores; the hot loops are in optimised deps.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
missing=()
for tool in rclone zstd gzip mariabackup mbstream weed; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-backup: not installed: ${missing[*]}" >&2
  for tool in "${missing[@]}"; do
    case "$tool" in
      rclone) echo "  rclone: apt-get install rclone (or bash scripts/setup.sh)" >&2 ;;
      zstd) echo "  zstd: apt-get install zstd (or bash scripts/setup.sh)" >&2 ;;
      gzip) echo "  gzip: apt-get install gzip" >&2 ;;
      mariabackup | mbstream) echo "  $tool: apt-get install mariadb-backup (or bash scripts/setup.sh)" >&2 ;;
      weed) echo "  weed (SeaweedFS): bash scripts/setup.sh" >&2 ;;
    esac
  done
  exit 1
fi
cd "$here/.."
export CARGO_PROFILE_BENCH_LTO="${CARGO_PROFILE_BENCH_LTO:-false}"
export CARGO_PROFILE_BENCH_CODEGEN_UNITS="${CARGO_PROFILE_BENCH_CODEGEN_UNITS:-16}"
exec cargo bench --locked -p mysql-operator-agent --bench backup_vs_rclone "$@"
