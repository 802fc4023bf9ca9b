"""`linli provision` and the broker ACL it writes: each device publishes only under its own subtree and reads
only its own cmd/ and config/; the server has its own account. Proved against a real Mosquitto."""

from __future__ import annotations

import json
import stat
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from linli.broker import EmbeddedBroker
from linli.cli import main as cli
from linli.contract import DeviceRef, Kind
from linli.provision import Credentials, SecretStore, mosquitto_hash, read_credentials
from linli.testing import wait_for

A = DeviceRef("site-a", Kind.probe, "dev-1")
B = DeviceRef("site-a", Kind.probe, "dev-2")
OTHER_SITE = DeviceRef("site-b", Kind.probe, "dev-1")


class Client:
    def __init__(self, host: str, port: int, creds: Credentials, proto=mqtt.MQTTv311) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=creds.username, protocol=proto)
        self.c.username_pw_set(creds.username, creds.password)
        self.got: list[tuple[str, bytes]] = []
        self.rc = None
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.on_connect = lambda _c, _u, _f, rc, _p: setattr(self, "rc", rc)
        self.c.connect(host, port)
        self.c.loop_start()
        wait_for(lambda: self.rc is not None, 5, what="CONNACK")

    def sub(self, topic: str) -> None:
        done = []
        self.c.on_subscribe = lambda *a: done.append(1)  # before subscribing: the SUBACK may come at once
        self.c.subscribe(topic, 1)
        wait_for(lambda: done, 10, what="SUBACK")

    def pub(self, topic: str, payload: bytes = b"{}") -> None:
        self.c.publish(topic, payload, 1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def three(mqtt_broker):
    creds = {ref: mqtt_broker.provision(ref)[1] for ref in (A, B, OTHER_SITE)}
    clients = {ref: Client(mqtt_broker.host, mqtt_broker.port, cr) for ref, cr in creds.items()}
    server = Client(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server)
    yield clients, server
    for cl in (*clients.values(), server):
        cl.close()


def test_device_cannot_publish_as_another_device(three):
    clients, server = three
    for t in (B.event_topic, OTHER_SITE.event_topic, A.cmd_subscription, A.event_topic):
        server.sub(t)
    clients[A].pub(B.event_topic, b'{"spoof":1}')          # as B, same site
    clients[A].pub(OTHER_SITE.event_topic, b'{"spoof":2}')  # as a device of another site
    clients[A].pub(A.cmd_topic("pulse"), b'{"spoof":3}')    # commands to itself: only the server may
    clients[A].pub(A.event_topic, b'{"ok":1}')              # its own subtree: allowed
    wait_for(lambda: any(t == A.event_topic for t, _ in server.got), 5, what="A's own event")
    time.sleep(0.3)
    assert [t for t, _ in server.got] == [A.event_topic]


def test_device_cannot_read_another_devices_commands(three):
    clients, server = three
    clients[A].sub(B.cmd_subscription)
    clients[A].sub("linli/v1/#")
    clients[A].sub(A.cmd_subscription)
    clients[B].sub(B.cmd_subscription)
    server.pub(B.cmd_topic("pulse"), b"for-b")
    server.pub(A.cmd_topic("pulse"), b"for-a")
    wait_for(lambda: clients[B].got and clients[A].got, 5, what="own commands delivered")
    time.sleep(0.3)
    assert clients[A].got == [(A.cmd_topic("pulse"), b"for-a")]
    assert clients[B].got == [(B.cmd_topic("pulse"), b"for-b")]


def test_wrong_password_and_revoked_device_refused(mqtt_broker):
    _, creds = mqtt_broker.provision(DeviceRef("site-a", Kind.probe, "dev-9"))
    bad = Client(mqtt_broker.host, mqtt_broker.port, Credentials(creds.username, "wrong"))
    assert bad.rc.is_failure
    bad.close()
    mqtt_broker.secrets.revoke_device(DeviceRef("site-a", Kind.probe, "dev-9"))
    mqtt_broker.broker.reload()
    gone = Client(mqtt_broker.host, mqtt_broker.port, creds)
    assert gone.rc.is_failure
    gone.close()


def test_provision_cli_keeps_password_rotates_on_request_and_writes_private_files(tmp_path, capsys):
    sec = tmp_path / "sec"
    args = ["provision", "--secrets", str(sec), "--site", "s1", "--kind", "gate", "--device", "east-in"]
    assert cli(args) == 0
    f = sec / "devices" / "s1.east-in.json"
    first = read_credentials(f)
    assert cli(args) == 0 and read_credentials(f) == first
    assert cli([*args, "--rotate"]) == 0 and read_credentials(f).password != first.password
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    acl = (sec / "broker" / "acl").read_text()
    assert "user dev.s1.east-in" in acl and "topic write linli/v1/s1/gate/east-in/event" in acl
    assert "topic read linli/v1/s1/gate/east-in/cmd/+" in acl
    assert json.loads(f.read_text())["kind"] == "gate"
    # the same device id as another kind is refused, clearly
    assert cli([*args[:5], "--kind", "charger", "--device", "east-in"]) == 2
    assert "already provisioned as kind 'gate'" in capsys.readouterr().err


def test_provision_cli_rejects_bad_names(tmp_path, capsys):
    assert cli(["provision", "--secrets", str(tmp_path), "--site", "S 1", "--kind", "gate", "--device", "x"]) == 2
    assert "site 'S 1' is not allowed" in capsys.readouterr().err
    assert cli(["provision", "--secrets", str(tmp_path), "--site", "s1", "--kind", "toaster", "--device", "x"]) == 2


def test_mosquitto_hash_format_is_stable():
    h = mosquitto_hash("pw", salt=b"\x00" * 12)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and h == mosquitto_hash("pw", salt=b"\x00" * 12)


def test_embedded_broker_fallback_enforces_the_same_acl(tmp_path):
    store = SecretStore(tmp_path / "sec")
    server = store.server_credentials()
    _, ca = store.provision_device(A)
    _, cb = store.provision_device(B)
    broker = EmbeddedBroker(secrets=store)
    broker.start()
    try:
        srv = Client(broker.host, broker.port, server)
        srv.sub("linli/v1/#")
        a = Client(broker.host, broker.port, ca)
        a.pub(B.event_topic, b"spoof")
        a.pub(A.event_topic, b"mine")
        wait_for(lambda: srv.got, 5, what="A's event via amqtt")
        time.sleep(0.3)
        assert [t for t, _ in srv.got] == [A.event_topic]
        bad = Client(broker.host, broker.port, Credentials(cb.username, "nope"))
        assert bad.rc.is_failure
        for cl in (srv, a, bad):
            cl.close()
    finally:
        broker.stop()
