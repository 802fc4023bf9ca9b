"""``linli demo`` (what ``make demo`` runs): a private broker on loopback, the server, and one simulated agent of
every device kind that is installed, each a real process running the same code it runs on a site. Prints the
URLs and demo passwords; Ctrl-C (or ``--duration``) stops everything cleanly.

Each agent runs with ``--sim``: its kind's simulated world drives only the outside of the hardware layer
(mock pin levels, serial bytes on a pty, video frames), never the agent's logic.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from linli.broker import BrokerError, die_with_parent, free_port, start_broker
from linli.contract import DeviceRef, Kind
from linli.merge import deep_merge
from linli.provision import SecretStore

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
DEMO_SITE = "sh-demo-01"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "linli-demo"  # demo only, on loopback; printed on start
#: The demo's other people (same password): a property manager and a maintenance worker, so that each role's view
#: and the work-order hand-over (dispatch to someone) can be tried.
DEMO_USERS = (("manager", "manager", "物业经理 王经理"), ("maint", "maintenance", "维修师傅 李师傅"))
PAGE_USER = "maint"
PAGE_PASSWORD = "linli-demo"


@dataclass
class DemoDevice:
    kind: Kind
    device: str
    template: str  # config/<template>.yaml

    @property
    def ref(self) -> DeviceRef:
        return DeviceRef(DEMO_SITE, self.kind, self.device)


#: One simulated agent of each kind. A kind joins the demo when its app package exists (its issue has landed).
DEMO_DEVICES = [
    DemoDevice(Kind.probe, "probe-01", "probe"),
    DemoDevice(Kind.lift_guard, "lift-01", "lift_guard"),
    DemoDevice(Kind.gate, "gate-east", "gate"),
    DemoDevice(Kind.charger, "pile-01", "charger"),
    DemoDevice(Kind.taxi_kiosk, "kiosk-01", "taxi_kiosk"),
]


def installed(dev: DemoDevice) -> bool:
    try:
        found = importlib.util.find_spec(f"edge.apps.{dev.kind.value}.app") is not None
    except ModuleNotFoundError:  # the kind's package is not there at all
        found = False
    return found and (CONFIG_DIR / f"{dev.template}.yaml").exists()


def _write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Demo:
    def __init__(self, var: Path, http_port: int, broker_pref: str) -> None:
        self.var = var.resolve()
        self.http_port = http_port
        self.broker_pref = broker_pref
        self.secrets = SecretStore(self.var / "secrets")
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.broker: Any = None
        self.lines: list[str] = []
        self.kiosk_urls: dict[str, str] = {}

    # ---------------------------------------------------------------- set-up
    def start_broker(self) -> None:
        self.secrets.server_credentials()
        self.secrets.write_broker_files()
        port = free_port()
        try:
            self.broker = start_broker(self.var / "broker", port=port, secrets=self.secrets, prefer=self.broker_pref)
        except BrokerError as exc:
            raise SystemExit(f"linli demo: {exc}") from None
        note = "" if self.broker.name == "mosquitto" else "  (embedded amqtt: mosquitto is not installed)"
        self.lines.append(f"broker   mqtt://{self.broker.host}:{self.broker.port}  [{self.broker.name}]{note}")

    def server_config(self) -> Path:
        from server.auth import hash_password

        users = self.var / "secrets" / "users.yaml"
        pw_hash = hash_password(ADMIN_PASSWORD)
        _write_yaml(users, [{"name": ADMIN_USER, "role": "admin", "password_hash": pw_hash},
                            *({"name": n, "role": r, "display_name": d, "password_hash": pw_hash}
                              for n, r, d in DEMO_USERS)])
        users.chmod(0o600)
        base = yaml.safe_load((CONFIG_DIR / "server.yaml").read_text(encoding="utf-8")) or {}
        doc = deep_merge(base, {
            "database": {"url": f"sqlite:///{self.var / 'server' / 'linli.db'}"},
            "mqtt": {"host": self.broker.host, "port": self.broker.server_port,
                     "credentials_file": str(self.secrets.server_file),
                     "protocol": "5" if self.broker.name == "mosquitto" else "3.1.1"},
            "http": {"host": "127.0.0.1", "port": self.http_port},
            "storage": {"data_dir": str(self.var / "server")},
            "auth": {"users_file": str(users), "users": []},
            # taxi kiosks: the built-in simulated fleet, its clock 5× faster so that a ride fits a demo
            "kinds": {"taxi_kiosk": {"provider": "sim", "search_timeout_s": 90,
                                     "sim": {"time_scale": 5, "board_after_s": 60}}},
            # residents pay through the built-in simulated provider; the QR codes' key is the demo's own
            "payments": {"provider": "sim", "public_url": f"http://127.0.0.1:{self.http_port}",
                         "token_secret": self.resident_key()},
        })
        return _write_yaml(self.var / "server.yaml", self.under_var(doc))

    def resident_key(self) -> str:
        """The key of the residents' QR codes (kept with the demo's secrets, so printed URLs stay valid)."""
        path = self.var / "secrets" / "resident-token-key.txt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def resident_urls(self, devices: list[DemoDevice]) -> None:
        """The URLs the QR codes on the demo's pile and exit lane carry (what a phone opens)."""
        from server.payments import tokens

        key = self.resident_key().encode()
        base = f"http://127.0.0.1:{self.http_port}"
        urls = []
        for dev in sorted(devices, key=lambda d: d.kind is not Kind.charger):  # the charge first
            if dev.kind is Kind.charger:
                tok = tokens.make(key, tokens.Target("c", DEMO_SITE, dev.device, "1"))
                urls.append(f"{base}/r/c/{tok}   (扫码充电: {dev.device} port 1, simulated payment)")
            if dev.kind is Kind.gate:
                tok = tokens.make(key, tokens.Target("g", DEMO_SITE, dev.device, "out"))
                urls.append(f"{base}/r/g/{tok}   (停车缴费: {dev.device} exit lane)")
        for i, url in enumerate(urls):
            self.lines.append(f"{'resident' if i == 0 else '':<10} {url}")

    def agent_config(self, dev: DemoDevice, page_port: int) -> Path:
        path = self.secrets.device_file(dev.ref)
        pw = self.var / "secrets" / "localpage" / f"{dev.device}.txt"
        pw.parent.mkdir(parents=True, exist_ok=True)
        pw.write_text(PAGE_PASSWORD + "\n", encoding="utf-8")
        pw.chmod(0o600)
        base = yaml.safe_load((CONFIG_DIR / f"{dev.template}.yaml").read_text(encoding="utf-8"))
        doc = deep_merge(base, {
            "site": DEMO_SITE, "device": dev.device,
            "mqtt": {"host": self.broker.host, "port": self.broker.port, "password_file": str(path),
                     "reconnect_min_s": 0.5, "reconnect_max_s": 5,
                     "protocol": "5" if self.broker.name == "mosquitto" else "3.1.1"},
            "telemetry_interval_s": 10,
            "local_page": {"host": "127.0.0.1", "port": page_port, "username": PAGE_USER,
                           "password_file": str(pw)},
            "data_dir": str(self.var / "agents" / dev.device),
        })
        doc["local_page"].pop("password_hash", None)
        doc["local_page"].pop("password_env", None)
        if dev.kind is Kind.gate:  # LPR push on a free loopback port; the simulated cameras send a shared secret
            token = self.var / "secrets" / "lpr-token.txt"
            token.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
            token.chmod(0o600)
            doc["app"].setdefault("lpr", {}).update(host="127.0.0.1", port=free_port(), token_file=str(token))
        if dev.kind is Kind.taxi_kiosk:  # its touch-screen page (no password, loopback only) on a free port
            kiosk_port = free_port()
            doc["app"]["kiosk_page"] = {"host": "127.0.0.1", "port": kiosk_port}
            self.kiosk_urls[dev.device] = f"http://127.0.0.1:{kiosk_port}/"
        return _write_yaml(self.var / "agents" / f"{dev.device}.yaml", self.under_var(doc))

    def under_var(self, doc: Any) -> Any:
        """Every ``var/…`` path of a config template (simulated serial ports, the lift's clip…) moved under
        ``--var``, so that the demo writes nothing anywhere else."""
        if isinstance(doc, dict):
            return {k: self.under_var(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.under_var(v) for v in doc]
        if isinstance(doc, str) and doc.startswith("var/"):
            return str(self.var / doc.removeprefix("var/"))
        return doc

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        logs = self.var / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1"}
        with open(logs / f"{name}.log", "ab") as log:
            p = subprocess.Popen([sys.executable, "-m", "linli.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=REPO, start_new_session=True,
                                 preexec_fn=die_with_parent)
        self.procs.append((name, p))
        return p

    def wait_http(self, name: str, url: str, auth: tuple[str, str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        proc = dict(self.procs)[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"linli demo: {name} exited with code {proc.returncode}:\n{self.tail(name)}")
            try:
                if httpx.get(url, auth=auth, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"linli demo: {name} did not answer on {url} within {timeout:.0f} s:\n{self.tail(name)}")

    def tail(self, name: str, n: int = 20) -> str:
        path = self.var / "logs" / f"{name}.log"
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        return "\n".join("    " + ln for ln in lines[-n:])

    def start(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        devices = [d for d in DEMO_DEVICES if installed(d)]
        for dev in devices:  # accounts first: the broker reads its passwd/ACL files when it starts
            self.secrets.provision_device(dev.ref)
        self.start_broker()
        server_yaml = self.server_config()
        self.spawn("server", ["server", "-c", str(server_yaml)])
        base = f"http://127.0.0.1:{self.http_port}"
        self.wait_http("server", f"{base}/healthz", (ADMIN_USER, ADMIN_PASSWORD))
        self.lines.append(f"server   {base}/   (user {ADMIN_USER} / password {ADMIN_PASSWORD}; API {base}/docs)")
        self.lines.append(f"{'':<9}also {', '.join(n for n, _, _ in DEMO_USERS)} (manager, maintenance), same password")
        for i, dev in enumerate(devices, start=1):
            port = self.http_port + i
            cfg = self.agent_config(dev, port)
            self.spawn(dev.device, ["agent", "-c", str(cfg), "--sim"])
        for i, dev in enumerate(devices, start=1):
            url = f"http://127.0.0.1:{self.http_port + i}/"
            self.wait_http(dev.device, url, (PAGE_USER, PAGE_PASSWORD))
            self.lines.append(f"{dev.kind.value:<10} {url}   (local page: {PAGE_USER} / {PAGE_PASSWORD})")
            if dev.device in self.kiosk_urls:
                self.lines.append(f"{'':<10} {self.kiosk_urls[dev.device]}   (taxi kiosk touch screen, no password)")
        self.resident_urls(devices)
        self.lines.append(f"logs     {self.var / 'logs'}/")

    # ---------------------------------------------------------------- running / stopping
    def check_children(self) -> str | None:
        for name, p in self.procs:
            if p.poll() is not None:
                return f"{name} exited with code {p.returncode}:\n{self.tail(name)}"
        return None

    def stop(self) -> None:
        # Agents first (their relays go safe and they publish `stopping`), then the server, then the broker.
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                print(f"linli demo: {name} did not stop in 15 s; killing it", file=sys.stderr)
                p.kill()
                p.wait(5)
        self.procs.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


def main(args: argparse.Namespace) -> int:
    demo = Demo(Path(args.var), args.http_port, args.broker)
    stop_now = False

    def on_signal(_sig: int, _frm: Any) -> None:
        nonlocal stop_now
        stop_now = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    rc = 0
    try:
        demo.start()
        print("linli demo is running (邻里演示已启动):", flush=True)
        for line in demo.lines:
            print("  " + line, flush=True)
        print("Press Ctrl-C to stop (按 Ctrl-C 停止).", flush=True)
        deadline = time.monotonic() + args.duration if args.duration > 0 else None
        while not stop_now and (deadline is None or time.monotonic() < deadline):
            problem = demo.check_children()
            if problem:
                print(f"linli demo: {problem}", file=sys.stderr, flush=True)
                rc = 1
                break
            time.sleep(0.5)
    except SystemExit as exc:
        print(exc, file=sys.stderr, flush=True)
        rc = 1
    finally:
        print("stopping… (正在停止)", flush=True)
        demo.stop()
        for s, h in old.items():
            signal.signal(s, h)
    print("linli demo stopped (已停止).", flush=True)
    return rc
