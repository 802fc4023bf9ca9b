"""The MQTT link of an agent: paho-mqtt 2 (MQTT 5), LWT + birth status, reconnect with backoff and jitter,
subscriptions, and a sender thread that drains the outbox while connected.

- LWT: ``contract.offline_status(kind)`` retained QoS 1 on the status topic (the broker publishes it when the
  connection dies without a DISCONNECT).
- Birth: a retained ``Status(state="online", …)`` on every connect; ``stopping`` on a clean shutdown.
- Brokers: ``mqtt.hosts`` lists the nodes of a clustered broker; a failed connect or a lost connection moves the
  client on to the next node (:class:`linli.failover.Failover`). After every connect the agent announces its
  state again (birth status, retained) and re-subscribes, so nothing depends on retained messages or sessions
  being shared between the nodes (RabbitMQ keeps retained messages per node).
- Reconnect: paho's own loop (``reconnect_delay_set(min, max)``: doubling up to max, reset on success) plus
  a random jitter of up to 30 % of the current delay, so a site's devices do not all knock at once after the
  broker restarts. Nothing to call by hand: it comes back by itself.
- Sending: rows leave the outbox only when acknowledged (see :mod:`edge.runtime.outbox`). paho re-sends its own
  unacknowledged QoS 1 messages after a reconnect (same mid), so the sender never sends a row twice within one
  process; after a restart every unacknowledged row is sent again.
"""

from __future__ import annotations

import logging
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linli.contract import DeviceRef, Status, offline_status
from linli.failover import Failover
from linli.provision import Credentials
from linli.tls import diagnose

from .config import MqttConfig
from .metrics import Stats
from .outbox import Outbox

#: After a CONNACK, paho first re-sends its own unacknowledged messages; new rows wait this long so that they
#: do not overtake them.
SETTLE_S = 0.1


