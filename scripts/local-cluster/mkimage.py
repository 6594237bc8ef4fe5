#!/usr/bin/env python3
"""mkimage.py ROOTFS_TAR OUT_TAR REF CMD_JSON [USER]

Wraps a root-filesystem tar as a one-layer docker-archive that `ctr -n k8s.io images import`
accepts (used by scripts/local-cluster.sh for the pause image: no registry, no builder)."""
import hashlib, io, json, sys, tarfile

rootfs, out, ref, cmd = sys.argv[1:5]
user = sys.argv[5] if len(sys.argv) > 5 else ""
h = hashlib.sha256()
with open(rootfs, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
layer = h.hexdigest()
config = {
    "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
    "config": {"Cmd": json.loads(cmd), "WorkingDir": "/",
               "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               **({"User": user} if user else {})},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer]},
}
cfg = json.dumps(config, sort_keys=True).encode()
cfg_id = hashlib.sha256(cfg).hexdigest()
manifest = [{"Config": cfg_id + ".json", "RepoTags": [ref], "Layers": [layer + "/layer.tar"]}]
with tarfile.open(out, "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    add(cfg_id + ".json", cfg)
    t.add(rootfs, arcname=layer + "/layer.tar")
    add("manifest.json", json.dumps(manifest).encode())
