"""``linli install``: put an agent (on a Raspberry Pi) or the server (on a Debian machine) in place as services.

The steps, in order, each idempotent (running the install again repairs and updates, it never duplicates):

1. system packages the role needs (``apt-get``; a lift guard needs espeak-ng, a taxi kiosk also Chromium and cage;
   the server Mosquitto) — nothing else, no PostgreSQL or browser on a Pi that does not need them;
2. the ``linli`` service user, in the device groups that exist (gpio, dialout, video, audio…);
3. the code: the source tree copied into slot ``a`` (``/opt/linli/slots/a/src``) with its own virtual environment,
   ``/opt/linli/current`` pointing at it (updates install into the other slot and switch);
4. the config from the kind's template ``config/<kind>.yaml``: site, device, broker and secrets from the bundle,
   absolute paths, the real pin factory, and any ``--set key=value`` the installer gives (serial ports, camera URL…),
   validated with the agent's own config model before anything is written;
5. secrets (0600) from the provisioning bundle; a new local-page password, printed once and stored as argon2 hash;
6. the systemd units, then ``systemctl enable`` (``--now`` when installing onto the running system).

``--root DIR`` installs into a scratch root instead of ``/`` (an SD card image mounted somewhere, or the tests);
``--no-system`` skips the steps that change the running machine (apt, useradd, chown, pip, starting services).
"""

from __future__ import annotations

import grp
import os
import secrets as pysecrets
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from linli.contract import Kind
from linli.deploy.bundle import Bundle, BundleError, read_bundle
from linli.deploy.units import (
    AGENT_GROUPS,
    SERVER_BROKER_PORT,
    Layout,
    agent_unit,
    kiosk_browser_unit,
    mosquitto_dropin,
    server_unit,
)

SOURCE_ROOT = Path(__file__).resolve().parents[2]
#: Debian packages per role, beyond python3-venv. Only what the kind uses.
PACKAGES: dict[str, tuple[str, ...]] = {
    "agent": ("python3-venv",),
    Kind.lift_guard.value: ("espeak-ng", "fonts-noto-cjk"),
    Kind.gate.value: ("espeak-ng",),
    Kind.charger.value: (),
    Kind.taxi_kiosk.value: ("espeak-ng", "fonts-noto-cjk", "chromium", "cage"),
    Kind.probe.value: (),
    "server": ("python3-venv", "mosquitto", "mosquitto-clients", "fonts-noto-cjk"),
}
_SKIP_COPY = {".git", ".venv", "var", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
              ".mutmut-cache", "mutants", ".gl", ".whl"}


class InstallError(RuntimeError):
    """An install that cannot go on; the message says what and where."""


