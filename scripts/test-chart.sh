#!/usr/bin/env bash
# Chart tests for charts/mysql-operator: helm lint; helm template with the default values,
# the presslabs values file (../shared/examples/values.yaml, verbatim) and a values file
# using every option; every rendered manifest validated with `kubernetes-validate --strict`
# against the bundled Kubernetes schemas (offline); structural checks (security context,
# probes, RBAC rules equal to `mysql-operator rbac` (the controller's code), Role vs ClusterRole, ServiceMonitor
# selects the metrics Service); bad values that must fail with a clear message; and the
# rendered CRDs compared with `mysql-operator crd` output.
#
# Usage: scripts/test-chart.sh            (builds the binary with cargo)
#        MYSQL_OPERATOR_BIN=path scripts/test-chart.sh
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

chart=${CHART_DIR:-charts/mysql-operator}
presslabs_values=${PRESSLABS_VALUES:-../shared/examples/values.yaml}
[ -f "$presslabs_values" ] || presslabs_values=/work/shared/examples/values.yaml
k8s_version=${K8S_VERSION:-1.33}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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

# --- tools -------------------------------------------------------------------------------
missing=()
command -v helm >/dev/null || missing+=(helm)
command -v kubernetes-validate >/dev/null || missing+=(kubernetes-validate)
python3 -c 'import yaml, jsonschema' 2>/dev/null || missing+=("python3 modules yaml+jsonschema")
if [ ${#missing[@]} -gt 0 ]; then
  fail tools "missing ${missing[*]}: run bash scripts/setup.sh"
  finish
fi
if [ ! -f "$presslabs_values" ]; then
  fail presslabs-values "the presslabs values file ../shared/examples/values.yaml is missing"
fi

# --- python checks (structure, RBAC, CRD comparison) --------------------------------------
cat >"$work/checks.py" <<'PY'
"""Structural checks on rendered manifests. Prints PASS/FAIL lines, one per check."""
import json
import os
import sys

import jsonschema
import yaml

results = []


def check(name, ok, why=""):
    results.append((name, bool(ok), why))


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    if len(found) != 1:
        raise ValueError(f"expected exactly one {kind}, found {len(found)}")
    return found[0]


# What `mysql-operator controller` needs: `mysql-operator rbac` output (the controller's
# `rbac::required_rules()`), as (apiGroup, resource) -> verbs. The chart's rules must equal
# it exactly: nothing missing, nothing extra. Leases go to the leader-election Role only.
LEASE_GROUP = "coordination.k8s.io"


def code_needs():
    path = os.environ.get("RBAC_JSON", "")
    if not path:
        raise ValueError("no `mysql-operator rbac` output (see the 'mysql-operator rbac runs' check)")
    with open(path) as f:
        rules = json.load(f)
    needs = {}
    for r in rules:
        needs.setdefault((r["apiGroup"], r["resource"]), set()).update(r["verbs"])
    main = {k: v for k, v in needs.items() if k[0] != LEASE_GROUP}
    leases = {k: v for k, v in needs.items() if k[0] == LEASE_GROUP}
    return main, leases


def flatten(rules):
    got = {}
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                got.setdefault((g, res), set()).update(r.get("verbs", []))
    return got


def diff(got, want):
    out = []
    for k in sorted(set(got) | set(want)):
        extra = got.get(k, set()) - want.get(k, set())
        lack = want.get(k, set()) - got.get(k, set())
        if extra:
            out.append(f"{k} has extra {sorted(extra)}")
        if lack:
            out.append(f"{k} lacks {sorted(lack)}")
    return "; ".join(out)


def subset(small, big):
    return all(big.get(k) == v for k, v in (small or {}).items())


def common(docs, ns):
    keys = [(d.get("kind"), d["metadata"].get("namespace"), d["metadata"].get("name")) for d in docs]
    dups = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    check(f"{len(keys)} documents, each object rendered once", not dups, f"rendered twice: {dups}")
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    check("deployment selector matches pod labels",
          subset(dep["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]))
    psc = spec.get("securityContext", {})
    check("pod runs as non-root", psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0)
    check("pod seccomp RuntimeDefault", psc.get("seccompProfile", {}).get("type") == "RuntimeDefault")
    (c,) = spec["containers"]
    sc = c.get("securityContext", {})
    check("container read-only root filesystem", sc.get("readOnlyRootFilesystem") is True)
    check("container no privilege escalation", sc.get("allowPrivilegeEscalation") is False)
    check("container drops ALL capabilities", "ALL" in sc.get("capabilities", {}).get("drop", []))
    check("container seccomp RuntimeDefault", sc.get("seccompProfile", {}).get("type") == "RuntimeDefault")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    lp, rp = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
    check("liveness probe /healthz on the health port", lp["path"] == "/healthz" and lp["port"] in ports)
    check("readiness probe /readyz on the health port", rp["path"] == "/readyz" and rp["port"] in ports)
    args = c["args"]
    check("runs `mysql-operator controller`", args[0] == "controller", f"args[0] is {args[0]!r}")
    argv = dict(a[2:].split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)
    check("--metrics-port is the metrics container port",
          argv.get("metrics-port") == str(ports.get("metrics")), f"{argv.get('metrics-port')} vs {ports}")
    check("--health-port is the probes' port",
          argv.get("health-port") == str(ports.get("health")), f"{argv.get('health-port')} vs {ports}")
    check("--leader-elect is passed", "leader-elect" in argv)
    if argv.get("leader-elect") == "true":
        check("leader election namespace is the release namespace", argv.get("leader-election-namespace") == ns)
    check("resources set", bool(c.get("resources", {}).get("requests")))
    svc = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    check("one metrics Service", len(svc) == 1)
    if svc:
        s = svc[0]
        check("metrics Service selects the operator pods", subset(s["spec"]["selector"], pod["metadata"]["labels"]))
        check("metrics Service targets the metrics port",
              all(p["targetPort"] in ports for p in s["spec"]["ports"]))
    sa = by_kind(docs, "ServiceAccount")
    if sa:
        check("pod uses the chart's ServiceAccount", spec["serviceAccountName"] == sa[0]["metadata"]["name"])
    # RBAC: no wildcards anywhere, main rules == `mysql-operator rbac`, leases only in the release namespace.
    roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
    for r in roles:
        wild = [f for rule in r.get("rules", []) for f in ("apiGroups", "resources", "verbs") if "*" in rule.get(f, [])]
        check(f"no wildcard in {r['kind']}/{r['metadata']['name']}", not wild, f"'*' in {wild}")
    main = [r for r in roles if not r["metadata"]["name"].endswith("-leader-election")]
    check("one main (Cluster)Role", len(main) == 1, f"found {len(main)}")
    needs, lease_needs = code_needs()
    if main:
        got = flatten(main[0]["rules"])
        want = dict(needs)
        if argv.get("cleanup-pvcs") == "false":  # no PVC cleanup, no permission to delete PVCs
            want.pop(("", "persistentvolumeclaims"), None)
        check("RBAC rules equal `mysql-operator rbac` (the controller's code)", got == want, diff(got, want))
    le = [r for r in roles if r["metadata"]["name"].endswith("-leader-election")]
    if argv.get("leader-elect") == "true":
        check("leader-election Role in the release namespace",
              len(le) == 1 and le[0]["kind"] == "Role" and le[0]["metadata"]["namespace"] == ns)
        if le:
            got = flatten(le[0]["rules"])
            check("`mysql-operator rbac` names the Leases leader election uses", bool(lease_needs))
            check("leader-election rules are exactly the code's Lease rules", got == lease_needs, diff(got, lease_needs))
    for b in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        ref = b["roleRef"]
        check(f"{b['kind']}/{b['metadata']['name']} refers to a rendered role",
              any(r["kind"] == ref["kind"] and r["metadata"]["name"] == ref["name"] for r in roles))
        check(f"{b['kind']}/{b['metadata']['name']} binds the operator's ServiceAccount in {ns}",
              b["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": ns}])
    return dep, c, argv


def case_default(docs, ns):
    dep, c, argv = common(docs, ns)
    check("ClusterRole (all namespaces)", len(by_kind(docs, "ClusterRole")) == 1
          and len(by_kind(docs, "ClusterRoleBinding")) == 1)
    check("no --namespace", "namespace" not in argv)
    check("no ServiceMonitor", not by_kind(docs, "ServiceMonitor"))
    check("no PDB with one replica", not by_kind(docs, "PodDisruptionBudget"))
    check("leader election on", argv.get("leader-elect") == "true")
    check("image from appVersion", c["image"].startswith("ghcr.io/mysql-operator/mysql-operator:"))
    check("four CRDs rendered", len(by_kind(docs, "CustomResourceDefinition")) == 4,
          f"found {len(by_kind(docs, 'CustomResourceDefinition'))}")


def case_presslabs(docs, ns):
    dep, c, argv = common(docs, ns)
    check("replicas 1", dep["spec"]["replicas"] == 1)
    check("image verbatim", c["image"] == "registry.example.com/mysql-operator:custom", c["image"])
    check("sidecarImage passed to the controller",
          argv.get("sidecar-image") == "registry.example.com/mysql-operator-sidecar:custom", argv.get("sidecar-image"))
    check("imagePullPolicy", c["imagePullPolicy"] == "IfNotPresent")
    check("null imagePullSecrets renders none", "imagePullSecrets" not in dep["spec"]["template"]["spec"])
    check("null watchNamespace watches all (ClusterRole, no --namespace)",
          "namespace" not in argv and len(by_kind(docs, "ClusterRole")) == 1 and not
          [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-leader-election")])
    check("serviceMonitor disabled", not by_kind(docs, "ServiceMonitor"))
    check("installCRDs renders four CRDs", len(by_kind(docs, "CustomResourceDefinition")) == 4,
          f"found {len(by_kind(docs, 'CustomResourceDefinition'))}")


def case_full(docs, ns, values_path):
    with open(values_path) as f:
        values = yaml.safe_load(f)
    dep, c, argv = common(docs, ns)
    wn = values["watchNamespace"]
    check("no ClusterRole with watchNamespace", not by_kind(docs, "ClusterRole")
          and not by_kind(docs, "ClusterRoleBinding"))
    main = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    check("Role in the watched namespace", len(main) == 1 and main[0]["metadata"]["namespace"] == wn)
    check("--namespace is the watched namespace", argv.get("namespace") == wn)
    check("no CRDs with installCRDs=false", not by_kind(docs, "CustomResourceDefinition"))
    check("imagePullSecrets", dep["spec"]["template"]["spec"].get("imagePullSecrets") == values["imagePullSecrets"])
    aff = dep["spec"]["template"]["spec"].get("affinity", {})
    check("presslabs nodeAffinity becomes affinity.nodeAffinity", aff.get("nodeAffinity") == values["nodeAffinity"])
    pdb = by_kind(docs, "PodDisruptionBudget")
    check("PDB with replicas > 1", len(pdb) == 1 and subset(pdb[0]["spec"]["selector"]["matchLabels"],
                                                                 dep["spec"]["template"]["metadata"]["labels"]))
    all_sm = by_kind(docs, "ServiceMonitor")
    sm = [m for m in all_sm if not m["metadata"]["name"].endswith("-mysql-clusters")]
    svc = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    check("one operator ServiceMonitor", len(sm) == 1)
    csm = [m for m in all_sm if m["metadata"]["name"].endswith("-mysql-clusters")]
    check("one clusters ServiceMonitor (mysqlClustersGlobalServiceMonitor)", len(csm) == 1)
    if csm:
        # What the operator renders on each namespace's headless `mysql` Service (crates/render).
        headless = {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/managed-by": "mysql.presslabs.org"}
        spec = csm[0]["spec"]
        check("clusters ServiceMonitor selects the clusters' headless Service",
              spec["selector"]["matchLabels"] == headless and spec["namespaceSelector"] == {"any": True}, str(spec))
        check("clusters ServiceMonitor scrapes the exporter port",
              [(e["port"], e["path"]) for e in spec["endpoints"]] == [("prometheus", "/metrics")])
    if sm and svc:
        sm, svc = sm[0], svc[0]
        check("ServiceMonitor selects the metrics Service",
              subset(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
              and ns in sm["spec"]["namespaceSelector"]["matchNames"])
        check("ServiceMonitor scrapes a Service port",
              all(e["port"] in [p["name"] for p in svc["spec"]["ports"]] for e in sm["spec"]["endpoints"]))
        check("ServiceMonitor additionalLabels",
              subset(values["serviceMonitor"]["additionalLabels"], sm["metadata"]["labels"]))
    cms = [m for m in by_kind(docs, "ConfigMap") if m["metadata"]["name"].endswith("-default-plugins")]
    check("default-plugins ConfigMap", len(cms) == 1)
    if cms:
        (key, text), = cms[0]["data"].items()
        check("default-plugins ConfigMap holds defaultPlugins", yaml.safe_load(text) == values["defaultPlugins"])
        path = argv.get("default-plugins", "")
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        mounted = [m for m in c["volumeMounts"]
                   if vols.get(m["name"], {}).get("configMap", {}).get("name") == cms[0]["metadata"]["name"]]
        check("--default-plugins points into the mounted ConfigMap",
              len(mounted) == 1 and path == mounted[0]["mountPath"].rstrip("/") + "/" + key, path)
    check("extraArgs passed", all(a in c["args"] for a in values["extraArgs"]))
    check("cleanupPVCs: false passed and PVC rule dropped", argv.get("cleanup-pvcs") == "false"
          and ("", "persistentvolumeclaims") not in flatten(main[0]["rules"] if main else []))


def case_nocrd(docs, ns):
    check("installCRDs=false: no CRDs", not by_kind(docs, "CustomResourceDefinition"))


def crd_key(d):
    return d["metadata"]["name"]


def case_crds(rendered_path, crd_output_path, generated_path):
    rendered = sorted(by_kind(load(rendered_path), "CustomResourceDefinition"), key=crd_key)
    want = sorted(load(crd_output_path), key=crd_key)
    names = [crd_key(d) for d in want]
    check("`mysql-operator crd` prints the four presslabs CRDs",
          names == sorted(f"{k}.mysql.presslabs.org" for k in ("mysqlbackups", "mysqlclusters", "mysqldatabases", "mysqlusers")),
          f"got {names}")
    check("rendered CRDs equal `mysql-operator crd` output", rendered == want,
          "run: mysql-operator crd > charts/mysql-operator/generated/crds.yaml")
    with open(generated_path) as f, open(crd_output_path) as g:
        check("generated/crds.yaml is byte-for-byte `mysql-operator crd` output", f.read() == g.read(),
              "run: mysql-operator crd > charts/mysql-operator/generated/crds.yaml")


def case_plugins_vs_crd(crd_output_path, values_path, schema_path):
    """defaultPlugins must have the shape of spec.plugins: the example entries validate
    against the CRD's schema, and the chart schema names the same fields."""
    with open(values_path) as f:
        entries = yaml.safe_load(f)["defaultPlugins"]
    cluster = [d for d in load(crd_output_path) if d["spec"]["names"]["kind"] == "MysqlCluster"]
    if not cluster:
        check("CRD has MysqlCluster", False, "no MysqlCluster CRD in `mysql-operator crd` output")
        return
    version = next(v for v in cluster[0]["spec"]["versions"] if v["name"] == "v1alpha1")
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    item = spec.get("plugins", {}).get("items")
    check("CRD MysqlCluster has spec.plugins", item is not None, "spec.plugins is missing from the CRD")
    if item is None:
        return
    for i, e in enumerate(entries):
        errs = sorted(jsonschema.Draft7Validator(item).iter_errors(e), key=str)
        check(f"defaultPlugins[{i}] is a valid spec.plugins entry", not errs, "; ".join(e.message for e in errs))
    with open(schema_path) as f:
        ours = json.load(f)["properties"]["defaultPlugins"]["items"]["properties"]
    check("values.schema.json plugin fields equal the CRD's",
          set(ours) == set(item.get("properties", {})), f"chart {sorted(ours)} vs CRD {sorted(item.get('properties', {}))}")


mode = sys.argv[1]
try:
    if mode == "crds":
        case_crds(*sys.argv[2:5])
    elif mode == "plugins-vs-crd":
        case_plugins_vs_crd(*sys.argv[2:5])
    else:
        docs, ns = load(sys.argv[2]), sys.argv[3]
        if mode == "full":
            case_full(docs, ns, sys.argv[4])
        else:
            {"default": case_default, "presslabs": case_presslabs, "nocrd": case_nocrd}[mode](docs, ns)
except Exception as e:  # a malformed document is a failure, with the reason
    check(f"{mode}: checks ran", False, f"{type(e).__name__}: {e}")
for name, ok, why in results:
    print(f"PASS {mode}: {name}" if ok else f"FAIL {mode}: {name}: {why}")
PY

# Runs the python checks and counts their PASS/FAIL lines.
pycheck() {
  local out line
  out=$(python3 "$work/checks.py" "$@" 2>&1)
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) passed=$((passed + 1)); echo "$line" ;;
      "FAIL "*) failed=$((failed + 1)); echo "$line" ;;
      "") ;;
      *) failed=$((failed + 1)); echo "FAIL $1: $line" ;;
    esac
  done <<<"$out"
}

# Validates a rendered file: every document must pass --strict; a kind without a bundled
# schema is a failure unless it is a ServiceMonitor (checked structurally above).
validate() {
  local name=$1 file=$2 k8s_version=${3:-$k8s_version} out
  out=$(kubernetes-validate --strict -k "$k8s_version" "$file" 2>&1)
  local rc=$?
  local unknown
  unknown=$(grep "Couldn't find schema" <<<"$out" | grep -v 'kind ServiceMonitor ')
  if [ $rc -ne 0 ] || grep -q '^ERROR' <<<"$out" || [ -n "$unknown" ]; then
    fail "$name: kubernetes-validate --strict -k $k8s_version" "$(grep -E '^(ERROR|WARN)' <<<"$out" | head -5)"
  else
    pass "$name: kubernetes-validate --strict -k $k8s_version ($(grep -c 'passed for resource' <<<"$out") documents)"
  fi
}

# Renders with the given helm arguments into $work/<name>.yaml; a failure is reported.
render() {
  local name=$1
  shift
  if helm template t "$chart" --namespace mysql-operator "$@" >"$work/$name.yaml" 2>"$work/$name.err"; then
    pass "$name: helm template"
    return 0
  fi
  fail "$name: helm template" "$(tr '\n' ' ' <"$work/$name.err")"
  return 1
}

# --- the binary (CRD and RBAC comparisons) --------------------------------------------------
crd_out=""
bin=${MYSQL_OPERATOR_BIN:-}
if [ -z "$bin" ]; then
  if cargo build --locked -q -p mysql-operator --bin mysql-operator 2>"$work/build.err"; then
    bin="$CARGO_TARGET_DIR/debug/mysql-operator"
  else
    fail "build mysql-operator" "$(tail -5 "$work/build.err" | tr '\n' ' ')"
  fi
fi
if [ -n "$bin" ]; then
  if "$bin" crd >"$work/crd-output.yaml" 2>"$work/crd.err" && [ -s "$work/crd-output.yaml" ]; then
    pass "mysql-operator crd runs"
    crd_out="$work/crd-output.yaml"
  else
    fail "mysql-operator crd runs" "$bin crd failed: $(head -3 "$work/crd.err" | tr '\n' ' ')"
  fi
fi
# The controller's RBAC needs, from the code (`controller::rbac::required_rules()`).
if [ -n "$bin" ]; then
  if "$bin" rbac >"$work/rbac.json" 2>"$work/rbac.err" && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r and all({"apiGroup","resource","verbs"} <= set(x) for x in r)' "$work/rbac.json" 2>>"$work/rbac.err"; then
    pass "mysql-operator rbac runs ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/rbac.json") resources)"
    export RBAC_JSON="$work/rbac.json"
  else
    fail "mysql-operator rbac runs" "$bin rbac failed or printed no rules: $(head -3 "$work/rbac.err" | tr '\n' ' ')"
  fi
  if "$bin" rbac --format yaml --name t-mysql-operator --namespace mysql-operator >"$work/rbac.yaml" 2>"$work/rbac.err"; then
    validate "mysql-operator rbac --format yaml" "$work/rbac.yaml"
  else
    fail "mysql-operator rbac --format yaml" "$(head -3 "$work/rbac.err" | tr '\n' ' ')"
  fi
fi
generated="$chart/generated/crds.yaml"
if [ ! -s "$generated" ]; then
  fail "generated/crds.yaml exists" "$generated is missing: generate it with mysql-operator crd > $generated"
fi

# --- lint ------------------------------------------------------------------------------------
# (helm lint tolerates `fail` in templates, so the renders below are what catch a missing CRD file.)
if out=$(helm lint --strict "$chart" 2>&1); then pass "helm lint --strict (default values)"
else fail "helm lint --strict (default values)" "$(grep -E 'ERROR|Error' <<<"$out" | head -3 | tr '\n' ' ')"; fi
if [ -f "$presslabs_values" ]; then
  if out=$(helm lint --strict "$chart" -f "$presslabs_values" 2>&1); then pass "helm lint --strict (presslabs values)"
  else fail "helm lint --strict (presslabs values)" "$(grep -E 'ERROR|Error' <<<"$out" | head -3 | tr '\n' ' ')"; fi
fi

# --- renders, validated and checked -------------------------------------------------------------
cat >"$work/full-values.yaml" <<'EOF'
replicas: 2
installCRDs: false
watchNamespace: apps
image: registry.example.com/mysql-operator:1.2.3
imagePullSecrets: [{name: regcred}]
serviceMonitor: {enabled: true, additionalLabels: {prometheus: main}, interval: 15s}
mysqlClustersGlobalServiceMonitor: {enabled: true, additionalLabels: {prometheus: main}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions: [{key: pool, operator: In, values: [db]}]
tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]
extraArgs: ["--verbose-reconcile"]
extraEnv: [{name: TZ, value: UTC}]
podAnnotations: {example.com/owner: dba}
priorityClassName: system-cluster-critical
logFormat: text
cleanupPVCs: false
defaultPlugins:
  - name: status-table
    configMap: {name: status-table-policy, key: status_table.wasm}
    sha256: "0000000000000000000000000000000000000000000000000000000000000000"
    hooks: [init-script]
    failurePolicy: Fail
    settings: {schema: sys_operator, table: status}
  - name: zone-aware
    configMap: {name: zone-policy, key: module.wasm}
    failurePolicy: Ignore
# presslabs keys with no effect here must still be accepted
orchestrator: {topologyUser: orchestrator, persistence: {enabled: true}}
antiAffinity: soft
podSecurityPolicy: {enabled: false}
EOF

if render default; then validate default "$work/default.yaml"; pycheck default "$work/default.yaml" mysql-operator; fi
if [ -f "$presslabs_values" ] && render presslabs -f "$presslabs_values"; then
  validate presslabs "$work/presslabs.yaml"
  pycheck presslabs "$work/presslabs.yaml" mysql-operator
fi
if render full -f "$work/full-values.yaml"; then
  validate full "$work/full.yaml"
  validate full "$work/full.yaml" 1.25 # the oldest Kubernetes the chart accepts (kubeVersion)
  pycheck full "$work/full.yaml" mysql-operator "$work/full-values.yaml"
fi
if render nocrd --set installCRDs=false --set leaderElection.enabled=false; then
  validate nocrd "$work/nocrd.yaml"
  pycheck nocrd "$work/nocrd.yaml" mysql-operator
fi

# --- CRDs: rendered == `mysql-operator crd` ----------------------------------------------------
if [ -n "$crd_out" ] && [ -s "$generated" ] && [ -s "$work/default.yaml" ]; then
  pycheck crds "$work/default.yaml" "$crd_out" "$generated"
  pycheck plugins-vs-crd "$crd_out" "$work/full-values.yaml" "$chart/values.schema.json"
else
  fail "CRD comparison" "needs both \`mysql-operator crd\` output and $generated (see above)"
fi

# --- every value is documented in the chart README -----------------------------------------------
missing_doc=$(python3 - "$chart/values.schema.json" "$chart/README.md" <<'PY'
import json, sys
props = json.load(open(sys.argv[1]))["properties"]
readme = open(sys.argv[2]).read()
print(" ".join(k for k in sorted(props) if f"`{k}" not in readme))
PY
)
if [ -z "$missing_doc" ]; then
  pass "every top-level value of values.schema.json is in the chart README"
else
  fail "chart README documents every value" "missing: $missing_doc"
fi

# --- default policy modules: the controller reads what the chart mounts -------------------------
# The ConfigMap data the chart renders (full values) is fed to `mysql-operator controller
# --default-plugins` as the Deployment passes it: the controller must accept it (it then
# waits for an API server, which is not here) and count both modules; a duplicated entry
# must stop it at start.
if [ -n "$bin" ] && [ -s "$work/full.yaml" ]; then
  python3 - "$work/full.yaml" "$work/default-plugins.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-default-plugins")]
