#!/usr/bin/env python3
"""node-agent.py — the local test node's cluster DNS feeder and volume provisioner.

Started by scripts/local-cluster.sh; polls the API server about once a second (urllib, the
admin token) and does two jobs a real cluster gives to CoreDNS and a storage provisioner:

DNS: writes a hosts file for dnsmasq (which listens on the cni0 gateway only, no upstream)
and sends dnsmasq SIGHUP only when the file changed. Names, as CoreDNS's kubernetes plugin
serves them:
  <svc>.<ns>.svc.cluster.local             -> ClusterIP; headless: the endpoint IPs (ready ones,
                                              all of them when publishNotReadyAddresses)
  <hostname>.<svc>.<ns>.svc.cluster.local  -> endpoint IP, for EndpointSlice endpoints with a
                                              hostname (StatefulSet pods behind their governing
                                              Service), same readiness rule

Volumes: the StorageClass CLASS (WaitForFirstConsumer, reclaimPolicy Delete) is ours. A Pending
PVC of it that the scheduler gave our node gets a fresh directory (mode 0777) under VOLDIR
and a hostPath PV pre-bound to it (claimRef, nodeAffinity to the node). A PV of ours that
is Released loses its directory and is deleted, so a re-created PVC starts empty.

Usage: node-agent.py --server URL --token-file F --ca F --hosts F --dnsmasq-pid F
                     --voldir D --node NAME [--class local-path] [--once]
"""
import argparse, json, os, shutil, signal, ssl, sys, time, urllib.error, urllib.request

PROVISIONER = "mysql-operator.local/hostpath"


class Api:
    def __init__(self, server, token, ca):
        self.server, self.token = server.rstrip("/"), token
        self.ctx = ssl.create_default_context(cafile=ca)

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.server + path, data=data, method=method)
        r.add_header("Authorization", "Bearer " + self.token)
        r.add_header("Accept", "application/json")
        if data is not None:
            r.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(r, context=self.ctx, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def items(self, path):
        return self.req("GET", path).get("items", [])


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def dns_lines(api):
    """hosts-file lines for every Service and every named endpoint."""
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                for s in api.items("/api/v1/services")}
    lines = set()
    headless = {}
    for (ns, name), s in services.items():
        spec = s.get("spec", {})
        fqdn = f"{name}.{ns}.svc.cluster.local"
        ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName":
            continue
        if ip and ip != "None":
            lines.add(f"{ip} {fqdn}")
        else:
            headless[(ns, name)] = fqdn
    for sl in api.items("/apis/discovery.k8s.io/v1/endpointslices"):
        md = sl["metadata"]
        ns, svc = md["namespace"], md.get("labels", {}).get("kubernetes.io/service-name")
        if sl.get("addressType") != "IPv4" or (ns, svc) not in services:
            continue
        pna = services[(ns, svc)].get("spec", {}).get("publishNotReadyAddresses", False)
        for ep in sl.get("endpoints") or []:
            if not pna and ep.get("conditions", {}).get("ready") is False:
                continue
            for ip in ep.get("addresses", []):
                if (ns, svc) in headless:
                    lines.add(f"{ip} {headless[(ns, svc)]}")
                if ep.get("hostname"):
                    lines.add(f"{ip} {ep['hostname']}.{svc}.{ns}.svc.cluster.local")
    return sorted(lines)


def sync_dns(api, args, state):
    text = "# written by scripts/local-cluster/node-agent.py\n" + "\n".join(dns_lines(api)) + "\n"
    if text == state.get("hosts"):
        return
    tmp = args.hosts + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.hosts)
    state["hosts"] = text
    try:
        with open(args.dnsmasq_pid) as f:
            os.kill(int(f.read().split()[0]), signal.SIGHUP)
    except (OSError, ValueError, IndexError) as e:
        log(f"dns: cannot signal dnsmasq: {e}")
    log(f"dns: {text.count(chr(10)) - 1} records")


def sync_volumes(api, args):
    for pvc in api.items("/api/v1/persistentvolumeclaims"):
        md, spec = pvc["metadata"], pvc.get("spec", {})
        if (pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName")
                or spec.get("storageClassName") != args.cls
                or md.get("annotations", {}).get("volume.kubernetes.io/selected-node") != args.node):
            continue
        name = "pvc-" + md["uid"]
        path = os.path.join(args.voldir, f"{md['namespace']}_{md['name']}_{md['uid']}")
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)  # hostPath ignores fsGroup: any pod UID must be able to write
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": args.cls,
                "hostPath": {"path": path, "type": "Directory"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [args.node]}]}]}},
            },
        }
        try:
            api.req("POST", "/api/v1/persistentvolumes", pv)
            log(f"volume: {name} for {md['namespace']}/{md['name']} at {path}")
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
    for pv in api.items("/api/v1/persistentvolumes"):
        md, spec = pv["metadata"], pv.get("spec", {})
        if (md.get("annotations", {}).get("pv.kubernetes.io/provisioned-by") != PROVISIONER
                or pv.get("status", {}).get("phase") not in ("Released", "Failed")
                or spec.get("persistentVolumeReclaimPolicy") != "Delete"):
            continue
        path = spec.get("hostPath", {}).get("path", "")
        if os.path.dirname(path) == os.path.realpath(args.voldir):
            shutil.rmtree(path, ignore_errors=True)
        try:
            api.req("DELETE", "/api/v1/persistentvolumes/" + md["name"])
            log(f"volume: deleted {md['name']} ({path})")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise


def main():
    p = argparse.ArgumentParser()
    for a in ("--server", "--token-file", "--ca", "--hosts", "--dnsmasq-pid", "--voldir", "--node"):
        p.add_argument(a, required=True)
    p.add_argument("--class", dest="cls", default="local-path")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--once", action="store_true")
    args = p.parse_args()
    args.voldir = os.path.realpath(args.voldir)
    os.makedirs(args.voldir, exist_ok=True)
    with open(args.token_file) as f:
        api = Api(args.server, f.read().strip(), args.ca)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    state, last_err = {}, None
    while True:
        try:
            sync_dns(api, args, state)
            sync_volumes(api, args)
            last_err = None
        except Exception as e:  # API restarts, races with deletes: log once, retry next round
            if str(e) != last_err:
                log(f"error: {e}")
            last_err = str(e)
        if args.once:
            return
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
