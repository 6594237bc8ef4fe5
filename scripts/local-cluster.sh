#!/usr/bin/env bash
# A real single-node Kubernetes 1.32 on this machine, for the e2e suite (run as root).
#
#   scripts/local-cluster.sh up [--smoke]   start (idempotent; prints a timing per step)
#   scripts/local-cluster.sh down [--keep-images]
#                                           stop everything and undo every host change; the
#                                           state dir goes too (with --keep-images all but the
#                                           node's imported images, for a faster next `up`)
#   scripts/local-cluster.sh status         what runs
#   scripts/local-cluster.sh env            prints `export KUBECONFIG=...` (eval it)
#
# Parts: etcd + kube-apiserver + kube-controller-manager + kube-scheduler (control plane),
# containerd + runc + CNI bridge 10.244.0.0/24 + kubelet + kube-proxy (iptables) (node),
# dnsmasq on the cni0 gateway 10.244.0.1 fed by scripts/local-cluster/node-agent.py (cluster
# DNS; the same agent provisions hostPath PVs for the default StorageClass `local-path`),
# and a locally built pause image. No image is ever pulled: build the project's images with
# scripts/build-images.sh, which imports them into this node's containerd.
#
# Binaries: $KUBEBUILDER_ASSETS (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy) when set, else ../shared/k8s/kubernetes-1.32-node-linux-amd64.tar.xz
# (checked against its SHA256SUMS, unpacked once into ~/.cache/mysql-operator/k8s-1.32).
# State: $MYSQL_OPERATOR_K8S_DIR (default /var/tmp/mysql-operator-k8s); admin kubeconfig at
# $DIR/kubeconfig. Debian packages it needs are installed with apt-get when missing.
#
# Host changes, all undone by `down` (also after a failed or partial `up`):
# - iptables: chains MYSQLOP-INPUT / MYSQLOP-FORWARD (jumped to first from INPUT/FORWARD): the
#   API server (bound to 0.0.0.0:6443 so pods reach it at 10.244.0.1), the kubelet (node IP
#   :10250) and DNS (10.244.0.1:53) answer loopback/cni0 only; pods may open connections to
#   the host only for DNS and the API server (not the kubelet, nothing else the VM runs), and
#   no pod traffic leaves the VM (cni0 <-> cni0 only); plus kube-proxy's KUBE-* and the
#   CNI plugins' CNI-* chains (removed with `kube-proxy --cleanup` and a sweep).
# - sysctls the kubelet, kube-proxy and the bridge plugin change (saved at first `up`,
#   restored by `down`); the cni0 bridge, pod veths and netns (/run/netns/cni-*), mounts
#   under $DIR, the kubepods cgroups. No /etc/hosts line: the API server reaches the kubelet
#   by its InternalIP.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/.." && pwd)
DIR=${MYSQL_OPERATOR_K8S_DIR:-/var/tmp/mysql-operator-k8s}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mysql-operator
TARBALL=${MYSQL_OPERATOR_K8S_TARBALL:-$repo/../shared/k8s/kubernetes-1.32-node-linux-amd64.tar.xz}
NODE=${MYSQL_OPERATOR_K8S_NODE:-local-node}
POD_CIDR=10.244.0.0/24
GW=10.244.0.1            # cni0 gateway: cluster DNS and the API server's in-cluster address
SVC_CIDR=10.96.0.0/12
CLASS=local-path
BINS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
PKI=$DIR/pki LOGS=$DIR/logs N=$DIR/node PIDS=$DIR/pids
SOCK=$N/containerd.sock
KC=$DIR/kubeconfig
SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
step() { printf '[%-22s] %s\n' "$1" "$2"; }
die() { echo "local-cluster: $*" >&2; exit 1; }
# fail with the tail of a component's log
fail_log() { echo "local-cluster: $1 did not come up; last lines of $LOGS/$2.log:" >&2; tail -n 30 "$LOGS/$2.log" >&2 || true; exit 1; }
kc() { kubectl --kubeconfig "$KC" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }

