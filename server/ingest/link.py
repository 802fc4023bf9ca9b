"""The server's broker connection (paho-mqtt 2, callback API v2).

* fixed client id and a persistent session (MQTT 5: clean_start=False + Session Expiry; 3.1.1: clean_session=False),
  so the broker queues device messages while the server restarts;
* manual acknowledgements: a QoS1 message is acknowledged only when ``ack`` is called, after its batch is committed;
  an ack for a message received on an earlier connection is skipped (the broker redelivers it);
* ``publish`` for commands and desired config;
* ``mqtt.hosts``: the nodes of a clustered broker; a failed connect or a lost connection moves on to the next.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linli.failover import Failover
from linli.tls import diagnose
from server.ingest.store import Incoming
from server.settings import MqttSettings

log = logging.getLogger(__name__)

MessageSink = Callable[[Incoming], None]


class MqttLink:
    def __init__(self, cfg: MqttSettings, subscriptions: list[str], sink: MessageSink | None = None,
                 receive_maximum: int = 1000, on_state: Callable[[bool], None] | None = None) -> None:
        self.cfg = cfg
        self.subscriptions = subscriptions
        self.sink = sink
        self.on_state = on_state
        self.receive_maximum = receive_maximum
        self.v5 = cfg.protocol == "5"
        self._lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._ready = threading.Event()
        self._started = False
        self.last_error: str | None = None
        self.brokers = Failover(cfg.addresses())
        self.client = self._make_client(clean=False)

    # ------------------------------------------------------------------------------------------- setup
    def _make_client(self, clean: bool) -> mqtt.Client:
        creds = self.cfg.credentials()
        if self.v5:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.cfg.client_id, protocol=mqtt.MQTTv5)
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.cfg.client_id, protocol=mqtt.MQTTv311,
                            clean_session=clean)
        c.username_pw_set(creds.username, creds.password)
        if self.cfg.tls_ca_file is not None:
            c.tls_set(ca_certs=str(self.cfg.tls_ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if not clean:
            c.manual_ack_set(True)
            c.reconnect_delay_set(1, 30)
            c.max_inflight_messages_set(100)
            c.on_connect = self._on_connect
            c.on_connect_fail = self._on_connect_fail
            c.on_disconnect = self._on_disconnect
            c.on_subscribe = self._on_subscribe
            c.on_message = self._on_message
        return c

    def _connect_props(self, expiry: int) -> Properties | None:
        if not self.v5:
            return None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = expiry
        props.ReceiveMaximum = self.receive_maximum
        return props

    def start(self) -> None:
        """Connect in the background (reconnecting with back-off until ``stop``)."""
        if self._started:
            return
        self._started = True
        host, port = self.brokers.current
        self.client.connect_async(host, port, self.cfg.keepalive_s, **self._connect_kw())
        self.client.loop_start()

    def _connect_kw(self) -> dict[str, Any]:
        if self.v5:
            return {"clean_start": False, "properties": self._connect_props(self.cfg.session_expiry_s)}
        return {}

    def _next_broker(self) -> None:
        if self._started and self.brokers.advance(self.client, self.cfg.keepalive_s, **self._connect_kw()):
            log.info("MQTT: trying broker %s next", self.brokers)

    def wait_ready(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self._ready.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def pause(self) -> None:
        """Stop handing messages to the sink (they stay unacknowledged, so the broker keeps them for later)."""
        self.sink = None

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.pause()
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        with self._lock:
            self._generation += 1
            self._connected = False
        self._ready.clear()

    def forget_session(self) -> None:
        """Ask the broker to drop this client id's session and queue (decommissioning a worker; tests)."""
        c = self._make_client(clean=True)
        done = threading.Event()
        c.on_connect = lambda *_a: done.set()
        kw: dict[str, Any] = {}
        if self.v5:
            kw = {"clean_start": True, "properties": self._connect_props(0)}
        try:
            c.connect(*self.brokers.current, 10, **kw)
            c.loop_start()
            done.wait(5)
            c.disconnect()
        except OSError as exc:
            log.warning("could not reach the broker to drop session %s: %s", self.cfg.client_id, exc)
        finally:
            c.loop_stop()

    # ----------------------------------------------------------------------------------------- callbacks
    def _on_connect(self, client: mqtt.Client, _ud: Any, flags: mqtt.ConnectFlags, rc: ReasonCode,
                    _props: Properties | None) -> None:
        if rc.is_failure:
            self.last_error = f"broker {self.brokers} refused the connection: {rc}"
            log.error("%s", self.last_error)
            return  # paho calls on_disconnect next, which moves on to the next broker
        self.last_error = None
        with self._lock:
            self._generation += 1
            self._connected = True
        log.info("connected to broker %s as %s (session present: %s)", self.brokers,
                 self.cfg.client_id, flags.session_present)
        if self.on_state:
            self.on_state(True)
        if self.subscriptions:
            client.subscribe([(t, 1) for t in self.subscriptions])
        else:
            self._ready.set()

    def _on_connect_fail(self, _c: mqtt.Client, _ud: Any) -> None:
        what = ""
        host, port = self.brokers.current
        if self.cfg.tls_ca_file is not None:  # name the certificate problem rather than "cannot reach"
            what = diagnose(host, port, self.cfg.tls_ca_file)
        what = what or f"cannot reach the broker at {host}:{port}"
        if what != self.last_error:
            log.error("MQTT: %s; retrying", what)
        self.last_error = what
        self._next_broker()

    def _on_subscribe(self, _c: mqtt.Client, _ud: Any, _mid: int, rcs: list[ReasonCode],
                      _props: Properties | None) -> None:
        bad = [f"{t} ({rc})" for t, rc in zip(self.subscriptions, rcs, strict=False) if rc.is_failure]
        if bad:
            log.error("broker refused subscription(s): %s — check the server account's ACL", ", ".join(bad))
        else:
            log.info("subscribed to %d topic filters", len(rcs))
        self._ready.set()

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: mqtt.DisconnectFlags, rc: ReasonCode,
                       _props: Properties | None) -> None:
        with self._lock:
            self._generation += 1
            self._connected = False
        self._ready.clear()
        if self.on_state:
            self.on_state(False)
        if self._started:
            log.warning("disconnected from broker %s (%s); reconnecting", self.brokers, rc)
            self._next_broker()

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        sink = self.sink
        if sink is None:
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
        sink(Incoming(topic=topic, payload=bytes(msg.payload), qos=msg.qos, retain=bool(msg.retain), mid=msg.mid,
                      generation=self._generation, arrived=datetime.now(UTC), arrived_mono=time.monotonic()))

    # ------------------------------------------------------------------------------------------- actions
    def ack(self, mid: int, qos: int, generation: int) -> bool:
        """Acknowledge a received message, unless it came on an earlier connection."""
        if qos == 0:
            return True
        with self._lock:
            if generation != self._generation or not self._connected:
                return False
            return self.client.ack(mid, qos) == mqtt.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, wait_s: float = 0.0) -> bool:
        """Publish; with ``wait_s`` wait that long for the broker's PUBACK. True when it was acknowledged (or,
        without waiting, handed to the connection). QoS1 messages published while disconnected are sent on
        reconnect (held in this process only)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))
            return False
        if wait_s <= 0:
            return info.rc == mqtt.MQTT_ERR_SUCCESS
        try:
            info.wait_for_publish(wait_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()
