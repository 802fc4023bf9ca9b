"""Device and server MQTT credentials, and the broker's password and ACL files made from them.

Layout of a secrets folder (default ``var/secrets``; every file 0600)::

    devices/<site>.<device>.json   one per device: {"site","kind","device","username","password"}
    server.json                    the server's own account
    broker/passwd                  Mosquitto password file of the device accounts (PBKDF2-SHA512, ``$7$`` format)
    broker/passwd_server           Mosquitto password file of the server account (its own listener)
    broker/acl                     Mosquitto ACL: each device writes only its own subtree, reads only its cmd/ + config/
    broker/amqtt_passwd            the same accounts for the embedded amqtt broker (argon2; written when it starts)
    tls/                           the site CA and certificates (``linli provision --tls``, see :mod:`linli.tls`)

``linli provision`` writes a device file (keeping an existing password unless ``--rotate``) and always
regenerates the broker files from every device file, so the broker files never drift from the secrets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from linli.contract import DeviceRef, Kind, server_acl_pattern
from linli.tls import TlsFiles

SERVER_USERNAME = "linli-server"
#: The read-only account a compound's Home Assistant uses (``linli provision --homeassistant``).
HA_USERNAME = "homeassistant"
#: Where the server publishes what Home Assistant reads: discovery configs and the devices' derived state.
HA_DISCOVERY_PREFIX = "homeassistant"
HA_STATE_PREFIX = "linli-ha"


def ha_read_patterns() -> list[str]:
    return [f"{HA_DISCOVERY_PREFIX}/#", f"{HA_STATE_PREFIX}/#"]
MOSQUITTO_PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = MOSQUITTO_PBKDF2_ITERATIONS) -> str:
    """A Mosquitto 2 password-file hash (``$7$iterations$salt$hash``, PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class SecretStore:
    """The secrets folder of a site installation."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # paths
    @property
    def devices_dir(self) -> Path:
        return self.root / "devices"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def passwd_file(self) -> Path:
        return self.broker_dir / "passwd"

    @property
    def server_passwd_file(self) -> Path:
        return self.broker_dir / "passwd_server"

    @property
    def acl_file(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def amqtt_passwd_file(self) -> Path:
        return self.broker_dir / "amqtt_passwd"

    @property
    def tls_files(self) -> TlsFiles:
        return TlsFiles(self.root / "tls")

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    def device_file(self, ref: DeviceRef) -> Path:
        return self.devices_dir / f"{ref.site}.{ref.device}.json"

    # accounts
    def provision_device(self, ref: DeviceRef, rotate: bool = False) -> tuple[Path, Credentials]:
        path = self.device_file(ref)
        if path.exists() and not rotate:
            existing = json.loads(path.read_text(encoding="utf-8"))
            if existing.get("kind") != ref.kind.value:
                raise ValueError(
                    f"{path}: device {ref.site}/{ref.device} is already provisioned as kind "
                    f"{existing.get('kind')!r}; revoke it first"
                )
            creds = Credentials(existing["username"], existing["password"])
        else:
            creds = Credentials(ref.mqtt_username, secrets.token_urlsafe(24))
            doc = {"site": ref.site, "kind": ref.kind.value, "device": ref.device,
                   "username": creds.username, "password": creds.password}
            _write_private(path, json.dumps(doc, indent=2) + "\n")
        self.write_broker_files()
        return path, creds

    def provision_devices(self, refs: list[DeviceRef]) -> None:
        """Provision many devices at once (new ones get a password; existing ones keep theirs), then write the
        broker files once (a fleet of simulated devices; a site's first commissioning)."""
        for ref in refs:
            if not self.device_file(ref).exists():
                doc = {"site": ref.site, "kind": ref.kind.value, "device": ref.device,
                       "username": ref.mqtt_username, "password": secrets.token_urlsafe(24)}
                _write_private(self.device_file(ref), json.dumps(doc, indent=2) + "\n")
        self.write_broker_files()

    def revoke_device(self, ref: DeviceRef) -> bool:
        path = self.device_file(ref)
        existed = path.exists()
        if existed:
            path.unlink()
        self.write_broker_files()
        return existed

    def server_credentials(self, rotate: bool = False) -> Credentials:
        if self.server_file.exists() and not rotate:
            doc = json.loads(self.server_file.read_text(encoding="utf-8"))
            return Credentials(doc["username"], doc["password"])
        creds = Credentials(SERVER_USERNAME, secrets.token_urlsafe(24))
        _write_private(self.server_file, json.dumps({"username": creds.username, "password": creds.password}) + "\n")
        self.write_broker_files()
        return creds

    @property
    def ha_file(self) -> Path:
        return self.root / "homeassistant.json"

    def ha_credentials(self, rotate: bool = False) -> Credentials:
        """The read-only Home Assistant account (made on first use)."""
        if self.ha_file.exists() and not rotate:
            doc = json.loads(self.ha_file.read_text(encoding="utf-8"))
            return Credentials(doc["username"], doc["password"])
        creds = Credentials(HA_USERNAME, secrets.token_urlsafe(24))
        _write_private(self.ha_file, json.dumps({"username": creds.username, "password": creds.password}) + "\n")
        self.write_broker_files()
        return creds

    def _ha(self) -> list[Credentials]:
        if not self.ha_file.exists():
            return []
        doc = json.loads(self.ha_file.read_text(encoding="utf-8"))
        return [Credentials(doc["username"], doc["password"])]

    def devices(self) -> list[tuple[DeviceRef, Credentials]]:
        out = []
        for path in sorted(self.devices_dir.glob("*.json")) if self.devices_dir.exists() else []:
            doc = json.loads(path.read_text(encoding="utf-8"))
            ref = DeviceRef(doc["site"], Kind(doc["kind"]), doc["device"])
            out.append((ref, Credentials(doc["username"], doc["password"])))
        return out

    # broker files
    def write_broker_files(self) -> None:
        devices = self.devices()
        accounts = self.accounts()
        # Two listeners, two password files: device accounts may only use the device listener (where the client
        # id is bound to the account), the server account only its own listener.
        _write_private(self.passwd_file, "".join(f"{c.username}:{mosquitto_hash(c.password)}\n"
                                                 for c in [c for _, c in devices] + self._ha()))
        server = [c for c in accounts if c.username == SERVER_USERNAME]
        _write_private(self.server_passwd_file,
                       "".join(f"{c.username}:{mosquitto_hash(c.password)}\n" for c in server))
        lines = ["# generated by `linli provision`; do not edit — edit the secrets folder instead", ""]
        lines += [f"user {SERVER_USERNAME}", f"topic readwrite {server_acl_pattern()}",
                  *(f"topic readwrite {t}" for t in ha_read_patterns()), ""]
        for c in self._ha():  # Home Assistant reads what the server publishes for it, and says it is up
            lines += [f"user {c.username}", *(f"topic read {t}" for t in ha_read_patterns()),
                      f"topic write {HA_DISCOVERY_PREFIX}/status", ""]
        for ref, creds in devices:
            lines.append(f"user {creds.username}")
            lines += [f"topic write {t}" for t in ref.acl_publish()]
            lines += [f"topic read {t}" for t in ref.acl_subscribe()]
            lines.append("")
        _write_private(self.acl_file, "\n".join(lines))

    def accounts(self) -> list[Credentials]:
        out = []
        if self.server_file.exists():
            doc = json.loads(self.server_file.read_text(encoding="utf-8"))
            out.append(Credentials(doc["username"], doc["password"]))
        return out + [c for _, c in self.devices()] + self._ha()

    def write_amqtt_passwd(self) -> None:
        """The same accounts for the embedded amqtt broker (argon2: slow, so only written when that broker starts)."""
        from argon2 import PasswordHasher

        ph = PasswordHasher()
        accounts = self.accounts()
        _write_private(self.amqtt_passwd_file, "".join(f"{c.username}:{ph.hash(c.password)}\n" for c in accounts))

    def acl_rules(self) -> dict[str, tuple[list[str], list[str]]]:
        """username → (publish patterns, subscribe patterns), for the embedded broker."""
        rules = {SERVER_USERNAME: ([server_acl_pattern(), *ha_read_patterns()],
                                   [server_acl_pattern(), f"$share/+/{server_acl_pattern()}"])}
        for c in self._ha():
            rules[c.username] = ([f"{HA_DISCOVERY_PREFIX}/status"], ha_read_patterns())
        for ref, creds in self.devices():
            rules[creds.username] = (ref.acl_publish(), ref.acl_subscribe())
        return rules


def read_credentials(path: str | Path) -> Credentials:
    """Read a device or server secret file (written by provision)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return Credentials(doc["username"], doc["password"])
    except FileNotFoundError:
        raise ValueError(f"{p}: secret file not found — run `linli provision` for this device") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a linli secret file ({exc})") from None
