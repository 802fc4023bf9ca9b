"""A device account can only ever use its own client id: connecting with another device's or the server's id
must not kick them off (Mosquitto from the generated config, and the embedded amqtt fallback)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from linli.broker import EmbeddedBroker
from linli.contract import DeviceRef, Kind
from linli.provision import Credentials, SecretStore
from linli.testing import TestBroker, wait_for

A = DeviceRef("bind", Kind.probe, "dev-a")
B = DeviceRef("bind", Kind.probe, "dev-b")
SERVER_ID = "linli-server-bind"


class Conn:
    def __init__(self, host: str, port: int, creds: Credentials, client_id: str, v5: bool = True) -> None:
        self.dropped = threading.Event()
        self.rc: object = None
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kw = {} if v5 else {"clean_session": True}
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto, **kw)
        self.c.username_pw_set(creds.username, creds.password)
        done = threading.Event()

        def on_connect(_c, _u, _f, rc, _p) -> None:
            self.rc = rc
            done.set()

        self.c.on_connect = on_connect
        self.c.on_disconnect = lambda *_a: self.dropped.set()
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()
        assert done.wait(10), "no CONNACK"

    @property
    def ok(self) -> bool:
        return not self.rc.is_failure  # type: ignore[attr-defined]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _takeover_attempts(host: str, dev_port: int, srv_port: int, store_creds: dict[str, Credentials],
                       v5: bool) -> None:
    ca, cb, server = store_creds["a"], store_creds["b"], store_creds["server"]
    b = Conn(host, dev_port, cb, B.mqtt_username, v5)
    srv = Conn(host, srv_port, server, SERVER_ID, v5)
    assert b.ok and srv.ok
    attackers = [Conn(host, dev_port, ca, B.mqtt_username, v5), Conn(host, dev_port, ca, SERVER_ID, v5),
                 Conn(host, dev_port, Credentials(cb.username, "wrong"), B.mqtt_username, v5)]
    time.sleep(0.5)
    try:
        assert not b.dropped.is_set(), "device B was kicked off by a client using its id"
        assert not srv.dropped.is_set(), "the server was kicked off by a device using its id"
    finally:
        for c in (b, srv, *attackers):
            c.close()


def test_mosquitto_binds_client_ids_to_accounts(mqtt_broker: TestBroker) -> None:
    creds = {"a": mqtt_broker.provision(A)[1], "b": mqtt_broker.provision(B)[1], "server": mqtt_broker.server}
    _takeover_attempts(mqtt_broker.host, mqtt_broker.port, mqtt_broker.server_port, creds, v5=True)
    # each account only on its own listener
    assert not Conn(mqtt_broker.host, mqtt_broker.server_port, creds["a"], A.mqtt_username).ok
    assert not Conn(mqtt_broker.host, mqtt_broker.port, mqtt_broker.server, SERVER_ID).ok


def test_generated_config_binds_and_persists(mqtt_broker: TestBroker) -> None:
    conf = mqtt_broker.broker.conf_path.read_text()
    dev, _, srv = conf.partition(f"listener {mqtt_broker.server_port} ")
    assert f"listener {mqtt_broker.port} " in dev and "use_username_as_clientid true" in dev
    assert "use_username_as_clientid" not in srv and "passwd_server" in srv
    for line in ("persistence true", "persistence_location ", "persistence_file mosquitto.db", "autosave_interval"):
        assert line in conf


@pytest.fixture
def amqtt_site(tmp_path: Path):
    store = SecretStore(tmp_path / "sec")
    creds = {"server": store.server_credentials(), "a": store.provision_device(A)[1],
             "b": store.provision_device(B)[1]}
    broker = EmbeddedBroker(secrets=store)
    broker.start()
    yield broker, creds
    broker.stop()


def test_amqtt_fallback_binds_client_ids_to_accounts(amqtt_site) -> None:
    broker, creds = amqtt_site
    _takeover_attempts(broker.host, broker.port, broker.server_port, creds, v5=False)
    assert not Conn(broker.host, broker.port, creds["a"], B.mqtt_username, v5=False).ok
    ok = Conn(broker.host, broker.port, creds["a"], A.mqtt_username, v5=False)
    assert ok.ok
    ok.close()
    wait_for(lambda: True, 1)