def set_key(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_key(doc, "hal.serial.mcu.url", "/dev/ttyUSB0")``: creates the mappings on the way."""
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise InstallError(f"--set {dotted}: {part} is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_sets(pairs: list[str]) -> list[tuple[str, Any]]:
    out = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InstallError(f"--set {pair!r}: write key=value, e.g. --set hal.serial.mcu.url=/dev/ttyUSB0")
        out.append((key.strip(), yaml.safe_load(raw) if raw.strip() else ""))
    return out


@dataclass
class Installer:
    root: Path = Path("/")
    layout: Layout = field(default_factory=Layout)
    source: Path = SOURCE_ROOT
    system: bool = True            # apt, useradd, chown, pip, start services
    enable: bool = True
    venv_from: Path | None = None  # reuse this environment's packages (tests, offline installs)
    say: Callable[[str], None] = print
    done: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ paths
    def at(self, path: PurePosixPath | str) -> Path:
        """A target path under the install root."""
        return self.root / str(path).lstrip("/")

    def _write(self, path: PurePosixPath | str, text: str | bytes, mode: int = 0o644) -> Path:
        dest = self.at(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
        self.done.append(str(path))
        return dest

    def _run(self, cmd: list[str]) -> None:
        self.say("  $ " + " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise InstallError(f"{' '.join(cmd[:3])}… failed (exit {proc.returncode}): {' / '.join(detail)}")

    # ------------------------------------------------------------------ steps
    def packages(self, names: tuple[str, ...]) -> None:
        if not self.system:
            self.say(f"[1] packages (skipped, --no-system): {' '.join(names) or 'none'}")
            return
        missing = [n for n in names
                   if subprocess.run(["dpkg-query", "-W", "-f=${Status}", n], capture_output=True,
                                     text=True).stdout.find("install ok installed") < 0]
        self.say(f"[1] packages: {' '.join(missing) or 'all present'}")
        if missing:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                                  capture_output=True, text=True)
            if proc.returncode:
                raise InstallError(f"apt-get install {' '.join(missing)} failed: {proc.stderr.strip()[-300:]}")

    def groups_present(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        group_file = self.at("/etc/group")
        if group_file.exists():
            names = {line.split(":", 1)[0] for line in group_file.read_text().splitlines() if line}
        else:
            names = {g.gr_name for g in grp.getgrall()} if self.root == Path("/") else set()
        return tuple(g for g in wanted if g in names)

    def user(self, name: str, groups: tuple[str, ...]) -> None:
        if not self.system:
            self.say(f"[2] user {name} (skipped, --no-system), groups: {' '.join(groups) or '-'}")
            return
        try:
            import pwd
            pwd.getpwnam(name)
            exists = True
        except KeyError:
            exists = False
        if not exists:
            self._run(["useradd", "--system", "--home-dir", str(self.layout.state), "--shell", "/usr/sbin/nologin",
                       "--user-group", name])
        if groups:
            self._run(["usermod", "-a", "-G", ",".join(groups), name])
        self.say(f"[2] user {name}, groups: {' '.join(groups) or '-'}")

    def code(self, slot: str = "a") -> PurePosixPath:
        """Copy the source into the slot, make its environment, point ``current`` at it."""
        slot_dir = self.layout.slot(slot)
        src_dest = self.at(slot_dir / "src")
        if src_dest.exists():
            shutil.rmtree(src_dest)
        shutil.copytree(self.source, src_dest, symlinks=False,
                        ignore=lambda _d, names: [n for n in names if n in _SKIP_COPY or n.endswith(".pyc")])
        # Third-party packages live in one shared environment (``deps``) that updates never delete; each slot has a
        # small environment of its own whose .pth puts the slot's source in front of them.
        if self.venv_from is not None:
            deps_site = next((Path(self.venv_from) / "lib").glob("python3*/site-packages"))
        else:
            deps_dir = self.at(self.layout.prefix / "deps")
            if not (deps_dir / "bin" / "python").exists():
                venv.EnvBuilder(with_pip=True, symlinks=False).create(deps_dir)
            if self.system:
                self._run([str(deps_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", str(src_dest)])
            site_dir = next((deps_dir / "lib").glob("python3*/site-packages"))
            deps_site = PurePosixPath(self.layout.prefix / "deps") / site_dir.relative_to(deps_dir).as_posix()
        venv_dir = self.at(slot_dir / "venv")
        if not (venv_dir / "bin" / "python").exists():
            venv.EnvBuilder(with_pip=False, symlinks=False).create(venv_dir)
        site = next((venv_dir / "lib").glob("python3*/site-packages"))
        (site / "linli-slot.pth").write_text(f"{slot_dir}/src\n{deps_site}\n")
        current = self.at(self.layout.current)
        current.parent.mkdir(parents=True, exist_ok=True)
        tmp = current.with_name("current.tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(Path("slots") / slot)
        os.replace(tmp, current)
        (self.at(slot_dir) / "VERSION").write_text(_version(self.source) + "\n")
        self._write("/usr/local/bin/linli", f'#!/bin/sh\nexec {self.layout.python} -m linli.cli "$@"\n', 0o755)
        self._write(self.layout.prefix / "bootguard.py", (Path(__file__).parent / "bootguard.py").read_bytes(), 0o755)
        self.say(f"[3] code: {slot_dir} ({_version(self.source)}), {self.layout.current} -> slots/{slot}")
        return slot_dir

    def own(self, *paths: PurePosixPath, user: str | None = None) -> None:
        if not self.system:
            return
        for p in paths:
            self._run(["chown", "-R", f"{user or self.layout.user}:{user or self.layout.user}", str(self.at(p))])

    def enable_units(self, units: list[str]) -> None:
        if not self.enable:
            self.say(f"[6] not enabled (--no-enable): {' '.join(units)}")
            return
        if self.root == Path("/") and self.system:
            self._run(["systemctl", "daemon-reload"])
            self._run(["systemctl", "enable", "--now", *units])
        else:
            self._run(["systemctl", f"--root={self.root}", "enable", *units])
        self.say(f"[6] enabled: {' '.join(units)}")

    # ------------------------------------------------------------------ roles
    def agent_config(self, bundle: Bundle, overrides: list[tuple[str, Any]], local_hash_file: PurePosixPath) -> dict:
        template = self.source / "config" / f"{bundle.kind.value}.yaml"
        if not template.exists():
            raise InstallError(f"{template}: no config template for kind {bundle.kind.value}")
        doc = yaml.safe_load(template.read_text(encoding="utf-8"))
        secrets_dir = self.layout.secrets
        doc.update(site=bundle.site, kind=bundle.kind.value, device=bundle.device)
        mqtt = doc.setdefault("mqtt", {})
        mqtt["host"] = bundle.broker_host
        mqtt["password_file"] = str(secrets_dir / "device.json")
        if bundle.ca_pem and bundle.broker_tls_port:
            mqtt["port"] = bundle.broker_tls_port
            mqtt["tls"] = {"ca_file": str(secrets_dir / "ca.crt")}
        else:
            mqtt["port"] = bundle.broker_port
        page = doc.setdefault("local_page", {})
        page["host"] = "0.0.0.0"  # maintenance staff open it from a phone on the site's network
        page["password_file"] = str(local_hash_file)
        doc["data_dir"] = str(self.layout.state / bundle.device)
        doc.setdefault("hal", {})["pin_factory"] = "auto"
        if bundle.update_pub_pem:
            doc["update"] = {"enabled": True, "prefix": str(self.layout.prefix),
                             "public_key_file": str(secrets_dir / "update.pub")}
        _absolute_models(doc, self.layout.current / "src")
        for key, value in overrides:
            set_key(doc, key, value)
        from edge.runtime.config import ConfigError, parse_config

        where = str(self.layout.agent_config(bundle.device))
        try:
            parse_config(doc, where)
        except ConfigError as exc:
            raise InstallError(f"the device's config would not be valid: {exc}") from None
        return doc

    def install_agent(self, kind: str, device: str, bundle_path: str | Path, server_url: str = "",
                      sets: list[str] | None = None) -> dict[str, Any]:
        try:
            bundle = read_bundle(bundle_path)
        except BundleError as exc:
            raise InstallError(str(exc)) from None
        if bundle.kind.value != kind or bundle.device != device:
            raise InstallError(f"{bundle_path}: this bundle is for {bundle.kind.value} {bundle.device}, not "
                               f"{kind} {device}: copy the right bundle from the server")
        overrides = parse_sets(sets or [])
        lay = self.layout
        self.say(f"installing linli agent {bundle.site}/{kind}/{device} into {self.root}")
        self.packages(PACKAGES["agent"] + PACKAGES.get(kind, ()))
        groups = self.groups_present(AGENT_GROUPS)
        self.user(lay.user, groups)
        self.code()
        password = pysecrets.token_urlsafe(9)
        hash_file = lay.secrets / f"localpage-{device}.txt"
        doc = self.agent_config(bundle, overrides, hash_file)
        header = (f"# linli agent {bundle.site}/{kind}/{device}, written by `linli install` from "
                  f"config/{kind}.yaml. Check: linli agent -c {lay.agent_config(device)} --check\n")
        self._write(lay.agent_config(device), header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                    0o640)
        self._write(lay.secrets / "device.json", _json(bundle.device_secret), 0o600)
        if bundle.ca_pem:
            self._write(lay.secrets / "ca.crt", bundle.ca_pem, 0o644)
        if bundle.update_pub_pem:
            self._write(lay.secrets / "update.pub", bundle.update_pub_pem, 0o644)
        from argon2 import PasswordHasher

        self._write(hash_file, PasswordHasher().hash(password) + "\n", 0o600)
        self.say(f"[5] secrets in {lay.secrets} (0600)")
        units = [f"linli-agent@{device}.service"]
        self._write("/etc/systemd/system/linli-agent@.service", agent_unit(lay, groups or AGENT_GROUPS))
        if kind == Kind.taxi_kiosk.value:
            kp = doc.get("app", {}).get("kiosk_page", {})
            url = f"http://127.0.0.1:{kp.get('port', 8690)}/"
            self.user("linli-kiosk", self.groups_present(("video", "render", "input", "audio")))
            self._write("/etc/systemd/system/linli-kiosk-browser@.service", kiosk_browser_unit(url, lay))
            units.append("linli-kiosk-browser@tty1.service")
        self.at(lay.state / device).mkdir(parents=True, exist_ok=True)
        self.own(lay.state, lay.secrets, lay.prefix)
        self.enable_units(units)
        self.say(f"done. Local maintenance page: http://<this Pi>:{doc['local_page'].get('port', 8601)}/  "
                 f"user {doc['local_page'].get('username', 'maint')}  password {password}  (shown once)")
        if server_url:
            self.say(f"server: {server_url}")
        return {"units": units, "config": str(lay.agent_config(device)), "password": password}

    def install_server(self, broker_host: str = "0.0.0.0", broker_port: int = 1883,
                       server_port: int = SERVER_BROKER_PORT, http_host: str = "0.0.0.0",
                       http_port: int = 8600, database_url: str = "", sets: list[str] | None = None) -> dict[str, Any]:
        from linli.provision import SecretStore

        lay = self.layout
        self.say(f"installing linli server into {self.root}")
        self.packages(PACKAGES["server"])
        self.user(lay.user, ())
        self.code()
        doc = yaml.safe_load((self.source / "config" / "server.yaml").read_text(encoding="utf-8")) or {}
        state = lay.state / "server"
        doc.setdefault("database", {})["url"] = database_url or f"sqlite:///{state}/linli.db"
        doc.setdefault("mqtt", {}).update(host="127.0.0.1", port=server_port,
                                          credentials_file=str(lay.secrets / "server.json"))
        doc.setdefault("http", {}).update(host=http_host, port=http_port)
        doc.setdefault("storage", {})["data_dir"] = str(state)
        doc.setdefault("auth", {})["users_file"] = str(lay.secrets / "users.yaml")
        for key, value in parse_sets(sets or []):
            set_key(doc, key, value)
        from server.settings import Settings

        try:
            Settings.model_validate(doc)
        except Exception as exc:
            raise InstallError(f"the server's config would not be valid: {exc}") from None
        self._write(lay.etc / "server.yaml", "# linli server, written by `linli install --role server`\n"
                    + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), 0o640)
        store = SecretStore(self.at(lay.secrets))
        store.server_credentials()
        store.write_broker_files()
        self._write("/etc/mosquitto/conf.d/linli.conf", mosquitto_dropin(lay, broker_port, host=broker_host,
                                                                             server_port=server_port))
        self._write("/etc/systemd/system/linli-server.service", server_unit(lay))
        self.at(state).mkdir(parents=True, exist_ok=True)
        self.own(lay.state, lay.secrets)
        if self.system:
            broker_files = [self.at(lay.secrets / "broker" / n) for n in ("passwd", "passwd_server", "acl")]
            self._run(["chgrp", "mosquitto", *map(str, broker_files)])
            for f in broker_files:
                os.chmod(f, 0o640)
            os.chmod(self.at(lay.secrets / "broker"), 0o750)
        self.enable_units(["mosquitto.service", "linli-server.service"])
        self.say(f"done. Create the first admin: {lay.python} -m server.auth add-user admin --role admin "
                 f"--file {lay.secrets}/users.yaml ; then open http://<server>:{http_port}/")
        return {"units": ["linli-server.service"], "config": str(lay.etc / "server.yaml")}


def _absolute_models(doc: Any, src: PurePosixPath) -> None:
    """Model files ship in the slot's source tree: make ``models/…`` paths absolute."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, str) and v.startswith("models/"):
                doc[k] = str(src / v)
            else:
                _absolute_models(v, src)
    elif isinstance(doc, list):
        for item in doc:
            _absolute_models(item, src)


def _json(doc: Any) -> str:
    import json

    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _version(source: Path) -> str:
    from linli import __version__

    try:
        rev = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev = ""
    return f"{__version__}+{rev}" if rev else __version__


def main(args: Any) -> int:
    lay = Layout()
    inst = Installer(root=Path(args.root), layout=lay, system=not args.no_system, enable=not args.no_enable,
                     venv_from=Path(args.venv_from) if args.venv_from else None)
    if inst.root == Path("/") and inst.system and os.geteuid() != 0:
        print("linli install: run it as root (sudo), or use --root DIR --no-system to prepare an image",
              file=sys.stderr)
        return 2
    try:
        if args.role == "server":
            inst.install_server(broker_port=args.broker_port, http_port=args.http_port,
                                database_url=args.database_url or "", sets=args.set)
        else:
            if not (args.kind and args.device and args.bundle):
                print("linli install: an agent needs --kind, --device and --bundle", file=sys.stderr)
                return 2
            inst.install_agent(args.kind, args.device, args.bundle, args.server or "", args.set)
    except InstallError as exc:
        print(f"linli install: {exc}", file=sys.stderr)
        return 2
    return 0