# ---- processes: "name pid" lines in $PIDS; a pid counts only while its cmdline still names it
pid_of() { [ -f "$PIDS" ] && awk -v n="$1" '$1==n{p=$2} END{print p}' "$PIDS" || true; }
alive() {
  local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2"
}
# a pid that exited stays a zombie until PID 1 reaps it: that counts as stopped
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
record() { { grep -v "^$1 " "$PIDS" 2>/dev/null || true; echo "$1 $2"; } > "$PIDS.tmp"; mv "$PIDS.tmp" "$PIDS"; }
# start NAME MATCH CMD...: background, own session, log to $LOGS/NAME.log, unless already running
start() {
  local name=$1 match=$2; shift 2
  alive "$name" "$match" && return 0
  setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  record "$name" $!
}
stop() { # NAME MATCH
  local p; p=$(pid_of "$1"); [ -n "$p" ] || return 0
  if alive "$1" "$2"; then
    local t0; t0=$(now)
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do running "$p" || break; sleep 0.1; done
    running "$p" && kill -KILL "$p" 2>/dev/null || true
    echo "stopped $1 ($p, $(since "$t0"))"
  fi
}
wait_for() { # SECONDS CMD...: poll until CMD succeeds; give up early if process $WATCH died
  local t=$1; shift
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    [ -z "${WATCH:-}" ] || alive "$WATCH" "$WATCH" || { sleep 0.5; "$@" >/dev/null 2>&1; return; }
    sleep 0.2
  done
}

