#!/usr/bin/env bash
# Runs the README's commands that CI can run, as written, so the quick start cannot rot.
#
# Every ```sh block in README.md's "Quick start" section must be preceded (directly, on the
# line before the fence) by one marker:
#   <!-- ci: run -->                     run here; the block must exit 0
#   <!-- ci: run; expect: TEXT -->       run here; exit 0 and its output must contain TEXT
#   <!-- ci: node -->                    needs a Kubernetes: run against the local node that
#                                        scripts/test.sh starts (README_NODE=1, KUBECONFIG set);
#                                        run standalone without README_NODE=1 they are listed, not run
#   <!-- ci: node; expect: TEXT -->      the same, with an expected output
#   <!-- ci: cluster -->                 needs Docker/kind (not on the CI machine): listed, not run
#   <!-- ci: skip: REASON -->            not run here, for the stated reason
# Marked blocks elsewhere in the README are run too. An unmarked block in the quick start,
# an unknown marker, a failing block or a missing expectation is a failure.
#
# Each run block executes with `bash -euo pipefail` in one scratch directory shared by the
# blocks (files a block writes are there for the next), with the built `mysql-operator` first
# on PATH. `charts/`, `examples/`, `images/` and `docs/` are symlinks to the repository;
# `plugins/` is a copy of its sources whose `target/` is a persistent cache, so a block that
# builds a module writes nowhere in the repository.
#
# Usage: scripts/test-readme.sh          (builds the binary with cargo)
#        MYSQL_OPERATOR_BIN=path scripts/test-readme.sh
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
repo=$PWD
readme=${README:-README.md}
block_timeout=${BLOCK_TIMEOUT:-900}

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
finish() {
  echo
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- tools ------------------------------------------------------------------------------------
missing=()
for tool in python3 helm kubectl timeout cargo rustup; do command -v "$tool" >/dev/null || missing+=("$tool"); done
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadbd)
if [ ${#missing[@]} -gt 0 ]; then
  fail tools "missing ${missing[*]}: run bash scripts/setup.sh"
  finish
fi

# --- the binary -------------------------------------------------------------------------------
bin=${MYSQL_OPERATOR_BIN:-}
if [ -z "$bin" ]; then
  if cargo build --locked -q -p mysql-operator --bin mysql-operator 2>"$work/build.err"; then
    bin="$CARGO_TARGET_DIR/debug/mysql-operator"
  else
    fail "build mysql-operator" "$(tail -5 "$work/build.err" | tr '\n' ' ')"
    finish
  fi
fi
mkdir -p "$work/bin"
ln -s "$(readlink -f "$bin")" "$work/bin/mysql-operator"

# --- extract the blocks -----------------------------------------------------------------------
# One file per block (NNN.sh) and an index line per block: NNN<TAB>kind<TAB>line<TAB>arg.
python3 - "$readme" "$work/blocks" >"$work/index" <<'PY' || { fail "README parse" "$(cat "$work/index")"; finish; }
import os
import re
import sys

path, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
lines = open(path).read().split("\n")
marker = re.compile(r"^<!--\s*ci:\s*(.*?)\s*-->$")
section = None
n = 0
errors = []
i = 0
while i < len(lines):
    line = lines[i]
    if line.startswith("## "):
        section = line[3:].strip()
    if re.match(r"^```(sh|bash|console|shell)\s*$", line):
        start = i + 1
        j = start
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        body = "\n".join(lines[start:j]) + "\n"
        prev = lines[i - 1].strip() if i > 0 else ""
        m = marker.match(prev)
        in_quick_start = (section or "").lower().startswith("quick start")
        if m is None:
            if in_quick_start:
                errors.append(f"line {i + 1}: quick-start block without a <!-- ci: ... --> marker")
            i = j + 1
            continue
        spec = m.group(1)
        if spec == "run":
            kind, arg = "run", ""
        elif spec.startswith("run; expect:"):
            kind, arg = "run", spec[len("run; expect:"):].strip()
        elif spec == "node":
            kind, arg = "node", ""
        elif spec.startswith("node; expect:"):
            kind, arg = "node", spec[len("node; expect:"):].strip()
        elif spec == "cluster":
            kind, arg = "cluster", ""
        elif spec.startswith("skip:") and spec[5:].strip():
            kind, arg = "skip", spec[5:].strip()
        else:
            errors.append(f"line {i}: unknown marker {prev!r}")
            i = j + 1
            continue
        n += 1
        with open(os.path.join(out, f"{n:03}.sh"), "w") as f:
            f.write(body)
        print(f"{n:03}\t{kind}\t{start}\t{arg}")
        i = j + 1
        continue
    i += 1
if errors:
    print("; ".join(errors))
    sys.exit(1)
PY

runs=$(awk -F'\t' '$2 == "run"' "$work/index" | wc -l)
if [ "$runs" -eq 0 ]; then
  fail "README has CI blocks" "no <!-- ci: run --> block found in $readme"
  finish
fi
pass "README parsed: $(wc -l <"$work/index") marked blocks, $runs run here"

# --- the scratch directory the blocks run in --------------------------------------------------
sandbox="$work/readme"
mkdir -p "$sandbox"
for d in charts examples images docs wit scripts tests; do ln -s "$repo/$d" "$sandbox/$d"; done
plugin_cache="$CARGO_TARGET_DIR/readme-plugins"
mkdir -p "$plugin_cache"
(cd "$repo" && tar --exclude=./target -cf - -C plugins .) | (mkdir -p "$sandbox/plugins" && tar -xf - -C "$sandbox/plugins")
ln -s "$plugin_cache" "$sandbox/plugins/target"

# --- run ----------------------------------------------------------------------------------------
while IFS=$'\t' read -r id kind line arg; do
  first=$(grep -v '^\s*#' "$work/blocks/$id.sh" | grep -m1 -v '^\s*$')
  name="README line $line: ${first:0:90}"
  case "$kind" in
    cluster) echo "---- needs Docker/kind, not run here: $name"; continue ;;
    node)
      if [ "${README_NODE:-0}" != 1 ]; then
        echo "---- needs a Kubernetes (README_NODE=1 after scripts/local-cluster.sh up), not run now: $name"
        continue
      fi
      ;;
    skip) echo "---- not run here ($arg): $name"; continue ;;
  esac
  start=$(date +%s.%N)
  out=$(cd "$sandbox" && env -u CARGO_TARGET_DIR PATH="$work/bin:$PATH" \
    timeout --kill-after=10 "$block_timeout" bash -euo pipefail "$work/blocks/$id.sh" 2>&1)
  rc=$?
  secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
  printf '%s\n' "$out" >"$work/blocks/$id.out"
  if [ $rc -ne 0 ]; then
    fail "$name" "exit $rc after ${secs}s; last lines: $(tail -15 <<<"$out")"
  elif [ -n "$arg" ] && ! grep -qF -- "$arg" <<<"$out"; then
    fail "$name" "exit 0 but the output lacks '$arg'; last lines: $(tail -15 <<<"$out")"
  else
    pass "$name (${secs}s${arg:+, output shows '$arg'})"
  fi
done <"$work/index"

finish
