#!/usr/bin/env bash
# Smoke test of the node from scripts/local-cluster.sh (run by `local-cluster.sh up --smoke`,
# or standalone after `up`). Everything happens in namespace lc-smoke, deleted at the end.
# It builds one small test image itself (Debian minbase + curl + netcat, cached in
# ~/.cache/mysql-operator/images) so it needs nothing from scripts/build-images.sh.
# Checks: pods Ready; DNS for <pod>.<headless>.<ns>.svc.cluster.local, <svc>.<ns> and
# <pod>.<headless>.<ns> (search path); pod->pod and pod->ClusterIP traffic; the API at
# https://kubernetes.default.svc with the pod's ServiceAccount token; a default-class PVC
# binds, is writable by uid 999, survives a pod restart, and is fresh after PVC + pod deletion;
# pods cannot reach 192.0.2.1, 1.1.1.1 or the kubelet. Prints "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=${MYSQL_OPERATOR_K8S_DIR:-/var/tmp/mysql-operator-k8s}
export KUBECONFIG=$DIR/kubeconfig
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mysql-operator/images
IMG=docker.io/library/mysql-operator-smoke:dev
NS=lc-smoke
ok=0 failed=0
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
check() { # NAME GOT WANT
  if [ "$2" = "$3" ]; then echo "PASS $1"; ok=$((ok+1)); else echo "FAIL $1: got [$2] want [$3]"; failed=$((failed+1)); fi
}
x() { timeout 30 kubectl -n $NS exec "$1" -- bash -c "$2" 2>&1 || true; }

# ---- the test image
T=$(now)
if ! ctr --address "$DIR/node/containerd.sock" -n k8s.io images ls -q | grep -qx "$IMG"; then
  mkdir -p "$CACHE"
  tar=$CACHE/smoke-rootfs-v1.tar
  [ -s "$tar" ] || { mmdebstrap --variant=minbase --include=curl,netcat-openbsd,ca-certificates bookworm "$CACHE/smoke-partial.tar" \
      > "$CACHE/smoke-mmdebstrap.log" 2>&1 && mv "$CACHE/smoke-partial.tar" "$tar"; }
  python3 "$here/mkimage.py" "$tar" "$CACHE/smoke-image.tar" "$IMG" '["sleep","infinity"]'
  ctr --address "$DIR/node/containerd.sock" -n k8s.io images import "$CACHE/smoke-image.tar" >/dev/null
  rm -f "$CACHE/smoke-image.tar"
fi
echo "test image ready ($(since "$T"))"

kubectl delete ns $NS --wait=true --timeout=120s >/dev/null 2>&1 || true
kubectl create ns $NS >/dev/null
T=$(now)
kubectl -n $NS apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: None, publishNotReadyAddresses: true, selector: {app: web}, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: $NS}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsUser: 999, runAsGroup: 999, fsGroup: 999}
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $IMG
        imagePullPolicy: Never
        command: [bash, -c, '[ -e /data/marker ] && echo reused > /data/state || echo fresh > /data/state; date > /data/marker; while true; do echo hello-from-\$(hostname) | nc -lN 8080; done']
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: $IMG, imagePullPolicy: Never}]
EOF
kubectl -n $NS rollout status sts/web --timeout=120s >/dev/null || { kubectl -n $NS get pods,pvc,events; exit 1; }
kubectl -n $NS wait --for=condition=Ready pod/client --timeout=60s >/dev/null
echo "3 pods Ready, 2 PVCs bound ($(since "$T"))"
check "PVCs Bound" "$(kubectl -n $NS get pvc -o jsonpath='{.items[*].status.phase}')" "Bound Bound"

