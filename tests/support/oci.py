"""A real single-platform OCI image tarball, built without a container runtime.

The host has no Docker, so the end-to-end test cannot run ``docker build``; this packs the MQTT
handler's sources as one layer with a proper config, manifest and index (the layout
``Container.as_tarball()`` produces), so ``register-image`` handles a genuine OCI archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def build_oci_tarball(source_dir: Path, destination: Path) -> str:
    """Write the tarball; return the manifest digest ``sha256:...``."""
    raw_layer = io.BytesIO()
    with tarfile.open(fileobj=raw_layer, mode="w") as layer:
        for path in sorted(
            p for p in source_dir.rglob("*") if p.is_file() and "__pycache__" not in str(p)
        ):
            _add_bytes(layer, f"app/{path.relative_to(source_dir).as_posix()}", path.read_bytes())
    diff_id = hashlib.sha256(raw_layer.getvalue()).hexdigest()
    layer_blob = gzip.compress(raw_layer.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["python", "-m", "yoto_mqtt"], "WorkingDir": "/app"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        }
    ).encode()
    blobs = {"layer": layer_blob, "config": config}
    digests = {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{digests['config']}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{digests['layer']}",
                    "size": len(layer_blob),
                }
            ],
        }
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest),
                }
            ],
        }
    ).encode()
    with tarfile.open(destination, "w") as archive:
        _add_bytes(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(archive, "index.json", index)
        _add_bytes(archive, f"blobs/sha256/{manifest_digest}", manifest)
        for name, blob in blobs.items():
            _add_bytes(archive, f"blobs/sha256/{digests[name]}", blob)
    return f"sha256:{manifest_digest}"
