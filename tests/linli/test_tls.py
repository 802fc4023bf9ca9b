"""TLS an installer can set up: ``linli provision --tls`` makes a site CA and the broker's certificate; the
generated Mosquitto config gets a TLS listener; an agent sends an event over it that the server stores; the
server and the agent's page serve HTTPS; a wrong CA and an expired certificate are reported as such."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.runtime.agent import Agent
from edge.runtime.config import load_config
from edge.runtime.harness import agent_config, write_config
from linli.broker import MosquittoBroker, free_port
from linli.contract import DeviceRef, Kind
from linli.contract.probe import InputChanged
from linli.provision import SecretStore
from linli.testing import TestBroker, wait_for
from linli.tls import TlsFiles, issue
from server.app import create_app
from server.ingest.link import MqttLink
from server.testing import make_settings, running, stored

ROOT = Path(__file__).resolve().parents[2]
REF = DeviceRef("tls-site", Kind.probe, "tls-1")


def _linli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "linli.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBroker, Path]]:
    """Secrets made by the real `linli provision` (server, device, --tls), and Mosquitto with a TLS listener."""
    root = tmp_path_factory.mktemp("tls")
    sec = root / "secrets"
    assert _linli("provision", "--secrets", str(sec), "--server").returncode == 0
    assert _linli("provision", "--secrets", str(sec), "--site", REF.site, "--kind", "probe",
                  "--device", REF.device).returncode == 0
    res = _linli("provision", "--secrets", str(sec), "--tls", "--hosts", "localhost")
    assert res.returncode == 0, res.stderr
    assert "site CA" in res.stdout and "broker certificate" in res.stdout
    store = SecretStore(sec)
    files = store.tls_files
    assert files.ca_cert.exists() and files.broker_cert.exists() and oct(files.ca_key.stat().st_mode)[-3:] == "600"
    b = MosquittoBroker(root / "mosquitto", secrets=store, tls=files)
    b.start()
    assert f"listener {b.tls_port} " in b.conf_path.read_text() and "certfile" in b.conf_path.read_text()
    yield TestBroker(b, store, store.server_credentials()), root
    b.stop()


def _agent(site: tuple[TestBroker, Path], name: str, ca: Path, port: int | None = None, **over: object) -> Agent:
    tb, root = site
    doc = agent_config(REF, "localhost", port or tb.broker.tls_port or 0, tb.secrets.device_file(REF),
                       root / name, **over)
    doc["mqtt"]["tls"] = {"ca_file": str(ca)}
    return Agent(load_config(write_config(root / name / "agent.yaml", doc)))


def test_event_over_tls_reaches_the_server(site: tuple[TestBroker, Path], tmp_path: Path) -> None:
    tb, _ = site
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", tb)
    agent = _agent(site, "good", tb.secrets.tls_files.ca_cert)
    with running(create_app(settings)) as ls:
        agent.start()
        try:
            assert agent.link.wait_connected(15), agent.link.last_error
            ev = agent.emit(InputChanged(input="over-tls", active=True, count=1))
            wait_for(lambda: stored(ls.server, ev.id) == 1, 15, what="the event stored")
        finally:
            agent.stop(flush_s=0.5)


def test_wrong_ca_is_named(site: tuple[TestBroker, Path], tmp_path: Path) -> None:
    other = TlsFiles(tmp_path / "other-ca")
    issue(other, "x", ["localhost"])  # another site's CA
    agent = _agent(site, "wrongca", other.ca_cert)
    agent.start()
    try:
        err = wait_for(lambda: agent.link.last_error, 15, what="a link error")
        assert err.startswith("TLS: the certificate of localhost:") and f"not signed by the CA in {other.ca_cert}" \
            in err, err
        assert "cannot reach" not in err
    finally:
        agent.stop(flush_s=0)
    # the server's link says the same
    tb, _ = site
    cfg = make_settings(tmp_path, "sqlite://", tb, mqtt={"port": tb.broker.tls_port, "host": "localhost",
                                                         "tls_ca_file": str(other.ca_cert)}).mqtt
    link = MqttLink(cfg, [])
    link.start()
    try:
        err = wait_for(lambda: link.last_error, 15, what="the server link's error")
        assert "not signed by the CA in" in err, err
    finally:
        link.stop()


def test_expired_broker_certificate_is_named(site: tuple[TestBroker, Path], tmp_path: Path) -> None:
    tb, _ = site
    expired = TlsFiles(tmp_path / "expired")
    expired.root.mkdir()
    for name in ("ca.crt", "ca.key"):  # same site CA, but a broker certificate that ran out yesterday
        (expired.root / name).write_bytes((tb.secrets.tls_files.root / name).read_bytes())
    issue(expired, "broker", ["localhost"], days=30,
          not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    b = MosquittoBroker(tmp_path / "mosq", secrets=tb.secrets, tls=expired)
    b.start()
    try:
        agent = _agent(site, "expired", tb.secrets.tls_files.ca_cert, port=b.tls_port)
        agent.start()
        try:
            err = wait_for(lambda: agent.link.last_error, 15, what="a link error")
            assert "has expired" in err and "cannot reach" not in err, err
        finally:
            agent.stop(flush_s=0)
    finally:
        b.stop()


def test_server_and_agent_page_serve_https(site: tuple[TestBroker, Path], tmp_path: Path) -> None:
    tb, root = site
    files = tb.secrets.tls_files
    res = _linli("provision", "--secrets", str(tb.secrets.root), "--tls-cert", "web", "--hosts", "localhost")
    assert res.returncode == 0, res.stderr
    crt, key = files.cert("web"), files.key("web")
    trust = ssl.create_default_context(cafile=str(files.ca_cert))
    # the agent's maintenance page
    agent = _agent(site, "https", files.ca_cert,
                   local_page={"host": "127.0.0.1", "port": 0, "username": "maint",
                               "password_file": str(root / "https" / "page-password"),
                               "tls_cert_file": str(crt), "tls_key_file": str(key)})
    agent.start()
    try:
        assert agent.page is not None and agent.page.url.startswith("https://")
        r = httpx.get(f"https://localhost:{agent.page.port}/", verify=trust)
        assert r.status_code == 401  # served over TLS; still wants its password
    finally:
        agent.stop(flush_s=0)
    # `linli server` with a certificate
    port = free_port()
    cfg = tmp_path / "server.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 'srv.db'}"},
        "mqtt": {"host": tb.host, "port": tb.server_port, "credentials_file": str(tb.secrets.server_file)},
        "http": {"host": "127.0.0.1", "port": port, "tls_cert_file": str(crt), "tls_key_file": str(key)},
        "storage": {"data_dir": str(tmp_path / "data")},
    }), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "linli.cli", "server", "-c", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            assert proc.poll() is None, "server exited"
            try:
                r = httpx.get(f"https://localhost:{port}/healthz", verify=trust, timeout=1)
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, interval=0.2, what="HTTPS /healthz")
    finally:
        proc.terminate()
        proc.wait(20)


def test_linli_broker_serves_tls_with_the_provisioned_certificate(site: tuple[TestBroker, Path],
                                                                   tmp_path: Path) -> None:
    tb, _ = site
    ports = [free_port() for _ in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "linli.cli", "broker", "--secrets", str(tb.secrets.root),
                             "--data", str(tmp_path / "b"), "--prefer", "mosquitto", "--port", str(ports[0]),
                             "--server-port", str(ports[1]), "--tls-port", str(ports[2])],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"TLS devices on 127.0.0.1:{ports[2]}" in line and f"server account on 127.0.0.1:{ports[1]}" in line
        from linli.tls import diagnose

        assert diagnose("localhost", ports[2], tb.secrets.tls_files.ca_cert) == ""  # a good handshake
        assert "TLS handshake" in diagnose("localhost", ports[0], tb.secrets.tls_files.ca_cert)  # plain port
    finally:
        proc.terminate()
        proc.wait(20)