open(sys.argv[2], "w").write(cm[0]["data"]["default-plugins.yaml"] if cm else "")
PY
  port=$((20000 + RANDOM % 20000))
  out=$(env -u KUBERNETES_SERVICE_HOST KUBECONFIG=/nonexistent RUST_LOG=info timeout 5 "$bin" controller \
    --log-format=text --leader-elect=false --health-port=$port --metrics-port=$((port + 1)) \
    --default-plugins="$work/default-plugins.yaml" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; exit "${PIPESTATUS[0]}")
  rc=$?
  if [ $rc -eq 124 ] && grep -q 'operator-wide default modules.*count=2' <<<"$out"; then
    pass "controller reads the chart's default-plugins ConfigMap (2 modules) and keeps running"
  else
    fail "controller reads the chart's default-plugins ConfigMap" "exit $rc (124 = still running, wanted): $(tail -5 <<<"$out" | tr '\n' ' ')"
  fi
  cat "$work/default-plugins.yaml" "$work/default-plugins.yaml" >"$work/dup-plugins.yaml"
  out=$(env -u KUBERNETES_SERVICE_HOST KUBECONFIG=/nonexistent timeout 5 "$bin" controller \
    --leader-elect=false --health-port=$port --metrics-port=$((port + 1)) \
    --default-plugins="$work/dup-plugins.yaml" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'dup-plugins.yaml' <<<"$out"; then
    pass "controller refuses a default-plugins file listing a module twice, naming the file"
  else
    fail "controller refuses a bad default-plugins file" "exit $rc: $(tail -5 <<<"$out" | tr '\n' ' ')"
  fi
fi

# --- bad values: each must fail, naming the problem ------------------------------------------
# name | expected message fragment | helm args...
bad() {
  local name=$1 want=$2
  shift 2
  local out
  if out=$(helm template t "$chart" --set installCRDs=false "$@" 2>&1); then
    fail "bad value $name" "helm template succeeded; it must refuse $*"
  elif grep -qF -- "$want" <<<"$out"; then
    pass "bad value $name is refused: $(grep -F -- "$want" <<<"$out" | head -1 | sed 's/^ *//')"
  else
    fail "bad value $name" "refused, but the message lacks '$want': $(tr '\n' ' ' <<<"$out")"
  fi
}
bad "replicas not a number" "at '/replicas': got string, want integer" --set replicas=three
bad "negative replicas" "at '/replicas'" --set replicas=-1
bad "typo in a key" "additional properties 'replica' not allowed" --set replica=3
bad "imagePullPolicy" "at '/imagePullPolicy': value must be one of" --set imagePullPolicy=Sometimes
bad "image with a space" "at '/image'" --set "image=registry.example.com/op erator:1"
bad "installCRDs not a boolean" "at '/installCRDs'" --set-string installCRDs=yes
bad "watchNamespace not a DNS label" "at '/watchNamespace'" --set watchNamespace=Team_A
bad "imagePullSecrets as a string" "at '/imagePullSecrets'" --set imagePullSecrets=regcred
bad "serviceMonitor.enabled" "at '/serviceMonitor/enabled'" --set-string serviceMonitor.enabled=maybe
bad "serviceMonitor interval" "at '/serviceMonitor/interval'" --set serviceMonitor.interval=often
bad "clusters ServiceMonitor typo" "additional properties 'enable' not allowed" --set mysqlClustersGlobalServiceMonitor.enable=true
bad "metrics port out of range" "at '/metrics/port'" --set metrics.port=70000
bad "logFormat" "at '/logFormat': value must be one of 'text', 'json'" --set logFormat=xml
bad "maxConcurrentReconciles 0" "at '/maxConcurrentReconciles'" --set maxConcurrentReconciles=0
bad "plugin without configMap" "at '/defaultPlugins/0': missing property 'configMap'" \
  --set-json 'defaultPlugins=[{"name":"p"}]'
bad "plugin with an unknown hook" "at '/defaultPlugins/0/hooks/0'" \
  --set-json 'defaultPlugins=[{"name":"p","configMap":{"name":"c","key":"m.wasm"},"hooks":["on-boot"]}]'
bad "plugin with a bad sha256" "at '/defaultPlugins/0/sha256'" \
  --set-json 'defaultPlugins=[{"name":"p","configMap":{"name":"c","key":"m.wasm"},"sha256":"abc"}]'
bad "plugin failurePolicy" "at '/defaultPlugins/0/failurePolicy'" \
  --set-json 'defaultPlugins=[{"name":"p","configMap":{"name":"c","key":"m.wasm"},"failurePolicy":"Maybe"}]'
bad "plugin names not unique" 'defaultPlugins[1].name "p" is used twice' \
  --set-json 'defaultPlugins=[{"name":"p","configMap":{"name":"c","key":"a.wasm"}},{"name":"p","configMap":{"name":"c","key":"b.wasm"}}]'
bad "replicas > 1 without leader election" "leaderElection.enabled is false" \
  --set replicas=2 --set leaderElection.enabled=false
bad "metrics and health on one port" "give them different ports" --set metrics.port=9000 --set health.port=9000
bad "Kubernetes older than 1.25" "chart requires kubeVersion: >=1.25.0-0" --kube-version 1.24.0

finish
