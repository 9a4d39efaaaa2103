"""The MQTT image in ECR: registry login for a real push, and the emulator's stand-in.

A real push is done by the Dagger engine (``Container.publish``) with the password this module
writes to a file (read into a ``dagger.Secret``, never printed). The emulator has no registry,
so there the pipeline records the image's real OCI manifest with ``ecr.put_image``: ECR then
holds the same digest a push would have produced, and the template gets ``repo@sha256:...``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.aws import AwsTarget


def ensure_repository(target: AwsTarget, env: str) -> str:
    """The URI of ``env``'s image repository, created when a pr-<N> (or the emulator) lacks it.

    A preview's repository is its own, tagged with its Environment so that the preview role's
    per-PR deny keeps every other PR's session out of it; teardown deletes it. prod's and dev's
    come from infrastructure/bootstrap, so in a real account a missing one means the bootstrap
    has not been deployed.
    """
    name = environments.ecr_repository(env)
    ecr = target.client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])
        return str(repo["repositories"][0]["repositoryUri"])
    except ecr.exceptions.RepositoryNotFoundException:
        ephemeral = environments.env_kind(env) is environments.EnvKind.PR
        if not (ephemeral or target.emulated):
            raise RuntimeError(
                f"The ECR repository {name} does not exist: deploy infrastructure/bootstrap "
                "(see its README) before publishing images."
            ) from None
        tags = environments.stack_tags(env) if ephemeral else {"Project": environments.PROJECT}
        created = ecr.create_repository(
            repositoryName=name,
            # Mutable: a re-run of the same commit pushes its tag again; nothing runs by tag.
            imageTagMutability="MUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        if ephemeral:
            ecr.put_lifecycle_policy(
                repositoryName=name,
                lifecyclePolicyText=json.dumps(environments.PREVIEW_IMAGE_LIFECYCLE),
            )
        return str(created["repository"]["repositoryUri"])


def ecr_login(target: AwsTarget, env: str, password_file: Path) -> str:
    """Write the registry password to ``password_file``; return ``<registry> <repository URI>``."""
    uri = ensure_repository(target, env)
    auth = target.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    if user != "AWS" or not password:
        raise RuntimeError("ECR returned an authorization token in an unexpected format.")
    password_file.write_text(password)
    password_file.chmod(0o600)
    return f"{uri.split('/')[0]} {uri}"


def oci_manifest(tarball: Path) -> tuple[bytes, str, str]:
    """The image manifest of a single-platform OCI tarball: (bytes, media type, digest)."""
    with tarfile.open(tarball) as archive:

        def read(name: str) -> bytes:
            member = archive.extractfile(name)
            if member is None:
                raise ValueError(f"{tarball} has no {name}")
            return member.read()

        index = json.loads(read("index.json"))
        descriptor = index["manifests"][0]
        digest = str(descriptor["digest"])
        algorithm, _, hexdigest = digest.partition(":")
        blob = read(f"blobs/{algorithm}/{hexdigest}")
        media_type = str(descriptor.get("mediaType", "application/vnd.oci.image.manifest.v1+json"))
        if json.loads(blob).get("manifests"):
            raise ValueError("The tarball holds a multi-platform index; export one platform.")
    if f"sha256:{hashlib.sha256(blob).hexdigest()}" != digest:
        raise ValueError(f"{tarball}: manifest blob does not match its digest {digest}")
    return blob, media_type, digest


def planned_image_uri(target: AwsTarget, env: str, tarball: Path) -> str:
    """``repository@digest`` a push of this image would produce, without pushing (plan)."""
    name = environments.ecr_repository(env)
    ecr = target.client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])
        uri = str(repo["repositories"][0]["repositoryUri"])
    except ecr.exceptions.RepositoryNotFoundException:
        uri = f"{target.account_id()}.dkr.ecr.{target.region}.amazonaws.com/{name}"
    return f"{uri}@{oci_manifest(tarball)[2]}"


def register_oci_image(target: AwsTarget, env: str, commit: str, tarball: Path) -> str:
    """Emulator only: put the image's manifest into ECR; return ``repository@digest``."""
    if not target.emulated:
        raise RuntimeError("register-image is the emulator's stand-in; real accounts get a push.")
    uri = ensure_repository(target, env)
    manifest, media_type, digest = oci_manifest(tarball)
    ecr = target.client("ecr")
    try:
        pushed = ecr.put_image(
            repositoryName=environments.ecr_repository(env),
            imageManifest=manifest.decode(),
            imageManifestMediaType=media_type,
            imageTag=environments.image_tag(env, commit),
            # ECR checks a given digest against the manifest (moto would otherwise invent one).
            imageDigest=digest,
        )
    except ecr.exceptions.ImageAlreadyExistsException:
        # The same commit redeployed into a long-lived account: ECR already holds exactly this
        # manifest under this tag, which is what a repeated `docker push` leaves too.
        return f"{uri}@{digest}"
    recorded = str(pushed["image"]["imageId"]["imageDigest"])
    if recorded != digest:
        raise RuntimeError(f"ECR recorded digest {recorded}, the image has {digest}.")
    return f"{uri}@{digest}"


