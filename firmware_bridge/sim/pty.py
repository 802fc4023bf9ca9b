"""A pseudo-terminal pair: the agent opens ``device_path`` through pyserial like a USB adapter, and a
simulated MCU or meter reads and writes the other (master) end.

Both ends are raw (no echo, no line editing, no CR/LF translation), so bytes pass through unchanged.
Closing the pair makes the device vanish: the agent's next read or write fails as with a pulled
USB-serial adapter.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Callable

log = logging.getLogger(__name__)


class PtyPair:
    """``device_path`` (/dev/pts/N) for the agent; ``write``/``read`` act on the simulator's end."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.device_path: str = os.ttyname(self._slave)
        self._closed = False
        self._wlock = threading.Lock()

    @property
    def master_fd(self) -> int:
        return self._master

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> None:
        if self._closed:
            raise OSError(errno.EBADF, f"pty pair {self.device_path} is closed")

    def write(self, data: bytes, timeout: float = 2.0) -> None:
        """Send all of ``data`` to the agent's side; TimeoutError when the agent does not drain it in time."""
        self._check()
        view = memoryview(bytes(data))
        deadline = time.monotonic() + timeout
        with self._wlock:
            while view:
                try:
                    n = os.write(self._master, view)
                    view = view[n:]
                    continue
                except BlockingIOError:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"pty {self.device_path}: {len(view)} bytes not taken within {timeout:g} s")
                select.select([], [self._master], [], remaining)

    def read(self, n: int = 4096, timeout: float = 0.5) -> bytes:
        """What the agent wrote: up to ``n`` bytes as soon as some arrive, b"" after ``timeout`` seconds."""
        self._check()
        ready, _, _ = select.select([self._master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self._master, n)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:  # no process has the device open right now
                return b""
            raise

    def read_exactly(self, n: int, timeout: float = 2.0) -> bytes:
        """Exactly ``n`` bytes, or fewer when ``timeout`` seconds pass first."""
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            buf += self.read(n - len(buf), remaining)
        return bytes(buf)

    def close(self) -> None:
        """Close both ends; the device path disappears. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PtyPair {self.device_path}{' closed' if self._closed else ''}>"


class PtyResponder(threading.Thread):
    """Answers the agent from the master end: ``handle(bytes_in)`` returns the bytes to send back (or None).

    Pass ``callback`` or subclass and override :meth:`handle` (an MCU or meter simulator). Bytes arrive
    as the pty delivers them, so a framed protocol keeps its own buffer. :meth:`send` pushes unsolicited
    bytes (an MCU reporting an event). A subclass may also override :meth:`tick`, called about every
    ``poll_s`` seconds whether bytes arrived or not (firmware timers, unsolicited reports). Use as a
    context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        pair: PtyPair,
        callback: Callable[[bytes], bytes | None] | None = None,
        *,
        name: str = "pty-responder",
        poll_s: float = 0.05,
    ) -> None:
        super().__init__(name=name, daemon=True)
        if callback is None and type(self).handle is PtyResponder.handle:
            raise TypeError("PtyResponder needs a callback or a subclass overriding handle()")
        self.pair = pair
        self._callback = callback
        self._poll_s = poll_s
        self._halt = threading.Event()
        self.bytes_in = 0
        self.bytes_out = 0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def device_path(self) -> str:
        return self.pair.device_path

    def handle(self, data: bytes) -> bytes | None:
        assert self._callback is not None
        return self._callback(data)

    def tick(self) -> bytes | None:
        """Periodic hook of the device's own timers; bytes returned are sent unsolicited. Default: nothing."""
        return None

    def send(self, data: bytes) -> None:
        self.pair.write(data)
        self.bytes_out += len(data)

    def _guarded(self, what: str, fn: Callable[[], bytes | None], data: bytes = b"") -> None:
        try:
            reply = fn()
            if reply:
                self.send(reply)
        except Exception as e:  # a simulator bug must be visible, not kill the device
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("%s: %s failed on %r", self.name, what, data[:64])

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data = self.pair.read(timeout=self._poll_s)
            except OSError:
                if not self._halt.is_set() and not self.pair.closed:
                    log.exception("%s: pty read failed", self.name)
                return
            if data:
                self.bytes_in += len(data)
                self._guarded("handler", lambda d=data: self.handle(d), data)
            if not self._halt.is_set():
                self._guarded("tick", self.tick)

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)

    def __enter__(self) -> PtyResponder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
