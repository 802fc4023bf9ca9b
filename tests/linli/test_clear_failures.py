"""Clear failures at start, through the real ``linli`` command in a subprocess: a port already in use (agent page,
LPR push endpoint, server HTTP), a damaged database file, an unreadable model file, a bad certificate → one line
naming what and where, exit code 2, before anything starts; never a traceback, never a device that runs on
without the part."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from linli.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield int(s.getsockname()[1])
    s.close()


def linli(*argv: str, cwd: Path) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env["PYTHONPATH"] = str(ROOT)
    env["GPIOZERO_PIN_FACTORY"] = "mock"
    res = subprocess.run([sys.executable, "-m", "linli.cli", *argv], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=60)
    return res.returncode, [line for line in res.stderr.splitlines() if line.strip()]


def _one_line(rc: int, lines: list[str]) -> str:
    assert rc == 2, lines
    assert len(lines) == 1, lines  # one line, no traceback, no log noise
    assert "Traceback" not in lines[0]
    return lines[0]


def _agent_config(tmp: Path, kind: str, **over: Any) -> Path:
    doc = yaml.safe_load((ROOT / "config" / f"{kind}.yaml").read_text(encoding="utf-8"))
    secret = tmp / "dev.json"
    secret.write_text(f'{{"username": "dev.{doc["site"]}.{doc["device"]}", "password": "x"}}', encoding="utf-8")
    pw = tmp / "page-pw"
    pw.write_text("pw\n", encoding="utf-8")
    doc["mqtt"] = {"host": "127.0.0.1", "port": free_port(), "password_file": str(secret)}
    doc["local_page"] = {**doc.get("local_page", {}), "host": "127.0.0.1", "port": 0, "password_file": str(pw)}
    for k in ("password_hash", "password_env"):
        doc["local_page"].pop(k, None)
    doc["data_dir"] = str(tmp / "data")
    doc["hal"]["pin_factory"] = "mock"
    for key, value in over.items():
        cur = doc
        *path, last = key.split(".")
        for part in path:
            cur = cur.setdefault(part, {})
        cur[last] = value
    cfg = tmp / f"{kind}.yaml"
    cfg.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return cfg


def test_agent_page_port_in_use(tmp_path: Path, busy_port: int) -> None:
    cfg = _agent_config(tmp_path, "probe", **{"local_page.port": busy_port})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=tmp_path))
    assert line == f"{cfg}: local_page.port: port {busy_port} on 127.0.0.1 is already in use by another program"
    assert not (tmp_path / "data" / "outbox.sqlite").exists()  # nothing was started


def test_gate_lpr_endpoint_port_in_use(tmp_path: Path, busy_port: int) -> None:
    cfg = _agent_config(tmp_path, "gate", **{"app.lpr.host": "127.0.0.1", "app.lpr.port": busy_port})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=tmp_path))
    assert line == f"{cfg}: app.lpr.port: port {busy_port} on 127.0.0.1 is already in use by another program"


def test_lift_guard_model_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "gone.onnx"
    cfg = _agent_config(tmp_path, "lift_guard", **{"app.detector.model": str(missing)})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=ROOT))
    assert line == f"{cfg}: app.detector.model: {missing} does not exist"


def test_lift_guard_model_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model" * 100)
    cfg = _agent_config(tmp_path, "lift_guard", **{"app.detector.model": str(bad)})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=ROOT))
    assert line.startswith(f"{cfg}: app.detector: model file {bad} hashes to ")  # the configured sha256
    cfg = _agent_config(tmp_path, "lift_guard", **{"app.detector.model": str(bad), "app.detector.sha256": None})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=ROOT))
    assert line.startswith(f"{cfg}: app.detector: model file {bad} cannot be loaded by onnxruntime")


def test_agent_outbox_path_unusable(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    cfg = _agent_config(tmp_path, "probe", **{"outbox.path": str(folder)})
    line = _one_line(*linli("agent", "-c", str(cfg), cwd=tmp_path))
    assert line.startswith(f"{cfg}: outbox.path: {folder} cannot be opened")


def _server_config(tmp: Path, **http: Any) -> Path:
    secret = tmp / "server.json"
    secret.write_text('{"username": "linli-server", "password": "x"}', encoding="utf-8")
    cfg = tmp / "server.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp / 'linli.db'}"},
        "mqtt": {"host": "127.0.0.1", "port": free_port(), "credentials_file": str(secret)},
        "http": {"host": "127.0.0.1", "port": free_port(), **http},
        "storage": {"data_dir": str(tmp / "data")},
    }), encoding="utf-8")
    return cfg


def test_server_http_port_in_use(tmp_path: Path, busy_port: int) -> None:
    cfg = _server_config(tmp_path, port=busy_port)
    line = _one_line(*linli("server", "-c", str(cfg), cwd=tmp_path))
    assert line == f"linli server: http.port: port {busy_port} on 127.0.0.1 is already in use by another program"


def test_server_database_file_damaged(tmp_path: Path) -> None:
    cfg = _server_config(tmp_path)
    (tmp_path / "linli.db").write_bytes(b"garbage, not SQLite" * 300)
    line = _one_line(*linli("server", "-c", str(cfg), cwd=tmp_path))
    assert line.startswith(f"linli server: database.url: {tmp_path / 'linli.db'} is not a usable SQLite database")


def test_server_https_certificate_missing(tmp_path: Path) -> None:
    cfg = _server_config(tmp_path, tls_cert_file=str(tmp_path / "no.crt"), tls_key_file=str(tmp_path / "no.key"))
    line = _one_line(*linli("server", "-c", str(cfg), cwd=tmp_path))
    assert line.startswith(f"linli server: http.tls_cert_file: certificate {tmp_path / 'no.crt'}: cannot be read")
