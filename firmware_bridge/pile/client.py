"""Host side of the pile MCU link: :class:`PileClient`."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from firmware_bridge.errors import LinkIOError
from firmware_bridge.link import PortLike, SerialLink
from firmware_bridge.pile.errors import PileCommandError, PileFrameError, PileLinkError
from firmware_bridge.pile.frame import Frame, FrameParser, encode_frame
from firmware_bridge.pile.messages import (
    EVENTS,
    PROTOCOL_VERSION,
    BootEvent,
    FaultClearAck,
    Heartbeat,
    McuInfo,
    MsgType,
    PileEvent,
    PortsSnapshot,
    RelayAck,
    decode_event,
    heartbeat_request,
    hello_request,
    is_event_type,
    parse_error,
    port_request,
    response_type,
    set_relay_request,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
_DEDUP_WINDOW = 32  # MCU event sequence numbers remembered to drop retransmitted duplicates


def _smoke(payload: bytes) -> bool:
    if len(payload) != 1:
        raise PileFrameError(f"READ_SMOKE_OK payload must be 1 byte, got {len(payload)}")
    return bool(payload[0])


@dataclass
class PileStats:
    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    garbage_bytes: int = 0
    stale_responses: int = 0  # answers to an earlier try or request (a duplicate), dropped
    events: int = 0
    duplicate_events: int = 0  # retransmitted events already delivered: acked again, not delivered
    unknown_events: int = 0  # event types this client does not know (acknowledged, ignored)
    malformed: int = 0  # valid CRC but a payload that does not fit its type
    link_errors: int = 0


class PileClient:
    """Talks to the pile MCU on ``port`` (SerialPort, pyserial object or URL; see firmware_bridge.link).

    A reader thread takes every byte off the line: it hands answers to the request waiting for them,
    acknowledges and queues unsolicited events, and skips (and counts) garbage and CRC errors.
    Requests are thread-safe and one at a time; each is sent up to ``retries + 1`` times with the same
    sequence number, waiting ``timeout`` seconds each, then :class:`PileLinkError` is raised.
    Events go to ``on_event`` (called on the reader thread; keep it short) and to :meth:`next_event`.
    """

    def __init__(
        self,
        port: PortLike,
        *,
        timeout: float = 0.25,
        retries: int = 2,
        baudrate: int = 115200,
        name: str | None = None,
        on_event: Callable[[PileEvent], None] | None = None,
        max_queued_events: int = 1000,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s, not {timeout}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        self.timeout = timeout
        self.retries = retries
        self.on_event = on_event
        self.stats = PileStats()
        self.last_link_error: str | None = None
        self._link = SerialLink(port, baudrate=baudrate, name=name)
        self._parser = FrameParser()
        self._tx_lock = threading.Lock()
        self._request_lock = threading.Lock()
        self._cond = threading.Condition()
        self._waiting: tuple[int, int] | None = None  # (seq, expected type)
        self._answer: Frame | None = None
        self._seq = 0
        self._seen_events: deque[tuple[int, int]] = deque(maxlen=_DEDUP_WINDOW)
        self._events: queue.Queue[PileEvent] = queue.Queue(max_queued_events)
        self._closed = threading.Event()
        try:
            self._link.open()  # now, not in the reader: opening a port drops what is already waiting
        except LinkIOError as e:
            self.last_link_error = e.detail  # the reader keeps trying; requests report it
        self._reader = threading.Thread(target=self._read_loop, name=f"pile-reader {self._link.name}", daemon=True)
        self._reader.start()

    @property
    def port(self) -> str:
        return self._link.label

    # ----------------------------------------------------------- requests ----

    def hello(self) -> McuInfo:
        """Identify the MCU (protocol version, port count, firmware); clears its sticky status flags."""
        return self._decode(
            McuInfo.decode, self._request(MsgType.HELLO, hello_request(PROTOCOL_VERSION), "HELLO"), "HELLO"
        )

    def heartbeat(self, watchdog_s: int = 0) -> Heartbeat:
        """Keep the link alive; with ``watchdog_s`` > 0 the MCU drops every relay if the host is silent that long."""
        payload = self._request(MsgType.HEARTBEAT, heartbeat_request(watchdog_s), "HEARTBEAT")
        return self._decode(Heartbeat.decode, payload, "HEARTBEAT")

    def set_relay(self, port: int, on: bool) -> RelayAck:
        """Switch port ``port`` (1-based); the ack says whether mains is actually on the outlet now."""
        what = f"SET_RELAY port {port} {'on' if on else 'off'}"
        return self._decode(RelayAck.decode, self._request(MsgType.SET_RELAY, set_relay_request(port, on), what), what)

    def read_ports(self) -> PortsSnapshot:
        """Measurements and flags of every port, and the pile's status, in one poll."""
        return self._decode(PortsSnapshot.decode, self._request(MsgType.READ_PORTS, b"", "READ_PORTS"), "READ_PORTS")

    def read_smoke(self) -> bool:
        """Whether the smoke detector input is active now."""
        payload = self._request(MsgType.READ_SMOKE, b"", "READ_SMOKE")
        return self._decode(_smoke, payload, "READ_SMOKE")

    def clear_fault(self, port: int) -> FaultClearAck:
        """Clear the latched faults of ``port`` whose condition is gone (a replaced fuse); the ack has what remains."""
        what = f"CLEAR_FAULT port {port}"
        return self._decode(FaultClearAck.decode, self._request(MsgType.CLEAR_FAULT, port_request(port), what), what)

    def _decode(self, decoder: Callable[[bytes], T], payload: bytes, what: str) -> T:
        try:
            return decoder(payload)
        except PileFrameError as e:
            self.stats.malformed += 1
            raise PileLinkError(self.port, f"pile MCU answered {what} with a malformed payload: {e}") from e

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _request(self, type_: MsgType, payload: bytes, what: str) -> bytes:
        if self._closed.is_set():
            raise PileLinkError(self.port, f"pile MCU: {what}: client is closed")
        expected = response_type(type_)
        with self._request_lock:
            self.stats.requests += 1
            seq = self._next_seq()
            raw = encode_frame(seq, type_, payload)
            problem = ""
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                with self._cond:
                    self._waiting = (seq, expected)
                    self._answer = None
                try:
                    self._write(raw)
                except LinkIOError as e:
                    problem = f"; {e.detail}"
                    time.sleep(min(self.timeout, 0.05))
                    continue
                answer = self._wait_answer(self.timeout)
                if answer is not None:
                    return self._check(answer, what)
                self.stats.timeouts += 1
            with self._cond:
                self._waiting = None
            tries = self.retries + 1
            if not problem and self.last_link_error:
                problem = f"; last link error: {self.last_link_error}"
            raise PileLinkError(
                self.port,
                f"pile MCU did not answer {what} (seq {seq}) after {tries} tries of {self.timeout:g} s{problem}",
            )

    def _wait_answer(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._answer is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            answer, self._answer = self._answer, None
            if answer is not None:
                self._waiting = None
            return answer

    def _check(self, answer: Frame, what: str) -> bytes:
        if answer.type == MsgType.ERROR:
            try:
                _, code = parse_error(answer.payload)
            except PileFrameError as e:
                raise PileCommandError(self.port, f"pile MCU refused {what}: malformed ERROR frame ({e})", 0) from e
            name = getattr(code, "name", str(code)).lower().replace("_", " ")
            raise PileCommandError(self.port, f"pile MCU refused {what}: {name} (code {int(code)})", int(code))
        return answer.payload

    def _write(self, data: bytes) -> None:
        with self._tx_lock:
            self._link.write(data)

    # ------------------------------------------------------------- reader ----

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._link.read_some(0.05)
            except LinkIOError as e:
                if self._closed.is_set():
                    return
                self.stats.link_errors += 1
                if e.detail != self.last_link_error:
                    log.warning("%s", e)  # once per new error, not every 0.1 s while the port is gone
                self.last_link_error = e.detail
                self._closed.wait(0.1)
                continue
            if not data:
                continue
            frames = self._parser.feed(data)
            self.stats.crc_errors = self._parser.crc_errors  # counted before an answer wakes its requester
            self.stats.garbage_bytes = self._parser.garbage_bytes
            for frame in frames:
                try:
                    self._dispatch(frame)
                except Exception:  # a bug here must not stop the reader
                    log.exception("pile %s: failed to handle frame %r", self.port, frame)

    def _dispatch(self, frame: Frame) -> None:
        if is_event_type(frame.type):
            self._on_event_frame(frame)
            return
        if frame.type & 0x80:
            with self._cond:
                waiting = self._waiting
                if (
                    waiting is not None
                    and frame.seq == waiting[0]
                    and frame.type in (waiting[1], MsgType.ERROR)
                    and self._answer is None
                ):
                    self._answer = frame
                    self._cond.notify_all()
                    return
            self.stats.stale_responses += 1
            return
        self.stats.malformed += 1
        log.debug("pile %s: unexpected frame type 0x%02X from the MCU", self.port, frame.type)

    def _on_event_frame(self, frame: Frame) -> None:
        try:
            self._write(encode_frame(frame.seq, MsgType.EVENT_ACK, bytes([frame.type])))
        except LinkIOError as e:
            self.last_link_error = e.detail
            log.warning("pile %s: could not acknowledge event: %s", self.port, e.detail)
        if frame.type not in EVENTS:
            self.stats.unknown_events += 1  # a newer firmware's event: acknowledged, not understood
            return
        try:
            event = decode_event(frame.seq, frame.type, frame.payload)
        except PileFrameError as e:
            self.stats.malformed += 1
            log.warning("pile %s: malformed event: %s", self.port, e)
            return
        key = (frame.seq, frame.type)
        if isinstance(event, BootEvent):
            self._seen_events.clear()  # the MCU restarts its sequence numbers
        elif key in self._seen_events:
            self.stats.duplicate_events += 1
            return
        self._seen_events.append(key)
        self.stats.events += 1
        try:
            self._events.put_nowait(event)
        except queue.Full:
            log.warning("pile %s: event queue full, dropping %r", self.port, event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("pile %s: on_event callback failed for %r", self.port, event)

    # ------------------------------------------------------------- events ----

    def next_event(self, timeout: float | None = None) -> PileEvent | None:
        """The next unsolicited event, waiting up to ``timeout`` seconds (None: forever); None if none came."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain_events(self) -> list[PileEvent]:
        out: list[PileEvent] = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    # ----------------------------------------------------------- lifecycle ----

    def close(self) -> None:
        self._closed.set()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(2.0)
        with contextlib.suppress(LinkIOError):
            self._link.close()

    def __enter__(self) -> PileClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PileClient {self.port}>"
