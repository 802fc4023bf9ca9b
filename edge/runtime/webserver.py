"""An ASGI app (Starlette, FastAPI) served by uvicorn in a daemon thread of the agent: the maintenance page and any
page an app serves to residents (the taxi kiosk's touch screen). Binding happens in :meth:`start`, so 'address in
use' is an OSError there and not a silent dead thread; ``port: 0`` takes a free port (see :attr:`port`)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class ThreadedServer:
    def __init__(self, app: Any, host: str, port: int, name: str, force_exit: bool = False,
                 tls_cert_file: Any = None, tls_key_file: Any = None) -> None:
        self.app = app
        self.tls_cert_file = tls_cert_file  # HTTPS when both are given
        self.tls_key_file = tls_key_file
        self.host = host
        self.port = port
        self.name = name
        self.force_exit = force_exit  # end open long polls at once on stop
        self.error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"{'https' if self.tls_cert_file else 'http'}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive() and self._server is not None
                and self._server.started)

    def start(self, timeout: float = 10.0) -> None:
        """Bind (an OSError such as 'address in use' is raised here) and serve in a thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        tls: dict[str, Any] = {}
        if self.tls_cert_file and self.tls_key_file:
            tls = {"ssl_certfile": str(self.tls_cert_file), "ssl_keyfile": str(self.tls_key_file)}
        # The pure-Python HTTP/1.1 parser and asyncio's own loop: a page for one maintainer (or one kiosk
        # screen) needs neither uvloop nor httptools, and no WebSocket is served (long polls only); not loading
        # them keeps a device agent's memory down (bench/lift_guard.py, rss_mb).
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, loop="asyncio", http="h11", ws="none", **tls)
        server = self._server = uvicorn.Server(config)

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # SystemExit from uvicorn included
                self.error = exc
                log.error("%s stopped: %r", self.name, exc)

        self._thread = threading.Thread(target=run, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise OSError(f"{self.name} did not start: {self.error!r}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self.force_exit:
                self._server.force_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
