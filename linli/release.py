"""Signed software releases: what the server publishes and what a device accepts.

A release is a gzip'd tar of the source tree (``src/…``) plus a manifest::

    {"version": "0.2.0", "sha256": "<hex of the tar.gz>", "size": 12345, "created": "…Z",
     "signature": "<base64 Ed25519 signature of  'linli-release:v1:<version>:<sha256>:<size>'>"}

The device checks size, SHA-256 and the signature against the public key it was installed with
(``/etc/linli/secrets/update.pub``) before anything is unpacked; a release that fails any check is refused and the
device keeps running what it has. Keys: ``linli release keygen`` (the private key stays on the server, 0600).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `cryptography` is imported where keys are made, read or checked: an agent that is not
    # updating never loads it (~6 MB of a lift guard's memory, see bench/lift_guard.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,47}$")
MAX_RELEASE_BYTES = 200 * 1024 * 1024
_SKIP = {".git", ".venv", "var", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
         "mutants", ".gl", ".whl"}


class ReleaseError(ValueError):
    """A release that must not be installed; the message says which check failed."""


@dataclass(frozen=True)
class Manifest:
    version: str
    sha256: str
    size: int
    signature: str
    created: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, doc: dict) -> Manifest:
        try:
            m = cls(version=str(doc["version"]), sha256=str(doc["sha256"]).lower(), size=int(doc["size"]),
                    signature=str(doc["signature"]), created=str(doc.get("created", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReleaseError(f"release manifest is incomplete: {exc}") from None
        if not VERSION_RE.fullmatch(m.version):
            raise ReleaseError(f"release version {m.version!r} is not allowed")
        if not re.fullmatch(r"[0-9a-f]{64}", m.sha256) or not 0 < m.size <= MAX_RELEASE_BYTES:
            raise ReleaseError("release manifest has a bad checksum or size")
        return m


def signed_text(version: str, sha256: str, size: int) -> bytes:
    return f"linli-release:v1:{version}:{sha256}:{size}".encode()


def keygen(private_path: str | Path, public_path: str | Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(priv)
    Path(public_path).write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))


def load_private(path: str | Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{path}: not an Ed25519 private key")
    return key


def load_public(pem: bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ReleaseError(f"the trusted update key is unreadable: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError("the trusted update key is not an Ed25519 key")
    return key


def pack_source(source: str | Path, version: str) -> bytes:
    """The release archive: the source tree under ``src/`` and ``src/RELEASE`` naming the version."""
    source = Path(source)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if any(part in _SKIP for part in rel.parts) or path.suffix == ".pyc" or path.is_symlink():
                continue
            if path.is_file():
                tar.add(path, arcname=f"src/{rel.as_posix()}", recursive=False)
        data = version.encode() + b"\n"
        info = tarfile.TarInfo("src/RELEASE")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sign(archive: bytes, version: str, key: Ed25519PrivateKey) -> Manifest:
    if not VERSION_RE.fullmatch(version):
        raise ReleaseError(f"release version {version!r} is not allowed")
    digest = hashlib.sha256(archive).hexdigest()
    sig = key.sign(signed_text(version, digest, len(archive)))
    return Manifest(version, digest, len(archive), base64.b64encode(sig).decode(),
                    datetime.now(UTC).isoformat(timespec="seconds"))


def make_release(source: str | Path, version: str, private_key: str | Path, out_dir: str | Path) -> Manifest:
    archive = pack_source(source, version)
    manifest = sign(archive, version, load_private(private_key))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"linli-{version}.tar.gz").write_bytes(archive)
    (out / f"linli-{version}.json").write_text(manifest.to_json())
    return manifest


def verify_file(path: str | Path, manifest: Manifest, public_pem: bytes) -> None:
    """Raise :class:`ReleaseError` unless the file is exactly the signed release."""
    path = Path(path)
    size = path.stat().st_size
    if size != manifest.size:
        raise ReleaseError(f"release {manifest.version}: size {size} B, the manifest says {manifest.size} B")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != manifest.sha256:
        raise ReleaseError(f"release {manifest.version}: checksum does not match the manifest")
    from cryptography.exceptions import InvalidSignature

    try:
        sig = base64.b64decode(manifest.signature, validate=True)
        load_public(public_pem).verify(sig, signed_text(manifest.version, manifest.sha256, manifest.size))
    except (InvalidSignature, ValueError):
        raise ReleaseError(f"release {manifest.version}: bad signature (not signed by the key this device trusts)") \
            from None


def unpack(path: str | Path, dest: str | Path) -> Path:
    """Unpack a verified release's ``src/`` into ``dest`` (refusing links and paths outside it)."""
    dest = Path(dest)
    with tarfile.open(path, mode="r:gz") as tar:
        for m in tar.getmembers():
            if not (m.isfile() or m.isdir()) or not m.name.startswith("src/") or ".." in Path(m.name).parts:
                raise ReleaseError(f"release archive entry {m.name!r} is not allowed")
        tar.extractall(dest, filter="data")
    return dest / "src"


def running_version() -> str:
    """The version of the code this process runs: the release's ``RELEASE`` file, else the installed package's."""
    import linli

    marker = Path(linli.__file__).resolve().parents[1] / "RELEASE"
    try:
        text = marker.read_text(encoding="utf-8").strip()
        if VERSION_RE.fullmatch(text):
            return text
    except OSError:
        pass
    return linli.__version__
