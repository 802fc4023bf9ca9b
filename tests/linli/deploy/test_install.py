"""``linli provision --bundle`` → ``linli install`` into a scratch root with the real units, checked by systemd's own
``systemd-analyze verify``; and an installed agent run the way its unit runs it, answering systemd's notify socket."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path, PurePosixPath

import pytest
import yaml

from linli.contract import DeviceRef, Kind
from linli.deploy.bundle import BundleError, make_bundle, read_bundle
from linli.deploy.install import Installer, InstallError
from linli.deploy.units import Layout, agent_unit
from linli.provision import SecretStore

HOST_UNITS = Path("/usr/lib/systemd/system")
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None or not HOST_UNITS.is_dir(),
                                   reason="systemd-analyze and the OS units are needed to verify units")


def _bundle(tmp: Path, kind: Kind, device: str, host: str = "10.1.2.3", port: int = 1883) -> Path:
    store = SecretStore(tmp / "server-secrets")
    return make_bundle(store, DeviceRef("sh-test-01", kind, device), tmp / f"{device}.linli", host, port,
                       server_url="http://10.1.2.3:8600")


def _scratch_root(tmp: Path) -> Path:
    """A fresh OS image as far as systemd is concerned: its units, and the binaries apt would have installed."""
    root = tmp / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for exe in ("usr/bin/python3", "usr/bin/cage", "usr/bin/chromium", "usr/bin/setterm", "usr/sbin/mosquitto"):
        p = root / exe
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    return root


def _verify(root: Path, unit: str) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}", unit], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), f"{unit}: {proc.stderr}"


def test_bundle_round_trip_keeps_the_account_and_is_private(tmp_path: Path) -> None:
    path = _bundle(tmp_path, Kind.charger, "pile-07")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    b = read_bundle(path)
    assert (b.site, b.kind, b.device, b.broker_host, b.broker_port) == ("sh-test-01", Kind.charger, "pile-07",
                                                                       "10.1.2.3", 1883)
    stored = SecretStore(tmp_path / "server-secrets").device_file(b.ref)
    assert b.device_secret["password"] in stored.read_text()
    # a second bundle for the same device keeps its password (re-installing a Pi does not lock it out)
    again = read_bundle(_bundle(tmp_path, Kind.charger, "pile-07"))
    assert again.device_secret == b.device_secret


@pytest.mark.parametrize("damage", ["missing", "not-a-tar", "no-secret", "path-escape"])
def test_a_damaged_bundle_is_refused_with_its_name(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "x.linli"
    if damage == "not-a-tar":
        path.write_bytes(b"hello")
    elif damage in ("no-secret", "path-escape"):
        with tarfile.open(path, "w:gz") as tar:
            src = tmp_path / "bundle.json"
            src.write_text('{"version": 1}')
            tar.add(src, arcname="bundle.json" if damage == "no-secret" else "../bundle.json")
    with pytest.raises(BundleError, match=r"x\.linli"):
        read_bundle(path)


def test_a_bundle_for_another_device_is_refused(tmp_path: Path) -> None:
    path = _bundle(tmp_path, Kind.gate, "gate-east")
    inst = Installer(root=tmp_path / "r", system=False, enable=False, venv_from=Path(sys.prefix), say=lambda _m: None)
    with pytest.raises(InstallError, match="gate gate-east, not gate gate-west"):
        inst.install_agent("gate", "gate-west", path)
    assert not (tmp_path / "r").exists()


def test_a_bad_override_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = _bundle(tmp_path, Kind.probe, "probe-01")
    inst = Installer(root=tmp_path / "r", system=False, enable=False, venv_from=Path(sys.prefix), say=lambda _m: None)
    with pytest.raises(InstallError, match=r"outbox.max_messages"):
        inst.install_agent("probe", "probe-01", path, sets=["outbox.max_messages=lots"])
    assert not (tmp_path / "r/etc/linli").exists()


@needs_systemd
@pytest.mark.parametrize("kind,device", [(Kind.lift_guard, "lift-01"), (Kind.taxi_kiosk, "kiosk-01")])
def test_agent_install_into_a_scratch_root_is_verified_by_systemd(tmp_path: Path, kind: Kind, device: str) -> None:
    root = _scratch_root(tmp_path)
    (root / "etc").mkdir()
    (root / "etc/group").write_text("root:x:0:\ngpio:x:997:\ndialout:x:20:\nvideo:x:44:\naudio:x:29:\n")
    out = Installer(root=root, system=False, venv_from=Path(sys.prefix), say=lambda _m: None).install_agent(
        kind.value, device, _bundle(tmp_path, kind, device), sets=["log_level=WARNING"])
    cfg = yaml.safe_load((root / f"etc/linli/agents/{device}.yaml").read_text())
    assert (cfg["site"], cfg["device"], cfg["mqtt"]["host"]) == ("sh-test-01", device, "10.1.2.3")
    assert cfg["hal"]["pin_factory"] == "auto" and cfg["log_level"] == "WARNING"
    assert cfg["data_dir"] == f"/var/lib/linli/{device}"
    for secret in ("device.json", f"localpage-{device}.txt"):
        assert stat.S_IMODE((root / "etc/linli/secrets" / secret).stat().st_mode) == 0o600
    assert (root / f"etc/linli/secrets/localpage-{device}.txt").read_text().startswith("$argon2")
    unit = (root / "etc/systemd/system/linli-agent@.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=30" in unit and "Restart=always" in unit
    assert "SupplementaryGroups=gpio dialout video audio\n" in unit  # only the groups the image has
    for u in out["units"]:
        _verify(root, u)
    wants = root / "etc/systemd/system/multi-user.target.wants" / f"linli-agent@{device}.service"
    assert wants.is_symlink()
    if kind is Kind.taxi_kiosk:
        assert (root / "etc/systemd/system/graphical.target.wants/linli-kiosk-browser@tty1.service").is_symlink()
        assert "--kiosk" in (root / "etc/systemd/system/linli-kiosk-browser@.service").read_text()
    # idempotent: a second install repairs, it does not duplicate or fail
    Installer(root=root, system=False, venv_from=Path(sys.prefix), say=lambda _m: None).install_agent(
        kind.value, device, _bundle(tmp_path, kind, device))
    assert os.readlink(root / "opt/linli/current") == "slots/a"


@needs_systemd
def test_server_install_into_a_scratch_root_is_verified_by_systemd(tmp_path: Path) -> None:
    root = _scratch_root(tmp_path)
    (root / "usr/lib/systemd/system/mosquitto.service").write_text(
        "[Unit]\nDescription=Mosquitto\n[Service]\nExecStart=/usr/sbin/mosquitto\n[Install]\nWantedBy=multi-user.target\n")
    Installer(root=root, system=False, venv_from=Path(sys.prefix), say=lambda _m: None).install_server()
    _verify(root, "linli-server.service")
    dropin = (root / "etc/mosquitto/conf.d/linli.conf").read_text()
    assert "allow_anonymous false" in dropin and "acl_file /etc/linli/secrets/broker/acl" in dropin
    assert "use_username_as_clientid true" in dropin and "listener 1884 127.0.0.1" in dropin
    assert cfg_port(root) == 1884
    assert (root / "etc/linli/secrets/broker/acl").exists() and (root / "etc/linli/secrets/server.json").exists()
    cfg = yaml.safe_load((root / "etc/linli/server.yaml").read_text())
    assert cfg["database"]["url"] == "sqlite:////var/lib/linli/server/linli.db"
    assert (root / "etc/systemd/system/multi-user.target.wants/linli-server.service").is_symlink()


def cfg_port(root: Path) -> int:
    return int(yaml.safe_load((root / "etc/linli/server.yaml").read_text())["mqtt"]["port"])


def test_an_installed_agent_runs_as_its_unit_says_and_talks_to_systemd(tmp_path: Path, mqtt_broker) -> None:
    """Install with a layout under tmp (so paths are real here), then run the unit's ExecStart exactly, with a
    NOTIFY_SOCKET: systemd's READY=1 and WATCHDOG=1 must arrive, and the device must come online at the broker."""
    base = PurePosixPath(str(tmp_path))
    lay = Layout(prefix=base / "opt/linli", etc=base / "etc/linli", state=base / "var/lib/linli")
    mqtt_broker.provision(DeviceRef("sh-test-01", Kind.probe, "probe-09"))
    bundle = make_bundle(mqtt_broker.secrets, DeviceRef("sh-test-01", Kind.probe, "probe-09"), tmp_path / "b.linli",
                         mqtt_broker.host, mqtt_broker.port)
    from linli.broker import free_port

    Installer(root=Path("/"), layout=lay, system=False, enable=False, venv_from=Path(sys.prefix),
              say=lambda _m: None).install_agent("probe", "probe-09", bundle,
                                                 sets=["hal.pin_factory=mock", "local_page.host=127.0.0.1",
                                                       f"local_page.port={free_port()}"])
    unit = agent_unit(lay).splitlines()
    exec_line = next(line for line in unit if line.startswith("ExecStart="))
    cmd = exec_line.removeprefix("ExecStart=").replace("%i", "probe-09").split()
    workdir = Path(str(lay.state / "probe-09"))
    workdir.mkdir(parents=True, exist_ok=True)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(1.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    for line in unit:  # the unit's own environment (journal log format, the memory settings)
        if line.startswith("Environment="):
            env.update(kv.split("=", 1) for kv in line.removeprefix("Environment=").split())
    assert env["LINLI_LOG_FORMAT"] == "journal" and env["MALLOC_ARENA_MAX"] == "1"
    assert env["PYTHONOPTIMIZE"] == "2"  # -OO: the agent below starts and reports ready without docstrings/asserts
    env.update(NOTIFY_SOCKET=str(sock_path))
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ("READY=1" in got and "WATCHDOG=1" in got):
            try:
                got.append(sock.recv(256).decode())
            except TimeoutError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert "READY=1" in got and "WATCHDOG=1" in got, got
        topic = DeviceRef("sh-test-01", Kind.probe, "probe-09").status_topic
        sub = subprocess.run(["mosquitto_sub", "-h", mqtt_broker.host, "-p", str(mqtt_broker.server_port),
                              "-u", mqtt_broker.server.username, "-P", mqtt_broker.server.password,
                              "-t", topic, "-C", "1", "-W", "20"], capture_output=True, text=True, timeout=30)
        assert '"online"' in sub.stdout, sub.stderr
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        sock.close()
    # journald format: a priority prefix and no timestamp of our own (journald stamps each line)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines and all(line.startswith("<") for line in lines), lines[:5]
    assert not any(line[3:7].isdigit() and line[7] == "-" for line in lines)


def test_the_mosquitto_dropin_runs_in_a_real_mosquitto(tmp_path: Path) -> None:
    """Debian's mosquitto.conf + our drop-in: Mosquitto starts, a device logs in on the device listener only, the
    server account on its loopback listener only."""
    from linli.broker import find_mosquitto, free_port, wait_port
    from linli.deploy.units import mosquitto_dropin

    exe = find_mosquitto()
    if exe is None:
        pytest.skip("mosquitto is not installed")
    base = PurePosixPath(str(tmp_path))
    lay = Layout(prefix=base / "opt", etc=base / "etc", state=base / "var")
    store = SecretStore(Path(str(lay.secrets)))
    server = store.server_credentials()
    _, dev = store.provision_device(DeviceRef("sh-t", Kind.probe, "p-1"))
    port, sport = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("persistence false\nlog_dest stderr\n" + ("user root\n" if os.geteuid() == 0 else "")
                    + mosquitto_dropin(lay, port, host="127.0.0.1", server_port=sport))
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port("127.0.0.1", sport, 10, proc)

        def pub(p: int, user: str, pw: str, topic: str) -> int:
            return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(p), "-u", user, "-P", pw,
                                   "-t", topic, "-m", "x", "-q", "1"], capture_output=True, timeout=20).returncode

        assert pub(port, dev.username, dev.password, "linli/v1/sh-t/probe/p-1/telemetry") == 0
        assert pub(sport, server.username, server.password, "linli/v1/sh-t/probe/p-1/cmd/x") == 0
        assert pub(port, server.username, server.password, "linli/v1/x") != 0  # not on the device listener
        assert pub(sport, dev.username, dev.password, "linli/v1/x") != 0      # nor a device on the server's
    finally:
        proc.terminate()
        proc.wait(10)