# ---- binaries
find_bins() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    BIN=$KUBEBUILDER_ASSETS
  else
    BIN=$CACHE/k8s-1.32
    if [ ! -f "$BIN/.verified" ]; then
      [ -f "$TARBALL" ] || die "no Kubernetes binaries: set KUBEBUILDER_ASSETS to a directory with ${BINS[*]} (the official v1.32 release binaries work), or provide $TARBALL and its SHA256SUMS (../shared/k8s/ beside the repository)"
      rm -rf "$BIN"; mkdir -p "$BIN"
      tar -xJf "$TARBALL" -C "$BIN"
      [ -d "$BIN/kubernetes" ] && mv "$BIN"/kubernetes/* "$BIN"/ 2>/dev/null || true
      (cd "$BIN" && sha256sum --quiet -c "$(dirname "$TARBALL")/SHA256SUMS") || die "checksum mismatch for $TARBALL"
      touch "$BIN/.verified"
    fi
  fi
  local b; for b in "${BINS[@]}"; do [ -x "$BIN/$b" ] || die "missing $BIN/$b (KUBEBUILDER_ASSETS must hold ${BINS[*]})"; done
}

ensure_packages() {
  local need=() c
  declare -A pkg=([containerd]=containerd [runc]=runc [ctr]=containerd [iptables]=iptables
    [conntrack]=conntrack [socat]=socat [dnsmasq]=dnsmasq-base [gcc]=gcc [openssl]=openssl
    [curl]=curl [ip]=iproute2 [mmdebstrap]=mmdebstrap [buildah]=buildah)
  for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || need+=("${pkg[$c]}"); done
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
  if [ ${#need[@]} -gt 0 ]; then
    echo "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) > "$LOGS/apt.log" 2>&1 \
      || { tail -20 "$LOGS/apt.log"; die "apt-get install failed"; }
  fi
  command -v kubectl >/dev/null || die "kubectl not on PATH (scripts/setup.sh installs it; . scripts/env.sh)"
}

node_ip() { ip -4 route get 192.0.2.254 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p'; }

# ---- host guard: what may reach the ports we open, and where pods may go
guard_up() {
  local c
  for c in MYSQLOP-INPUT MYSQLOP-FORWARD; do iptables -N "$c" 2>/dev/null || iptables -F "$c"; done
  iptables -A MYSQLOP-INPUT -i lo -j RETURN
  # pods may open connections to the host only for DNS and the API server (no kubelet API,
  # nothing else the VM runs); replies to the host's own connections (probes, exec) pass
  iptables -A MYSQLOP-INPUT -i cni0 -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -A MYSQLOP-INPUT -i cni0 -d $GW -p udp --dport 53 -j RETURN
  iptables -A MYSQLOP-INPUT -i cni0 -d $GW -p tcp --dport 53 -j RETURN
  iptables -A MYSQLOP-INPUT -i cni0 -d $GW -p tcp --dport 6443 -j RETURN
  iptables -A MYSQLOP-INPUT -i cni0 -j DROP
  iptables -A MYSQLOP-INPUT -p tcp -m multiport --dports 6443,10250 -j DROP
  iptables -A MYSQLOP-INPUT -d "$POD_CIDR" -j DROP                  # DNS on the gateway
  iptables -A MYSQLOP-FORWARD -i cni0 -o cni0 -j RETURN             # pod <-> pod (and via ClusterIP)
  iptables -A MYSQLOP-FORWARD -i cni0 -j DROP                       # nothing leaves the VM
  iptables -A MYSQLOP-FORWARD -o cni0 -j DROP                       # nothing from outside reaches pods
  iptables -C INPUT -j MYSQLOP-INPUT 2>/dev/null || iptables -I INPUT 1 -j MYSQLOP-INPUT
  # Go binds 0.0.0.0 as a dual-stack socket: the same ports over IPv6, loopback only
  ip6tables -N MYSQLOP-INPUT 2>/dev/null || ip6tables -F MYSQLOP-INPUT
  ip6tables -A MYSQLOP-INPUT ! -i lo -p tcp -m multiport --dports 6443,10250 -j DROP
  ip6tables -C INPUT -j MYSQLOP-INPUT 2>/dev/null || ip6tables -I INPUT 1 -j MYSQLOP-INPUT
  iptables -C FORWARD -j MYSQLOP-FORWARD 2>/dev/null || iptables -I FORWARD 1 -j MYSQLOP-FORWARD
}

save_sysctls() {
  [ -f "$DIR/sysctl.orig" ] && return 0
  local s v; for s in "${SYSCTLS[@]}"; do v=$(sysctl -n "$s" 2>/dev/null) && echo "$s=$v"; done > "$DIR/sysctl.orig.tmp" || true
  mv "$DIR/sysctl.orig.tmp" "$DIR/sysctl.orig"
}
restore_sysctls() {
  [ -f "$DIR/sysctl.orig" ] || return 0
  local line; while IFS= read -r line; do sysctl -qw "$line" 2>/dev/null || true; done < "$DIR/sysctl.orig"
}

# ---- PKI and kubeconfig (made once per state dir)
pki() {
  mkdir -p "$PKI"
  local ip; ip=$(node_ip)
  cert() { # NAME CN EXT CA
    [ -s "$PKI/$1.crt" ] && return 0
    openssl req -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%s\n' "$3" > "$PKI/$1.ext"
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$4.crt" -CAkey "$PKI/$4.key" -CAcreateserial \
      -out "$PKI/$1.crt" -days 3650 -extfile "$PKI/$1.ext" 2>/dev/null
  }
  ca() { [ -s "$PKI/$1.crt" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 3650 -subj "/CN=$2" 2>/dev/null; }
  ca ca mysql-operator-local-ca
  ca front-proxy-ca mysql-operator-local-front-proxy-ca
  cert apiserver kube-apiserver "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$GW${ip:+,IP:$ip},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" ca
  cert front-proxy-client front-proxy-client "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth" front-proxy-ca
  [ -s "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  [ -s "$PKI/admin.token" ] || openssl rand -hex 32 > "$PKI/admin.token"
  printf '%s,admin,admin,"system:masters"\n' "$(cat "$PKI/admin.token")" > "$PKI/tokens.csv"
  chmod 600 "$PKI"/*.key "$PKI/admin.token" "$PKI/tokens.csv"
  cat > "$KC.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mysql-operator-local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    token: $(cat "$PKI/admin.token")
contexts:
- name: mysql-operator-local
  context: {cluster: mysql-operator-local, user: admin, namespace: default}
current-context: mysql-operator-local
EOF
  chmod 600 "$KC.tmp"; mv "$KC.tmp" "$KC"
}

node_configs() {
  mkdir -p "$N/cni/net.d" "$N/containerd-root" "$N/containerd-state" "$N/kubelet-root" "$N/pod-logs" "$N/opt" "$DIR/dns" "$DIR/volumes"
  if [ ! -s "$N/containerd.toml" ]; then
    containerd config default > "$N/containerd.toml.tmp"
    python3 - "$N" "$N/containerd.toml.tmp" <<'EOF'
import sys
n, p = sys.argv[1], sys.argv[2]
s = open(p).read()
for a, b in [('root = "/var/lib/containerd"', f'root = "{n}/containerd-root"'),
             ('state = "/run/containerd"', f'state = "{n}/containerd-state"'),
             ('address = "/run/containerd/containerd.sock"', f'address = "{n}/containerd.sock"'),
             ('sandbox_image = "registry.k8s.io/pause:3.6"', 'sandbox_image = "registry.k8s.io/pause:3.10"'),
             ('bin_dir = "/opt/cni/bin"', 'bin_dir = "/usr/lib/cni"'),
             ('conf_dir = "/etc/cni/net.d"', f'conf_dir = "{n}/cni/net.d"'),
             ('path = "/opt/containerd"', f'path = "{n}/opt"'),
             ('config_path = ""', f'config_path = "{n}/registry"'),
             # the VM lacks CAP_SYS_RESOURCE: runc cannot set the sandboxes' negative oom_score_adj
             ('restrict_oom_score_adj = false', 'restrict_oom_score_adj = true')]:
    assert a in s, a
    s = s.replace(a, b, 1)
assert "SystemdCgroup = false" in s
open(p, "w").write(s)
EOF
    mv "$N/containerd.toml.tmp" "$N/containerd.toml"
  fi
  # no registry pulls, ever: every registry's endpoint is a closed loopback port, so a
  # missing image fails at once on the node ("dial tcp 127.0.0.1:9: connection refused")
  local r; for r in _default docker.io registry.k8s.io k8s.gcr.io gcr.io ghcr.io quay.io public.ecr.aws mcr.microsoft.com; do
    mkdir -p "$N/registry/$r"
    printf 'server = "http://127.0.0.1:9"\n\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' > "$N/registry/$r/hosts.toml"
  done
  cat > "$N/cni/net.d/10-bridge.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "mysql-operator-local",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GW"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$N/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  # the "host" resolv.conf the kubelet merges into pods' files: nothing of the VM's
  printf 'options ndots:5\n' > "$N/resolv.conf"
  cat > "$N/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip)
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: []
failSwapOn: false
clusterDNS: [$GW]
clusterDomain: cluster.local
resolvConf: $N/resolv.conf
podLogsDir: $N/pod-logs
containerRuntimeEndpoint: unix://$SOCK
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 60
serializeImagePulls: false
EOF
}

# ---- the pause image: a static C program in a one-layer image
pause_image() {
  ctr_ images ls -q 2>/dev/null | grep -qx registry.k8s.io/pause:3.10 && return 0
  local d=$N/pause; mkdir -p "$d/root"
  gcc -Os -static -o "$d/root/pause" "$here/local-cluster/pause.c" && strip "$d/root/pause"
  tar --numeric-owner --owner=0 --group=0 -C "$d/root" -cf "$d/rootfs.tar" pause
  python3 "$here/local-cluster/mkimage.py" "$d/rootfs.tar" "$d/pause.tar" registry.k8s.io/pause:3.10 '["/pause"]' 65535:65535
  ctr_ images import "$d/pause.tar" >/dev/null
}

cluster_objects() {
  # The API server runs with --endpoint-reconciler-type=none (it is bound to 0.0.0.0 and
  # 127.0.0.1 may not be an endpoint): pods reach it through the cni0 gateway.
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default, labels: {endpointslice.kubernetes.io/skip-mirror: "true"}}
subsets: [{addresses: [{ip: $GW}], ports: [{name: https, port: 6443, protocol: TCP}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: mysql-operator-local-cluster}}
addressType: IPv4
endpoints: [{addresses: [$GW], conditions: {ready: true}}]
ports: [{name: https, port: 6443, protocol: TCP}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $CLASS
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: mysql-operator.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
EOF
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  local T0 T; T0=$(now)
  mkdir -p "$DIR" "$LOGS"; chmod 755 "$DIR"
  T=$(now); ensure_packages; find_bins; step packages+binaries "$(since "$T") ($BIN)"
  local ip; ip=$(node_ip); [ -n "$ip" ] || die "no IPv4 source address for a non-local route (the node IP)"
  save_sysctls; guard_up
  T=$(now); pki; node_configs; step pki+configs "$(since "$T")"

  T=$(now)
  start etcd "$BIN/etcd" "$BIN/etcd" --name local --data-dir "$DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster local=http://127.0.0.1:2380 --log-outputs stderr
  WATCH=etcd wait_for 60 curl -fsS http://127.0.0.1:2379/health || fail_log etcd etcd
  step etcd "$(since "$T")"

  T=$(now)
  start kube-apiserver kube-apiserver "$BIN/kube-apiserver" \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$GW" \
    --endpoint-reconciler-type=none --etcd-servers=http://127.0.0.1:2379 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --token-auth-file="$PKI/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --service-cluster-ip-range=$SVC_CIDR \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=true --profiling=false
  WATCH=kube-apiserver wait_for 90 kc get --raw /readyz || fail_log kube-apiserver kube-apiserver
  step kube-apiserver "$(since "$T")"

  T=$(now)
  start kube-controller-manager kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$KC" --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --use-service-account-credentials=false --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range=$SVC_CIDR --controllers='*'
  start kube-scheduler kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$KC" --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
  WATCH=kube-controller-manager wait_for 60 curl -fsSk https://127.0.0.1:10257/healthz || fail_log kube-controller-manager kube-controller-manager
  WATCH=kube-scheduler wait_for 60 curl -fsSk https://127.0.0.1:10259/healthz || fail_log kube-scheduler kube-scheduler
  wait_for 60 kc get svc kubernetes || fail_log "the kubernetes Service" kube-apiserver
  cluster_objects
  step controllers "$(since "$T")"

  T=$(now)
  start containerd "$N/containerd.toml" containerd --config "$N/containerd.toml"
  WATCH=containerd wait_for 30 ctr --address "$SOCK" version || fail_log containerd containerd
  pause_image
  step containerd+pause "$(since "$T")"

  T=$(now)
  if ! alive dnsmasq "$DIR/dns/hosts"; then
    touch "$DIR/dns/hosts"; chmod 644 "$DIR/dns/hosts"
    # only on the cni0 gateway (bind-dynamic: cni0 appears with the first pod), no upstream
    start dnsmasq "$DIR/dns/hosts" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
      --no-resolv --no-hosts --addn-hosts="$DIR/dns/hosts" --listen-address=$GW --bind-dynamic \
      --except-interface=lo --local=/cluster.local/ --domain-needed --bogus-priv --no-negcache \
      --local-ttl=0 --user=nobody --log-facility=-
    pid_of dnsmasq > "$DIR/dns/dnsmasq.pid"
  fi
  start node-agent node-agent.py python3 -u "$here/local-cluster/node-agent.py" \
    --server https://127.0.0.1:6443 --token-file "$PKI/admin.token" --ca "$PKI/ca.crt" \
    --hosts "$DIR/dns/hosts" --dnsmasq-pid "$DIR/dns/dnsmasq.pid" --voldir "$DIR/volumes" --node "$NODE" --class $CLASS
  sleep 0.5; alive dnsmasq dnsmasq || fail_log dnsmasq dnsmasq
  alive node-agent node-agent || fail_log node-agent node-agent
  step dns+volumes "$(since "$T")"

  T=$(now)
  if ! alive kubelet kubelet; then
    start kubelet kubelet "$BIN/kubelet" --config="$N/kubelet-config.yaml" --kubeconfig="$KC" \
      --root-dir="$N/kubelet-root" --cert-dir="$N/kubelet-root/pki" --hostname-override="$NODE" \
      --node-ip="$ip" --v=1
    WATCH=kubelet wait_for 90 bash -c "[ \"\$(kubectl --kubeconfig '$KC' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]" \
      || fail_log "kubelet (node $NODE Ready)" kubelet
    # the kubelet sets vm.overcommit_memory, kernel.panic... once at start: put the VM's back
    restore_sysctls
  fi
  step kubelet "$(since "$T")"

  T=$(now)
  start kube-proxy kube-proxy "$BIN/kube-proxy" --kubeconfig="$KC" --hostname-override="$NODE" \
    --proxy-mode=iptables --cluster-cidr=$POD_CIDR --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0s --conntrack-tcp-timeout-close-wait=0s \
    --iptables-localhost-nodeports=false --metrics-bind-address=127.0.0.1:10249 \
    --healthz-bind-address=127.0.0.1:10256
  WATCH=kube-proxy wait_for 60 bash -c "iptables-save -t nat | grep -q 'default/kubernetes:https cluster IP'" || fail_log kube-proxy kube-proxy
  wait_for 60 kc -n default get serviceaccount default || fail_log "the default ServiceAccount" kube-controller-manager
  step kube-proxy "$(since "$T")"
  step up "$(since "$T0") total; $(env_)"
}

env_() { echo "export KUBECONFIG=$KC"; }

status() {
  local n m
  for n in etcd:etcd kube-apiserver:kube-apiserver kube-controller-manager:kube-controller-manager \
           kube-scheduler:kube-scheduler containerd:containerd dnsmasq:dnsmasq node-agent:node-agent \
           kubelet:kubelet kube-proxy:kube-proxy; do
    m=${n#*:}; n=${n%%:*}
    if alive "$n" "$m"; then printf '%-24s running (pid %s)\n' "$n" "$(pid_of "$n")"
    else printf '%-24s not running\n' "$n"; fi
  done
  [ -f "$KC" ] && kc get nodes -o wide 2>/dev/null && kc get pods -A 2>/dev/null | head -30 || true
}

# remove every KUBE-*/CNI-*/MYSQLOP-* rule and chain (iptables and ip6tables, all tables)
sweep_iptables() {
  local ipt tbl c
  for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null || continue
    for tbl in filter nat mangle raw; do
      $ipt-save -t $tbl 2>/dev/null | grep -E '^-A .*(KUBE-|CNI-|MYSQLOP-)' | sed 's/^-A /-D /' \
        | while read -r r; do eval "$ipt -t $tbl $r" 2>/dev/null || true; done || true
      for c in $($ipt-save -t $tbl 2>/dev/null | grep -oE '^:(KUBE|CNI|MYSQLOP)-[^ ]+' | tr -d : || true); do $ipt -t $tbl -F "$c" 2>/dev/null || true; done
      for c in $($ipt-save -t $tbl 2>/dev/null | grep -oE '^:(KUBE|CNI|MYSQLOP)-[^ ]+' | tr -d : || true); do $ipt -t $tbl -X "$c" 2>/dev/null || true; done
    done
  done
}

down() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  local T; T=$(now)
  BIN=${KUBEBUILDER_ASSETS:-$CACHE/k8s-1.32}  # only for kube-proxy --cleanup; never fails
  stop kube-proxy kube-proxy
  stop kubelet kubelet
  stop node-agent node-agent
  stop dnsmasq dnsmasq
  stop kube-scheduler kube-scheduler
  # pod containers: kill their tasks through containerd, then anything left in the pod cgroups
  if alive containerd containerd; then
    local id; for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    if [ "$KEEP_IMAGES" = 1 ]; then  # keep the image store, not the pods' containers
      for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
      for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
    fi
  fi
  local cg p
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] || continue
    { find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r p; do kill -KILL "$p" 2>/dev/null || true; done; } || true
  done
  stop containerd containerd
  # shims of this containerd (they carry its socket in their command line)
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
  stop kube-controller-manager kube-controller-manager
  stop kube-apiserver kube-apiserver
  stop etcd etcd
  rm -f "$PIDS"
  step processes "$(since "$T")"
  # network: kube-proxy's own cleanup, then a sweep; the bridge; pod netns
  [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup --proxy-mode=iptables >/dev/null 2>&1 || true
  sweep_iptables
  for p in /run/netns/cni-*; do [ -e "$p" ] || continue; umount "$p" 2>/dev/null || true; rm -f "$p"; done
  rmdir /run/netns 2>/dev/null || true
  ip link del cni0 2>/dev/null || true
  step network "$(since "$T")"
  # mounts under the state dir (overlay rootfs, shm, token tmpfs, ...), deepest first
  { awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r p; do umount -l "$p" 2>/dev/null || true; done; } || true
  for cg in /sys/fs/cgroup/*/kubepods; do [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  restore_sysctls
  if [ -f "$DIR/sysctl.orig" ]; then  # say so if something changed them again meanwhile
    local line; while IFS= read -r line; do
      [ "$(sysctl -n "${line%%=*}" 2>/dev/null)" = "${line#*=}" ] || echo "warning: ${line%%=*} is $(sysctl -n "${line%%=*}"), was ${line#*=}" >&2
    done < "$DIR/sysctl.orig"
  fi
  step mounts+cgroups "$(since "$T")"
  if [ -d "$DIR" ] && [ "$DIR" != / ]; then
    if [ "$KEEP_IMAGES" = 1 ] && [ -d "$N/containerd-root" ]; then
      # everything but containerd's image content and metadata (its CRI state goes too)
      rm -rf "$N/containerd-root/io.containerd.grpc.v1.cri"
      find "$DIR" -mindepth 1 -maxdepth 1 ! -name node -exec rm -rf {} +
      find "$N" -mindepth 1 -maxdepth 1 ! -name containerd-root ! -name images.imported -exec rm -rf {} +
    else
      rm -rf "${DIR:?}"  # ~1 min with the e2e images imported (ext4 on this VM)
    fi
  fi
  step down "$(since "$T")"
  leftovers
}

# what a `down` must leave behind: nothing
leftovers() {
  local bad=0
  if iptables-save | grep -qE 'KUBE-|CNI-|MYSQLOP-'; then echo "leftover: iptables rules/chains"; bad=1; fi
  if ip6tables-save 2>/dev/null | grep -qE 'KUBE-|CNI-|MYSQLOP-'; then echo "leftover: ip6tables rules/chains"; bad=1; fi
  if ip link show cni0 >/dev/null 2>&1; then echo "leftover: cni0"; bad=1; fi
  if ls /run/netns/cni-* >/dev/null 2>&1; then echo "leftover: netns"; bad=1; fi
  if grep -q " $DIR/" /proc/mounts; then echo "leftover: mounts under $DIR"; bad=1; fi
  if ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1; then echo "leftover: kubepods cgroups"; bad=1; fi
  # daemons naming the state dir (clients such as another shell's `ctr`/`kubectl` are not ours)
  local procs; procs=$(pgrep -af "$DIR/|$SOCK" 2>/dev/null | awk '{n=$2; sub(".*/", "", n)} n !~ /^(ctr|timeout|kubectl|helm|pgrep)$/' || true)
  if [ -n "$procs" ]; then echo "leftover: processes: $(echo "$procs" | head -5)"; bad=1; fi
  [ $bad = 0 ] && echo "clean: no iptables rule/chain, no cni0, no netns, no mount, no cgroup, no process left"
  return $bad
}

case "${1:-}" in
  up) up; if [ "${2:-}" = --smoke ]; then bash "$here/local-cluster/smoke.sh"; fi ;;
  down) KEEP_IMAGES=0; [ "${2:-}" = --keep-images ] && KEEP_IMAGES=1; down ;;
  status) status ;;
  env) env_ ;;
  *) echo "usage: $0 up [--smoke] | down [--keep-images] | status | env" >&2; exit 2 ;;
esac