class Link:
    def __init__(self, ref: DeviceRef, cfg: MqttConfig, creds: Credentials, outbox: Outbox, stats: Stats,
                 status: Callable[[str], Status], on_message: Callable[[mqtt.MQTTMessage], None],
                 software: str = "", logger: logging.Logger | None = None) -> None:
        self.ref = ref
        self.cfg = cfg
        self.outbox = outbox
        self.stats = stats
        self.status = status
        self.on_message = on_message
        self.log = logger or logging.getLogger(__name__)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._connected = threading.Event()
        self._connected_at = 0.0
        self._sub_mid: int | None = None
        self._attempts = 0
        self.last_error: str | None = None
        self.connected_since: float | None = None

        self.v5 = cfg.protocol == "5"
        self.brokers = Failover(cfg.addresses())
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=ref.mqtt_username,
                        protocol=MQTTProtocolVersion.MQTTv5 if self.v5 else MQTTProtocolVersion.MQTTv311,
                        clean_session=None if self.v5 else True)
        c.username_pw_set(creds.username, creds.password)
        c.will_set(ref.status_topic, offline_status(ref.kind, software).encode(), qos=1, retain=True)
        if cfg.tls is not None:
            c.tls_set(ca_certs=str(cfg.tls.ca_file), cert_reqs=ssl.CERT_REQUIRED)
            c.tls_insecure_set(cfg.tls.insecure)
        c.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
        c.max_inflight_messages_set(0)  # unlimited in paho: the outbox window is the limit
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.client = c
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        outbox.add_listener(self._wake.set)

    # ------------------------------------------------------------------ lifecycle
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        host, port = self.brokers.current
        self.client.connect_async(host, port, keepalive=self.cfg.keepalive, **self._connect_kw())
        self.client.loop_start()
        self._sender.start()

    def _connect_kw(self) -> dict[str, bool]:
        return {"clean_start": True} if self.v5 else {}

    def _next_broker(self) -> None:
        """Move on to the next broker node (no-op with one); paho's loop reconnects there."""
        if not self._stop.is_set() and self.brokers.advance(self.client, self.cfg.keepalive, **self._connect_kw()):
            self.log.info("MQTT: trying broker %s next", self.brokers)

    def flush(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the outbox is empty. True when it is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.depth() == 0:
                return True
            if not self.connected:
                return False
            self._wake.set()
            time.sleep(0.02)
        return self.outbox.depth() == 0

    def stop(self, flush_s: float = 2.0) -> None:
        """Publish ``stopping`` (retained), flush the outbox briefly, disconnect cleanly (no LWT)."""
        if self.connected:
            try:
                info = self.client.publish(self.ref.status_topic, self.status("stopping").encode(), qos=1,
                                           retain=True)
                info.wait_for_publish(min(1.0, flush_s) if flush_s > 0 else 0.5)
            except (RuntimeError, ValueError) as exc:
                self.log.warning("could not publish the stopping status: %s", exc)
            if flush_s > 0:
                self.flush(flush_s)
        self._stop.set()
        self._wake.set()
        if self._sender.is_alive():
            self._sender.join(2.0)
        self._drain_acks()
        try:
            self.client.disconnect()
        except Exception:  # a half-open socket must not block shutdown
            pass
        self.client.loop_stop()
        self._connected.clear()

    def publish_status(self, state: str = "online") -> None:
        """Publish the retained status now (e.g. after the config version changed)."""
        if self.connected:
            self.client.publish(self.ref.status_topic, self.status(state).encode(), qos=1, retain=True)

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            self._note_failure(self.last_error)
            return
        self._attempts = 0
        self.last_error = None
        self.outbox.connected()  # QoS 0 rows that raced the last disconnect go again
        self.stats.inc("mqtt_connects")
        # Subscribe before saying "online": the broker handles one client's packets in order, so whoever sees the
        # status can already reach the device (a command sent on "online" is not lost to a clean session). The link
        # counts as connected once the subscription is acknowledged.
        _rc, self._sub_mid = client.subscribe([(t, 1) for t in self.ref.device_subscriptions()])
        client.publish(self.ref.status_topic, self.status("online").encode(), qos=1, retain=True)
        self.log.info("MQTT connected to %s", self.brokers)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        if mid != self._sub_mid:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self.log.error("broker refused a device subscription (%s): commands may not arrive", ", ".join(refused))
        self._connected_at = time.monotonic()
        self.connected_since = time.time()
        self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        what = ""
        host, port = self.brokers.current
        if self.cfg.tls is not None:  # say which certificate problem it is, not just "cannot reach"
            what = diagnose(host, port, self.cfg.tls.ca_file, not self.cfg.tls.insecure)
        self.last_error = what or f"cannot reach the broker at {host}:{port}"
        self._note_failure(self.last_error)
        self._next_broker()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self.connected_since = None
        self.outbox.connection_lost()
        if was:
            self.stats.inc("mqtt_disconnects")
        if self._stop.is_set() or not was:
            if not was:
                self._next_broker()  # refused by this node (e.g. it is still joining its cluster)
            return  # a refused CONNACK was already noted by _on_connect
        self.last_error = f"connection lost to {self.brokers}: {reason}"
        self._note_failure(self.last_error, lost=True)
        self._next_broker()

    def _note_failure(self, what: str, lost: bool = False) -> None:
        self._attempts += 1
        n = self._attempts
        if lost or n in (1, 2) or (n & (n - 1)) == 0:  # first ones, then every power of two
            self.log.warning("MQTT: %s (attempt %d; retrying with backoff)", what, n)
        delay = min(self.cfg.reconnect_min_s * 2 ** max(0, n - 1), self.cfg.reconnect_max_s)
        self._stop.wait(random.uniform(0, 0.3 * delay))  # jitter on top of paho's own backoff

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode,
                    properties: Properties | None) -> None:
        self._acks.put((mid, reason.is_failure))
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.stats.inc("messages_received")
        try:
            self.on_message(msg)
        except Exception:
            self.log.exception("handling a message on %s failed", msg.topic)

    # ------------------------------------------------------------------ sender thread
    def _drain_acks(self) -> None:
        mids: list[int] = []
        while True:
            try:
                mid, failed = self._acks.get_nowait()
            except queue.Empty:
                break
            if failed:
                if self.outbox.rejected(mid):
                    self.stats.inc("publish_rejected")
                    self.log.error("broker refused an outbox message (mid %d); dropped", mid)
            else:
                mids.append(mid)
        if mids:
            n = self.outbox.acked(mids)
            if n:
                self.stats.inc("publish_acks", n=n)

    def _send_loop(self) -> None:
        timeout = 0.5
        while not self._stop.is_set():
            self._wake.wait(timeout)
            self._wake.clear()
            try:
                self._drain_acks()
                self.outbox.retry_pending()  # messages held in memory while the disk was full, connected or not
                timeout = self._send_some()
            except Exception:
                self.log.exception("outbox sender failed; retrying")
                timeout = 1.0

    def _send_some(self) -> float:
        """Send what the window and the token bucket allow; returns how long to wait before trying again."""
        if not self.connected:
            return 0.5
        settle = self._connected_at + SETTLE_S - time.monotonic()
        if settle > 0:
            return settle
        expired = self.outbox.expire_inflight(self.outbox.ack_timeout_s, self._connected_at)
        if expired:
            self.stats.inc("publish_retransmits", n=expired)
            self.log.warning("%d message(s) unacknowledged for %.0f s on a live connection; sending them again",
                             expired, self.outbox.ack_timeout_s)
        window = self.outbox.max_inflight - self.outbox.inflight()
        if window <= 0:
            return min(0.5, self.outbox.ack_timeout_s)
        tokens = self.outbox.bucket.available()
        if tokens <= 0:
            return max(0.005, self.outbox.bucket.wait_time())
        rows = self.outbox.take(min(window, tokens))
        if not rows:
            return 0.5
        for row in rows:
            if self._stop.is_set() or not self.outbox.bucket.take():
                break
            info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                    info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and row.qos == 1):
                # a QoS 1 message published without a connection is kept by paho and sent on reconnect
                self.outbox.mark_sent(row.id, info.mid, row.qos)
            else:
                if info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
                    self.log.warning("publish to %s failed: %s", row.topic, mqtt.error_string(info.rc))
                return 0.2
        return 0.0
