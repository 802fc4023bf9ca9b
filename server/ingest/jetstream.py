"""Ingest from a NATS cluster: N server workers share one durable JetStream consumer.

Devices publish MQTT 3.1.1 to any NATS node. For a QoS 1 PUBLISH, nats-server (2.9 and later) stores the message
in its MQTT message stream ``$MQTT_msgs`` (subject ``$MQTT.msgs.<subject>``, replicated on ``mqtt.stream_replicas``
nodes, interest retention) and only then sends the PUBACK: so a PUBACK means the message is in a replicated stream,
and the device's outbox lets go of it only then. That stream is what the workers read: every worker binds the same
durable pull consumer (``nats.durable``, filter ``$MQTT.msgs.linli.v1.>``), so each message goes to one worker; a
message is acknowledged only after the database transaction that stored it has committed (:class:`Ingest` calls
:meth:`ack`), and one whose worker dies before that is delivered to another worker after ``nats.ack_wait_s``. A
message stored but acknowledged too late (the worker died between commit and ack) is delivered again and counted
as a duplicate: ingest is idempotent by event id. While the consumer exists, the interest retention keeps every
device message until it is acknowledged, however long the workers are away.

QoS 0 messages (telemetry) are not stored by NATS: the workers take them from a core NATS queue group (each goes to
one worker; at most once, as with MQTT QoS 0). Commands and desired config the server publishes itself (through its
MQTT link) are in the same stream; the consumer acknowledges them without ingesting them.

A message's ``received_at`` is when the broker stored it (the stream's timestamp), so that every worker orders a
device's messages alike (a late offline will does not override what the device said on a later connection).

``/metrics`` gets the consumer's backlog (``linli_ingest_backlog``: stored, not yet delivered to any worker),
messages delivered and not yet acknowledged, and redeliveries, read every ``nats.lag_interval_s``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from linli import contract
from linli.provision import Credentials
from server.ingest.stats import IngestStats
from server.ingest.store import Incoming
from server.settings import NatsSettings

log = logging.getLogger(__name__)

#: nats-server's stream of MQTT QoS 1 messages, and its subject prefix (server/mqtt.go: mqttStreamName,
#: mqttStreamSubjectPrefix).
MQTT_STREAM = "$MQTT_msgs"
MQTT_PREFIX = "$MQTT.msgs."
ROOT_SUBJECT = contract.TOPIC_ROOT.replace("/", ".")
#: Channels the server publishes; they reach the stream too and are acknowledged unread.
SERVER_CHANNELS = (f".{contract.Channel.cmd.value}.", f".{contract.Channel.config_desired.value.replace('/', '.')}")

MessageSink = Callable[[Incoming], None]
#: How long a batch pull may wait for more messages once the backlog has run out (added latency, at most).
BUSY_PULL_S = 0.25


def subject_topic(subject: str) -> str:
    """``$MQTT.msgs.linli.v1.a.b.c.event`` → ``linli/v1/a/b/c/event``."""
    return subject.removeprefix(MQTT_PREFIX).replace(".", "/")


def consumer_config(cfg: NatsSettings) -> ConsumerConfig:
    """The shared durable consumer every worker binds (made by the first one; the same settings are idempotent)."""
    return ConsumerConfig(durable_name=cfg.durable, filter_subject=f"{MQTT_PREFIX}{ROOT_SUBJECT}.>",
                          ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=cfg.ack_wait_s,
                          max_ack_pending=cfg.max_ack_pending, max_waiting=512)


def is_server_message(subject: str) -> bool:
    return subject.endswith(SERVER_CHANNELS[1]) or SERVER_CHANNELS[0] in subject


class JetStreamLink:
    """The ingest side of one server worker on NATS (a background thread with its own event loop)."""

    def __init__(self, cfg: NatsSettings, creds: Credentials, stats: IngestStats, sink: MessageSink | None = None,
                 on_state: Callable[[bool], None] | None = None) -> None:
        self.cfg = cfg
        self.creds = creds
        self.stats = stats
        self.sink = sink
        self.on_state = on_state
        self._held: dict[int, Msg] = {}
        self._held_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._acks: list[Msg] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ack_wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._connected = False
        self.last_error: str | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="linli-jetstream", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._connected

    def pause(self) -> None:
        """Stop handing messages on (those held stay unacknowledged: NATS delivers them again)."""
        self.sink = None

    def stop(self) -> None:
        self.pause()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None
        self._ready.clear()

    def forget_session(self) -> None:
        """Nothing to forget: the durable consumer is shared by every worker and outlives each of them."""

    # --------------------------------------------------------------------------------------------- acking
    def ack(self, mid: int, qos: int, generation: int) -> bool:
        """Acknowledge a stored message (any thread). JetStream acknowledgements stay valid across reconnects."""
        if qos == 0:
            return True
        with self._held_lock:
            msg = self._held.pop(mid, None)
            if msg is None:
                return False
            self._acks.append(msg)
            first = len(self._acks) == 1  # the acker is woken once per flush, not once per message of a batch
        loop, wake = self._loop, self._ack_wake
        if first and loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)
        return True

    @property
    def held(self) -> int:
        with self._held_lock:
            return len(self._held)

    # ---------------------------------------------------------------------------------------- event loop
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception:
            log.exception("JetStream ingest stopped on an unexpected error")
        finally:
            loop.close()
            self._loop = None

    async def _set_state(self, up: bool) -> None:
        self._connected = up
        if self.on_state:
            self.on_state(up)

    async def _main(self) -> None:
        self._stop = stopping = asyncio.Event()
        self._ack_wake = asyncio.Event()

        async def disconnected() -> None:
            await self._set_state(False)
            if not stopping.is_set():  # not our own close on stop
                log.warning("NATS: connection lost; reconnecting")

        async def reconnected() -> None:
            await self._set_state(True)
            log.info("NATS: reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?")

        async def error(exc: Exception) -> None:
            self.last_error = f"NATS: {exc}"

        nc: NatsClient = await nats.connect(
            servers=self.cfg.urls, user=self.creds.username, password=self.creds.password, name="linli-ingest",
            max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2, allow_reconnect=True,
            disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error)
        await self._set_state(True)
        tasks = [asyncio.create_task(self._acker(nc))]
        try:
            js = nc.jetstream(timeout=5)
            await self._ensure_consumer(js)
            telemetry = f"{ROOT_SUBJECT}.*.*.*.{contract.Channel.telemetry.value}"
            await nc.subscribe(telemetry, queue=self.cfg.durable, cb=self._on_qos0)
            psub = await js.pull_subscribe_bind(self.cfg.durable, MQTT_STREAM)
            tasks.append(asyncio.create_task(self._watch_lag(js)))
            self._ready.set()
            log.info("JetStream ingest: consumer %s on %s shared by the workers", self.cfg.durable, MQTT_STREAM)
            idle = False
            while not self._stop.is_set():
                room = self.cfg.inflight_max - self.held
                if room <= 0 or self.sink is None:
                    await asyncio.sleep(0.01)
                    continue
                # nats-py's fetch(n) takes what is there at once, but when nothing is there it waits until n
                # messages have come or the pull expires. So: busy, a batch with a short expiry (bounds the wait
                # added to a message's latency when the backlog runs out); idle (the last batch was not full), a
                # long pull for one message, which returns as soon as it comes.
                want = 1 if idle else min(self.cfg.fetch_max, room)
                try:
                    msgs = await psub.fetch(want, timeout=1 if idle else BUSY_PULL_S)
                except (TimeoutError, NatsTimeout):
                    idle = True
                    continue
                except Exception as exc:  # a node went away mid-request: fetch again
                    self.last_error = f"JetStream fetch: {exc}"
                    await asyncio.sleep(0.2)
                    continue
                idle = len(msgs) < want
                self._hand_on(msgs)
        finally:
            for t in tasks:
                t.cancel()
            await self._flush_acks(nc)
            # flush (a PING answered) puts the last acknowledgements on the server; then close. Not drain(): it
            # waits for the pull subscription's pending messages to be handed on (up to its 30 s drain timeout), but
            # the sink is paused, so that only held the worker's stop up past stop()'s join, leaving the
            # connection open after the server had stopped. What was fetched and not acknowledged is redelivered.
            try:
                await nc.flush(timeout=2)
            except Exception:  # the cluster may be gone already
                pass
            try:
                await nc.close()
            except Exception:
                pass
            await self._set_state(False)

    async def _ensure_consumer(self, js: Any) -> None:
        """Create the shared durable consumer (idempotent), once the MQTT stream exists (nats-server makes it when
        the account's first MQTT client connects)."""
        config = consumer_config(self.cfg)
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await js.add_consumer(MQTT_STREAM, config)
                return
            except NotFoundError:
                self.last_error = f"waiting for the stream {MQTT_STREAM} (no MQTT client has connected yet)"
            except Exception as exc:
                try:  # made by another worker with other settings: use it as it is
                    await js.consumer_info(MQTT_STREAM, self.cfg.durable)
                    log.warning("JetStream consumer %s exists with other settings (%s); using it", self.cfg.durable,
                                exc)
                    return
                except Exception:
                    self.last_error = f"JetStream consumer: {exc}"
            await asyncio.sleep(0.5)

    def _hand_on(self, msgs: list[Msg]) -> None:
        arrived, mono = datetime.now(UTC), time.monotonic()
        for m in msgs:
            sink = self.sink
            if is_server_message(m.subject) or sink is None:
                if sink is None:
                    continue  # left unacknowledged: delivered again later
                with self._held_lock:
                    self._acks.append(m)
                continue
            mid = next(self._ids)
            with self._held_lock:
                self._held[mid] = m
            try:  # when the broker stored it: one order for every worker, and the same after a redelivery
                stored_at = m.metadata.timestamp
            except Exception:  # not a JetStream message (cannot happen on a bound pull subscription)
                stored_at = arrived
            sink(Incoming(topic=subject_topic(m.subject), payload=m.data, qos=1, retain=False, mid=mid,
                          arrived=stored_at, arrived_mono=mono))
        if self._ack_wake is not None:
            self._ack_wake.set()

    async def _on_qos0(self, m: Msg) -> None:
        sink = self.sink
        if sink is None or (m.headers or {}).get("Nmqtt-Pub", "0") != "0":
            return  # QoS 1 copies come through the stream
        sink(Incoming(topic=m.subject.replace(".", "/"), payload=m.data, qos=0, retain=False, mid=0,
                      arrived=datetime.now(UTC), arrived_mono=time.monotonic()))

    async def _acker(self, nc: NatsClient) -> None:
        assert self._ack_wake is not None
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            await self._flush_acks(nc)

    async def _flush_acks(self, nc: NatsClient) -> None:
        with self._held_lock:
            acks, self._acks = self._acks, []
        for m in acks:
            try:
                await nc.publish(m.reply, b"")
            except Exception as exc:  # not acknowledged: JetStream delivers it again (a counted duplicate)
                self.last_error = f"ack: {exc}"

    async def _watch_lag(self, js: Any) -> None:
        while True:
            try:
                ci = await js.consumer_info(MQTT_STREAM, self.cfg.durable)
                self.stats.set_backlog(ci.num_pending or 0, ci.num_ack_pending or 0, ci.num_redelivered or 0)
            except Exception as exc:
                self.last_error = f"consumer info: {exc}"
            await asyncio.sleep(self.cfg.lag_interval_s)
