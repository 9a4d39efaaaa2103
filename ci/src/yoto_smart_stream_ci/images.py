"""The MQTT image in ECR: registry login for a real push, and the emulator's stand-in.

A real push is done by the Dagger engine (``Container.publish``) with the password this module
writes to a file (read into a ``dagger.Secret``, never printed). The emulator has no registry,
so there the pipeline records the image's real OCI manifest with ``ecr.put_image``: ECR then
holds the same digest a push would have produced, and the template gets ``repo@sha256:...``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from pathlib import Path

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.aws import AwsTarget


def ensure_repository(target: AwsTarget, env: str) -> str:
    """The URI of ``env``'s scope repository; the emulator creates it when missing.

    In a real account infrastructure/bootstrap creates the three repositories and the deploy
    roles may not create any, so a missing one means the bootstrap has not been deployed.
    """
    name = environments.ecr_repository(env)
    ecr = target.client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])
        return str(repo["repositories"][0]["repositoryUri"])
    except ecr.exceptions.RepositoryNotFoundException:
        if not target.emulated:
            raise RuntimeError(
                f"The ECR repository {name} does not exist: deploy infrastructure/bootstrap "
                "(see its README) before publishing images."
            ) from None
        created = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            tags=[{"Key": "Project", "Value": environments.PROJECT}],
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
    pushed = target.client("ecr").put_image(
        repositoryName=environments.ecr_repository(env),
        imageManifest=manifest.decode(),
        imageManifestMediaType=media_type,
        imageTag=environments.image_tag(env, commit),
        # ECR checks a given digest against the manifest (moto would otherwise invent one).
        imageDigest=digest,
    )
    recorded = str(pushed["image"]["imageId"]["imageDigest"])
    if recorded != digest:
        raise RuntimeError(f"ECR recorded digest {recorded}, the image has {digest}.")
    return f"{uri}@{digest}"
