"""Provisioning bundles: everything one device needs from the server, in one file the installer copies.

``linli provision --site S --kind K --device D --bundle D.linli --broker-host H`` on the server writes a tar file
(mode 0600: it holds the device's MQTT password) with:

- ``bundle.json``: format version, site, kind, device, broker host/port (and TLS port), server URL, created (UTC);
- ``device.json``: the device's MQTT account, as ``linli provision`` writes it;
- ``ca.crt``: the site CA (only when the site uses TLS);
- ``update.pub``: the public key the device trusts for signed software updates (when the site has one).

``linli install … --bundle D.linli`` on the device reads it back. A bundle for another kind or device than the one
being installed is refused, so a bundle copied to the wrong Pi fails loudly instead of impersonating a device.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from linli.contract import DeviceRef, Kind
from linli.provision import SecretStore

BUNDLE_VERSION = 1
MAX_MEMBER_BYTES = 256 * 1024


class BundleError(ValueError):
    """A bundle that cannot be used; the message says why."""


@dataclass(frozen=True)
class Bundle:
    site: str
    kind: Kind
    device: str
    broker_host: str
    broker_port: int
    device_secret: dict
    server_url: str = ""
    broker_tls_port: int | None = None
    ca_pem: bytes | None = None
    update_pub_pem: bytes | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ref(self) -> DeviceRef:
        return DeviceRef(self.site, self.kind, self.device)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def make_bundle(store: SecretStore, ref: DeviceRef, out: str | Path, broker_host: str, broker_port: int = 1883,
                server_url: str = "", broker_tls_port: int | None = None, ca_file: str | Path | None = None,
                update_pub_file: str | Path | None = None) -> Path:
    """Provision ``ref`` (keeping an existing password) and write its bundle to ``out`` (mode 0600)."""
    secret_path, _ = store.provision_device(ref)
    meta = {"version": BUNDLE_VERSION, "site": ref.site, "kind": ref.kind.value, "device": ref.device,
            "broker": {"host": broker_host, "port": broker_port, "tls_port": broker_tls_port},
            "server_url": server_url, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w:gz") as tar:
        _add(tar, "bundle.json", json.dumps(meta, indent=2).encode())
        _add(tar, "device.json", secret_path.read_bytes())
        if ca_file:
            _add(tar, "ca.crt", Path(ca_file).read_bytes())
        if update_pub_file:
            _add(tar, "update.pub", Path(update_pub_file).read_bytes())
    os.chmod(out, 0o600)
    return out


def read_bundle(path: str | Path) -> Bundle:
    """Read and check a bundle; :class:`BundleError` names the file and what is wrong."""
    path = Path(path)
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar.getmembers():
                if not info.isfile() or "/" in info.name or info.size > MAX_MEMBER_BYTES:
                    raise BundleError(f"{path}: unexpected entry {info.name!r} in the bundle")
                fh = tar.extractfile(info)
                members[info.name] = fh.read() if fh else b""
    except FileNotFoundError:
        raise BundleError(f"{path}: bundle not found (make it on the server with `linli provision … --bundle`)") \
            from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{path}: not a linli bundle ({exc})") from None
    try:
        meta = json.loads(members["bundle.json"])
        secret = json.loads(members["device.json"])
    except KeyError as exc:
        raise BundleError(f"{path}: the bundle lacks {exc.args[0]}") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: damaged bundle ({exc})") from None
    if meta.get("version") != BUNDLE_VERSION:
        raise BundleError(f"{path}: bundle version {meta.get('version')!r}; this linli reads {BUNDLE_VERSION}")
    try:
        kind = Kind(meta["kind"])
        ref = DeviceRef(meta["site"], kind, meta["device"])
        broker = meta["broker"]
        bundle = Bundle(site=ref.site, kind=kind, device=ref.device, broker_host=str(broker["host"]),
                        broker_port=int(broker["port"]), device_secret=secret,
                        server_url=str(meta.get("server_url") or ""),
                        broker_tls_port=int(broker["tls_port"]) if broker.get("tls_port") else None,
                        ca_pem=members.get("ca.crt"), update_pub_pem=members.get("update.pub"),
                        created=str(meta.get("created", "")))
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"{path}: damaged bundle ({exc})") from None
    if secret.get("device") != bundle.device or secret.get("site") != bundle.site:
        raise BundleError(f"{path}: the account inside is for another device")
    return bundle
