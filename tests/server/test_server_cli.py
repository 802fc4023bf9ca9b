"""``linli server`` as a process: config file, secret file, users file, SIGTERM; and its config errors."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from linli.broker import free_port
from linli.testing import wait_for
from server.cli import main as server_main
from server.testing import FAST_HASHER

if TYPE_CHECKING:
    from linli.testing import TestBroker

ROOT = Path(__file__).resolve().parents[2]


def test_linli_server_runs_and_stops_cleanly(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    ops = {"name": "ops", "role": "admin", "password_hash": FAST_HASHER.hash("ops-pass-1")}
    users.write_text(yaml.safe_dump([ops]))
    port = free_port()
    cfg = tmp_path / "server.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 'db' / 'linli.db'}"},
        "mqtt": {"host": mqtt_broker.host, "port": mqtt_broker.server_port, "client_id": f"cli-{port}",
                 "credentials_file": str(mqtt_broker.secrets.server_file), "shared_subscription": False},
        "http": {"port": port},
        "storage": {"data_dir": str(tmp_path / "data")},
        "auth": {"users_file": str(users)},
        "log_level": "INFO",
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "linli.cli", "server", "-c", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["ok"] is True
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, interval=0.1, what="linli server /healthz")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health == {"ok": True, "db": True, "mqtt": True, "ingest": True}
        r = httpx.get(f"http://127.0.0.1:{port}/", auth=("ops", "ops-pass-1"))
        assert r.status_code == 200 and "小区设备中心" in r.text
        assert (tmp_path / "db" / "linli.db").exists()
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal (systemd counts that as a clean stop)
        assert proc.wait(15) in (0, -signal.SIGTERM)
        out = proc.stdout.read() if proc.stdout else ""
        assert "linli server started" in out and "linli server stopped" in out, out
        assert "Traceback" not in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_bad_config_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("LINLI_")]:
        monkeypatch.delenv(var)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("http:\n  port: -1\n")
    assert server_main(argparse.Namespace(config=str(cfg), migrate_only=False)) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: http.port: Input should be greater than or equal to 1" in err
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"mqtt": {"credentials_file": str(tmp_path / "missing.json")},
                                    "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"}}))
    assert server_main(argparse.Namespace(config=str(good), migrate_only=False)) == 2
    assert "secret file not found" in capsys.readouterr().err