W0=$(kubectl -n $NS get pod web-0 -o jsonpath='{.status.podIP}')
CIP=$(kubectl -n $NS get svc web-svc -o jsonpath='{.spec.clusterIP}')
T=$(now)
for _ in $(seq 50); do [ "$(x client "getent hosts web-0.web.$NS.svc.cluster.local | cut -d' ' -f1")" = "$W0" ] && break; sleep 0.2; done
echo "DNS has web-0 ($(since "$T") after Ready)"
check "DNS web-0.web.$NS.svc.cluster.local" "$(x client "getent hosts web-0.web.$NS.svc.cluster.local | cut -d' ' -f1")" "$W0"
check "DNS kubernetes.default.svc.cluster.local" "$(x client 'getent hosts kubernetes.default.svc.cluster.local | cut -d" " -f1')" "10.96.0.1"
check "DNS web-svc.$NS (search path)" "$(x client "getent hosts web-svc.$NS | cut -d' ' -f1")" "$CIP"
check "DNS headless web.$NS: both pods" "$(x client "getent ahostsv4 web.$NS.svc.cluster.local | cut -d' ' -f1 | sort -u | wc -l")" "2"
check "pod->pod by name web-0.web.$NS.svc.cluster.local" "$(x client "nc -w 3 web-0.web.$NS.svc.cluster.local 8080 </dev/null")" "hello-from-web-0"
check "pod->pod by name web-1.web.$NS (search path)" "$(x client "nc -w 3 web-1.web.$NS 8080 </dev/null")" "hello-from-web-1"
check "pod->Service web-svc.$NS:80" "$(x client "nc -w 3 web-svc.$NS 80 </dev/null | cut -d- -f1-2")" "hello-from"
check "pod->ClusterIP $CIP:80" "$(x client "nc -w 3 $CIP 80 </dev/null | cut -d- -f1-2")" "hello-from"
check "pod->API with its ServiceAccount token" "$(x client 'S=/var/run/secrets/kubernetes.io/serviceaccount; curl -sS --cacert $S/ca.crt -H "Authorization: Bearer $(cat $S/token)" https://kubernetes.default.svc/api/v1/namespaces/'$NS'/pods/web-0 | grep -o "\"name\": \"web-0\"" | head -1')" '"name": "web-0"'
check "PVC writable by uid 999" "$(x web-0 'id -u; stat -c %u /data/marker; cat /data/state' | tr '\n' ' ')" "999 999 fresh "
NODE_IP=$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')
for target in 192.0.2.1:80 1.1.1.1:443 1.1.1.1:53 "$NODE_IP:10250" "$NODE_IP:22" "$NODE_IP:2379" "$NODE_IP:2024"; do
  check "pod cannot reach $target" "$(x client "nc -z -w 3 ${target%:*} ${target#*:} && echo open || echo blocked")" "blocked"
done
check "pod cannot resolve outside names" "$(x client 'getent hosts deb.debian.org >/dev/null && echo resolved || echo no')" "no"

# volumes: a restarted pod keeps its data; PVC + pod deleted -> a fresh empty volume
T=$(now)
kubectl -n $NS delete pod web-0 --wait=true >/dev/null
kubectl -n $NS wait --for=condition=Ready pod/web-0 --timeout=60s >/dev/null 2>&1 || sleep 5
kubectl -n $NS wait --for=condition=Ready pod/web-0 --timeout=60s >/dev/null
check "restarted pod keeps its volume" "$(x web-0 'cat /data/state')" "reused"
OLDPV=$(kubectl -n $NS get pvc data-web-1 -o jsonpath='{.spec.volumeName}')
OLDPATH=$(kubectl get pv "$OLDPV" -o jsonpath='{.spec.hostPath.path}')
kubectl -n $NS delete pvc data-web-1 --wait=false >/dev/null
kubectl -n $NS delete pod web-1 --wait=true >/dev/null
for _ in $(seq 100); do kubectl get pv "$OLDPV" >/dev/null 2>&1 || break; sleep 0.3; done
check "released PV deleted" "$(kubectl get pv "$OLDPV" -o name 2>&1 | grep -c '^persistentvolume/' || true)" "0"
check "released volume dir removed" "$([ -e "$OLDPATH" ] && echo present || echo gone)" "gone"
kubectl -n $NS wait --for=condition=Ready pod/web-1 --timeout=90s >/dev/null || kubectl -n $NS get pods,pvc,events
check "new PVC after deletion is fresh" "$(x web-1 'cat /data/state')" "fresh"
W1=$(kubectl -n $NS get pod web-1 -o jsonpath='{.status.podIP}')
T=$(now)
for _ in $(seq 50); do [ "$(x client "getent hosts web-1.web.$NS.svc.cluster.local | cut -d' ' -f1")" = "$W1" ] && break; sleep 0.2; done
echo "DNS has the new web-1 ($(since "$T") after Ready)"
check "DNS follows the new web-1" "$(x client "getent hosts web-1.web.$NS.svc.cluster.local | cut -d' ' -f1")" "$W1"
echo "volume checks ($(since "$T"))"

T=$(now)
kubectl delete ns $NS --wait=true --timeout=120s >/dev/null
for _ in $(seq 60); do [ -z "$(kubectl get pv -o name 2>/dev/null)" ] && break; sleep 0.5; done
check "namespace deleted, its PVs gone" "$(kubectl get pv -o name | wc -l)" "0"
echo "cleanup ($(since "$T"))"
echo "smoke: $ok passed, $failed failed"
[ "$failed" = 0 ]