def docker_engine() -> str | None:
    """The Docker CLI (``$YSS_DOCKER``, else ``docker`` on PATH) when an engine answers it.

    Under ``dagger call`` that is the host's engine through ``--docker-socket``; without the
    socket the workspace's client finds no engine.
    """
    docker = os.environ.get("YSS_DOCKER") or shutil.which("docker")
    if docker is None:
        return None
    try:
        answer = subprocess.run([docker, "info"], capture_output=True, check=False)  # noqa: S603
    except OSError:  # $YSS_DOCKER names no program
        return None
    return docker if answer.returncode == 0 else None


def engine_holds(docker: str, image_id: str) -> bool:
    inspected = subprocess.run(  # noqa: S603 - fixed argv
        [docker, "image", "inspect", "--format", "{{.Id}}", image_id],
        capture_output=True,
        check=False,
    )
    return inspected.returncode == 0


def load_oci_tarball(docker: str, tarball: Path, tag: str) -> tuple[str, bool]:
    """Have the Docker engine hold the image of an OCI tarball, tagged ``tag``.

    Returns the image id (the manifest's config digest) and whether it had to be loaded.
    ``Container.as_tarball()`` and ``docker.save_oci`` write an OCI image layout; Docker before
    25 (Debian's 20.10) loads only the Docker archive layout, whose ``manifest.json`` names the
    config and layer files inside the tar. The blobs are the same, so what is streamed to
    ``docker load`` is the tarball's own config and layers under a ``manifest.json`` written
    from its OCI manifest (the one ECR recorded), replacing any the tarball had. Docker keeps
    the config bytes as they are, so the image id is the config digest ``mqtt_health`` runs.
    """
    manifest = json.loads(oci_manifest(tarball)[0])
    image_id = str(manifest["config"]["digest"])
    if engine_holds(docker, image_id):
        return image_id, False

    def member(digest: str) -> str:
        algorithm, _, hexdigest = digest.partition(":")
        return f"blobs/{algorithm}/{hexdigest}"

    layers = [member(str(layer["digest"])) for layer in manifest["layers"]]
    entry = [{"Config": member(image_id), "RepoTags": [tag], "Layers": layers}]
    index = json.dumps(entry).encode()
    loading = subprocess.Popen(  # noqa: S603 - fixed argv
        [docker, "load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with (
            tarfile.open(tarball) as source,
            tarfile.open(fileobj=loading.stdin, mode="w|") as archive,
        ):
            info = tarfile.TarInfo("manifest.json")
            info.size = len(index)
            archive.addfile(info, io.BytesIO(index))
            # A layer listed twice (an empty layer) is one file in the archive.
            for name in dict.fromkeys([member(image_id), *layers]):
                blob = _blob(source, name, tarball)
                archive.addfile(blob, source.extractfile(blob))
    except BrokenPipeError:
        pass  # `docker load` stopped reading; its own error follows
    except RuntimeError:
        loading.kill()
        loading.communicate()
        raise
    out, err = loading.communicate()
    said = (out + err).decode(errors="replace").strip().replace("\n", " | ")[-300:]
    if loading.returncode != 0:
        raise RuntimeError(f"`docker load` of {tarball} failed: {said}")
    if not engine_holds(docker, image_id):
        raise RuntimeError(
            f"`docker load` of {tarball} answered {said!r}, but the engine holds no image "
            f"{image_id[:19]}."
        )
    return image_id, True


def _blob(archive: tarfile.TarFile, name: str, tarball: Path) -> tarfile.TarInfo:
    try:
        found = archive.getmember(name)
    except KeyError:
        raise RuntimeError(f"{tarball} lacks the blob {name} its manifest names.") from None
    if not found.isfile():
        raise RuntimeError(f"{tarball}: {name} is not a regular file.")
    return found


def build_oci_tarball(repo_root: Path, destination: Path) -> Path:
    """Build mqtt/Dockerfile with the local Docker engine and export it as an OCI tarball.

    The host's stand-in for the engine's ``docker_build(...).as_tarball()``: used when an
    emulator deploy is given no ``--oci-tarball``. ``docker save`` writes an OCI layout on
    Docker 25 and later and the older Docker archive before; both become the layout
    ``oci_manifest`` reads.
    """
    docker = docker_engine()
    if docker is None:
        raise RuntimeError(
            "No --oci-tarball was given and no Docker engine answers to build mqtt/Dockerfile; "
            "start Docker or pass --oci-tarball (or --image-uri)."
        )
    tag = "yoto-smart-stream-mqtt:local"
    print(f"Building {tag} from mqtt/Dockerfile with Docker ...", flush=True)
    built = subprocess.run(  # noqa: S603 - fixed argv
        [docker, "build", "--file", "mqtt/Dockerfile", "--tag", tag, "."],
        cwd=repo_root,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        print(built.stdout[-3000:] + built.stderr[-3000:], file=sys.stderr, flush=True)
        raise RuntimeError(f"`docker build` of mqtt/Dockerfile failed (exit {built.returncode}).")
    return export_oci_tarball(docker, tag, destination)


def export_oci_tarball(docker: str, tag: str, destination: Path) -> Path:
    """``docker save`` ``tag`` as an OCI layout whose config is Docker's own bytes, so the
    manifest's config digest is the image id the engine knows it by (what the emulator's
    smoke test runs, ``mqtt_health``)."""
    saved = destination.with_suffix(".docker.tar")
    subprocess.run([docker, "save", "--output", str(saved), tag], check=True)  # noqa: S603
    _to_oci_layout(saved, destination)
    saved.unlink()
    return destination


def _to_oci_layout(saved: Path, destination: Path) -> None:
    """Write ``destination`` as an OCI image layout from a ``docker save`` archive."""
    with tarfile.open(saved) as archive:
        names = set(archive.getnames())
        if "index.json" in names and "oci-layout" in names:
            shutil.copyfile(saved, destination)
            return

        def read(name: str) -> bytes:
            member = archive.extractfile(name)
            if member is None:
                raise RuntimeError(f"docker save wrote no {name}")
            return member.read()

        entry = json.loads(read("manifest.json"))[0]
        blobs: dict[str, bytes] = {}

        def blob(data: bytes) -> dict[str, object]:
            digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
            blobs[digest] = data
            return {"digest": digest, "size": len(data)}

        config = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **blob(read(entry["Config"])),
        }
        layers = [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(read(layer))}
            for layer in entry["Layers"]
        ]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config,
                "layers": layers,
            },
            separators=(",", ":"),
        ).encode()
        descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest)}
    index = json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode()
    with tarfile.open(destination, "w") as out:
        for name, data in [
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("index.json", index),
            *((f"blobs/sha256/{d.split(':')[1]}", b) for d, b in blobs.items()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
