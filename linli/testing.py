"""Fixture helpers shared by the test suite, the demo and the benchmarks: a private Mosquitto with linli's
secrets, and a private PostgreSQL cluster. Real services on loopback, nothing mocked."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linli.broker import MosquittoBroker, free_port
from linli.contract import DeviceRef
from linli.provision import Credentials, SecretStore


@dataclass
class TestBroker:
    """A running Mosquitto with password + ACL files from a SecretStore."""

    __test__ = False  # not a test class, despite the name

    broker: MosquittoBroker
    secrets: SecretStore
    server: Credentials
    _known: dict[str, Credentials] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.broker.host

    @property
    def port(self) -> int:
        """The device listener (client id bound to the account)."""
        return self.broker.port

    @property
    def server_port(self) -> int:
        """The server account's listener."""
        return self.broker.server_port

    def provision(self, ref: DeviceRef) -> tuple[Path, Credentials]:
        """Provision a device (idempotent) and make the running broker re-read its files."""
        path, creds = self.secrets.provision_device(ref)
        if self._known.get(ref.key) != creds:
            self._known[ref.key] = creds
            self.broker.reload()
        return path, creds

    def restart(self) -> None:
        self.broker.stop()
        self.broker.start()

    @classmethod
    def start(cls, root: Path) -> TestBroker:
        secrets = SecretStore(root / "secrets")
        server = secrets.server_credentials()
        secrets.write_broker_files()
        b = MosquittoBroker(root / "mosquitto", secrets=secrets)
        b.start()
        return cls(b, secrets, server)


def _pg_bin() -> Path | None:
    base = Path("/usr/lib/postgresql")
    if not base.exists():
        return None
    for ver in sorted(base.iterdir(), reverse=True):
        if (ver / "bin" / "initdb").exists():
            return ver / "bin"
    return None


class PostgresCluster:
    """A throw-away PostgreSQL cluster on a free loopback port (initdb + pg_ctl; runuser when root)."""

    def __init__(self, root: Path) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({res.returncode}): {res.stderr.strip()[-500:]}")

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", opts, "start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "linli")
        return self.url

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/linli"

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass


def wait_for(pred, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``pred`` until it returns a truthy value; raise AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@contextmanager
def chromium(http_credentials: tuple[str, str] | None = None, viewport: tuple[int, int] = (1280, 900),
             locale: str = "zh-CN", has_touch: bool = False) -> Iterator[Any]:
    """A Playwright browser context on Debian's Chromium (never a downloaded browser). Yields the context;
    ``ctx.new_page()`` for pages. Fails with a clear message when chromium is missing, and fails the test when a
    page breaks its Content-Security-Policy."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install chromium (make test installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            kw: dict[str, Any] = {"viewport": {"width": viewport[0], "height": viewport[1]}, "locale": locale,
                                  "has_touch": has_touch}
            if http_credentials:
                kw["http_credentials"] = {"username": http_credentials[0], "password": http_credentials[1]}
                # also sent up front: the server sends browsers without credentials to its login form (303)
                # instead of challenging them, so waiting for a 401 would never send them
                token = base64.b64encode(f"{http_credentials[0]}:{http_credentials[1]}".encode()).decode()
                kw["extra_http_headers"] = {"Authorization": f"Basic {token}"}
            ctx = browser.new_context(**kw)
            # every page test is also a Content-Security-Policy test: a script, style or eval the pages' policy
            # blocks is reported on the console, and fails the test here
            blocked: list[str] = []
            ctx.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
            yield ctx
            ctx.close()
            assert not blocked, "the page broke its Content-Security-Policy:\n" + "\n".join(blocked[:5])
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a CI artefact: artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
