"""Signed updates end to end: a real agent installed by ``linli install`` (A/B slots, boot guard) and run the way
systemd runs it (ExecStartPre, ExecStart, Restart=always), a real server, broker and HTTP downloads.

1. a good release, its download cut half-way (resumed), goes out and is declared healthy;
2. a release that crashes at start is rolled back by the boot guard after its allowed starts;
3. a release whose file is damaged after signing is refused by the device; the roll-out halts;
and the server refuses to take a release that is not signed with the fleet's key."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath

import httpx
import pytest

from linli.broker import free_port
from linli.contract import DeviceRef, Kind
from linli.deploy.bundle import make_bundle
from linli.deploy.install import Installer
from linli.deploy.units import Layout, agent_unit
from linli.release import keygen, load_private, pack_source, sign
from server.app import create_app
from server.testing import LiveServer, make_settings

REPO = Path(__file__).resolve().parents[2]
REF = DeviceRef("sh-upd-01", Kind.probe, "probe-u1")


class CutOnce:
    """A TCP proxy in front of the server that cuts the first release download after ``cut_after`` bytes."""

    def __init__(self, upstream: int, cut_after: int = 64 * 1024) -> None:
        self.upstream, self.cut_after, self.cuts = upstream, cut_after, 0
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.5)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        up = socket.create_connection(("127.0.0.1", self.upstream))
        first = client.recv(65536)
        cut = b"GET /releases/" in first and self.cuts == 0
        if cut:
            self.cuts += 1
        up.sendall(first)

        def back() -> None:
            sent = 0
            try:
                while data := up.recv(65536):
                    if cut and sent + len(data) > self.cut_after:
                        client.sendall(data[: self.cut_after - sent])
                        break
                    client.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            for s in (client, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while data := client.recv(65536):
                up.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


class Supervisor:
    """Does what systemd does with linli-agent@.service: ExecStartPre, ExecStart, restart whenever it exits."""

    def __init__(self, lay: Layout, device: str, env: dict[str, str]) -> None:
        unit = agent_unit(lay).replace("%i", device)
        self.pre = next(ln for ln in unit.splitlines() if ln.startswith("ExecStartPre=")).split("=", 1)[1].split()
        self.pre[0] = sys.executable  # /usr/bin/python3 on a Pi; the guard needs nothing but the standard library
        self.cmd = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart=")).split("=", 1)[1].split()
        self.cwd, self.env = Path(str(lay.state / device)), env
        self.starts, self.exits = 0, []
        self.log: list[str] = []
        self._stop = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            g = subprocess.run(self.pre, capture_output=True, text=True, env=self.env)
            self.log.append(g.stderr.strip())
            self.starts += 1
            with (self.cwd / "agent.log").open("a") as out:
                self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=out,
                                             stderr=subprocess.STDOUT)
                self.exits.append(self.proc.wait())
            self._stop.wait(0.3)  # RestartSec

    def report(self) -> str:
        """What the agent did, for a failed wait: its starts and exits, the boot guard's words, its log's end."""
        path = self.cwd / "agent.log"
        tail = path.read_text(errors="replace")[-4000:] if path.exists() else "(no agent.log)"
        guard = " | ".join(g for g in self.log[-5:] if g)
        return (f"\n--- agent: {self.starts} starts, exits {self.exits[-10:]}, boot guard: {guard or '-'}\n"
                f"--- agent.log (end):\n{tail}")

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(30)


def _source(tmp: Path, name: str, crash: bool = False) -> Path:
    dest = tmp / name
    for part in ("linli", "edge", "server", "firmware_bridge"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    if crash:
        cli = dest / "linli" / "cli.py"
        cli.write_text(cli.read_text().replace("def main(argv: list[str] | None = None) -> int:\n",
                                               "def main(argv: list[str] | None = None) -> int:\n"
                                               "    raise SystemExit('this release cannot start')\n", 1))
    return dest


def _upload(c: httpx.Client, tmp: Path, key: Path, src: Path, version: str) -> tuple[bytes, dict]:
    archive = pack_source(src, version)
    manifest = json.loads(sign(archive, version, load_private(key)).to_json())
    r = c.post("/api/v1/releases", files={"archive": ("r.tar.gz", archive)}, data={"manifest": json.dumps(manifest)})
    assert r.status_code == 201, r.text
    return archive, manifest


def _wait(pred, timeout: float, what: str, sup: Supervisor | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (sup.report() if sup else ""))


@pytest.mark.timeout(300)
def test_staged_update_good_crashing_and_damaged_releases(tmp_path: Path, mqtt_broker) -> None:
    keygen(tmp_path / "release.key", tmp_path / "release.pub")
    base = PurePosixPath(str(tmp_path / "site"))
    lay = Layout(prefix=base / "opt/linli", etc=base / "etc/linli", state=base / "var/lib/linli")
    mqtt_broker.provision(REF)
    bundle = make_bundle(mqtt_broker.secrets, REF, tmp_path / "b.linli", mqtt_broker.host, mqtt_broker.port,
                         update_pub_file=tmp_path / "release.pub")
    Installer(root=Path("/"), layout=lay, system=False, enable=False, venv_from=Path(sys.prefix),
              say=lambda _m: None).install_agent(
        "probe", REF.device, bundle,
        sets=["hal.pin_factory=mock", "local_page.host=127.0.0.1", f"local_page.port={free_port()}",
              "update.healthy_after_s=2", "update.deadline_s=90", "telemetry_interval_s=2"])
    current = Path(str(lay.prefix)) / "current"
    assert os.readlink(current) == "slots/a"

    http_port = free_port()
    proxy = CutOnce(http_port)
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path}/srv.db", mqtt_broker,
                             http={"port": http_port},
                             updates={"public_key_file": str(tmp_path / "release.pub"),
                                      "base_url": f"http://127.0.0.1:{proxy.port}", "check_interval_s": 0.3,
                                      "step_timeout_s": 120})
    app = create_app(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_") and k != "NOTIFY_SOCKET"}
    ls = LiveServer(app, port=http_port).start()
    sup = Supervisor(lay, REF.device, env)
    try:
        c = ls.client("admin")

        def device() -> dict | None:
            rows = c.get("/api/v1/devices", params={"site": REF.site}).json()
            rows = rows.get("items", rows) if isinstance(rows, dict) else rows
            return next((d for d in rows if d["device"] == REF.device), None)

        _wait(lambda: (d := device()) and d.get("state") == "online", 90, "the installed agent online", sup)

        def rollout(version: str) -> dict:
            r = c.post("/api/v1/rollouts", json={"version": version, "site": REF.site, "stages": [1],
                                                 "max_failures": 1})
            assert r.status_code == 201, r.text
            rid = r.json()["id"]
            return _wait(lambda: (p := c.get(f"/api/v1/rollouts/{rid}").json())["state"] != "running" and p,
                         150, f"roll-out of {version} to finish", sup)

        # the server refuses a release signed with another key
        keygen(tmp_path / "rogue.key", tmp_path / "rogue.pub")
        archive = pack_source(_source(tmp_path, "rogue"), "6.6.6")
        bad = json.loads(sign(archive, "6.6.6", load_private(tmp_path / "rogue.key")).to_json())
        r = c.post("/api/v1/releases", files={"archive": ("r.tar.gz", archive)}, data={"manifest": json.dumps(bad)})
        assert r.status_code == 400 and "signature" in r.text

        # 1. good release: download cut once and resumed, installed in slot b, healthy
        _upload(c, tmp_path, tmp_path / "release.key", _source(tmp_path, "good"), "9.0.1")
        done = rollout("9.0.1")
        assert done["state"] == "done" and done["devices"][0]["state"] == "healthy", done["devices"]
        assert proxy.cuts == 1
        assert os.readlink(current) == "slots/b"
        _wait(lambda: (d := device()) and d.get("software") == "9.0.1", 30, "the device to report 9.0.1", sup)

        # 2. a release that cannot start: the boot guard puts slot b back after its allowed starts
        starts_before = sup.starts
        _upload(c, tmp_path, tmp_path / "release.key", _source(tmp_path, "crash", crash=True), "9.0.2")
        done = rollout("9.0.2")
        assert done["state"] == "halted" and done["devices"][0]["state"] == "rolled_back", done["devices"]
        assert "starts" in done["devices"][0]["detail"]
        assert os.readlink(current) == "slots/b"
        assert sup.starts - starts_before >= 4  # the update restart + 3 failed starts + the rolled-back start
        assert any("rolled back 9.0.2" in line for line in sup.log)
        _wait(lambda: (d := device()) and d.get("software") == "9.0.1" and d.get("state") == "online", 60,
              "9.0.1 back online", sup)

        # 3. a release damaged after signing (disk, proxy, attacker): the device refuses it, nothing changes
        _upload(c, tmp_path, tmp_path / "release.key", _source(tmp_path, "good2"), "9.0.3")
        stored = tmp_path / "srv" / "releases" / "linli-9.0.3.tar.gz"
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))
        done = rollout("9.0.3")
        assert done["state"] == "halted" and done["devices"][0]["state"] == "failed", done["devices"]
        assert "checksum" in done["devices"][0]["detail"]
        assert os.readlink(current) == "slots/b"
    finally:
        sup.stop()
        ls.stop()
        proxy.close()
        if ls.server.link is not None:
            ls.server.link.forget_session()
