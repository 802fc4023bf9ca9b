"""The HTTP endpoint LPR cameras push to: a small threaded server (stdlib ``http.server``) in the agent.

Every push gets an answer the camera understands, fast (the decision is local): the verdict for a read, an
acknowledgement that stops resending for what we refuse (malformed JSON, unknown camera), 413 for a body over
the limit (not read), and a heartbeat answer for heartbeats. Counters say what came in.

A push opens the barrier, so it is authenticated: only from ``lpr.allow_from`` (403 otherwise; an empty list is a
config error unless ``lpr.allow_any``), and with a shared secret when one is configured (``lpr.token_file`` /
``token_env``): ``?token=…`` in the push URL, the ``X-Linli-Token`` header, or the password of HTTP Basic (401
otherwise). The endpoint listens on ``lpr.host`` only (default 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.runtime.config import ConfigError

from .config import LprConfig
from .lprpush import PushError, PushRead, decode_body, error_reply, heartbeat_reply, is_heartbeat, parse_push

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"token=[^&\s]*")

#: (read) → reply dict; raises PushError for reads it refuses.
PushHandler = Callable[[PushRead], dict[str, Any]]


def load_token(cfg: LprConfig) -> str | None:
    """The shared secret from ``lpr.token_file`` / ``token_env`` (None when neither is set); ``ConfigError``
    naming the key when it cannot be read or is empty."""
    if cfg.token_env is not None:
        value = os.environ.get(cfg.token_env, "").strip()
        if not value:
            raise ConfigError(f"lpr.token_env: environment variable {cfg.token_env} is not set")
        return value
    if cfg.token_file is None:
        return None
    try:
        value = cfg.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"lpr.token_file: cannot read {cfg.token_file}: {exc.strerror or exc}") from None
    if not value:
        raise ConfigError(f"lpr.token_file: {cfg.token_file} is empty")
    return value


class LprServer:
    def __init__(self, cfg: LprConfig, handle: PushHandler) -> None:
        self.cfg = cfg
        self.handle = handle
        self.token = load_token(cfg)
        self.counts: Counter[str] = Counter()
        self.last_error: str | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.cfg.port  # type: ignore[return-value]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.cfg.host in ("0.0.0.0", "") else self.cfg.host
        return f"http://{host}:{self.port}{self.cfg.path}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "linli-gate"
            timeout = 15  # a sender that stalls mid-request does not hold a thread for ever

            def log_message(self, format: str, *args: Any) -> None:
                safe = tuple(_TOKEN_RE.sub("token=***", a) if isinstance(a, str) else a for a in args)
                log.debug("lpr %s " + format, self.client_address[0], *safe)

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:  # say so, or the camera reuses a connection we are about to close
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(405, error_reply("POST the plate results here"))

            def do_POST(self) -> None:
                outer._post(self)

        self._httpd = ThreadingHTTPServer((self.cfg.host, self.cfg.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="lpr-http", daemon=True)
        self._thread.start()
        log.info("LPR push endpoint on %s", self.url)

    def _refuse(self, h: Any, status: int, what: str, message: str) -> None:
        self.counts[what] += 1
        self.last_error = message
        log.warning("LPR push from %s refused (%s): %s", h.client_address[0], status, message)
        h._send(status, error_reply(message))

    def _allowed(self, address: str) -> bool:
        if self.cfg.allow_any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.cfg.allow_from)

    def _authentic(self, h: Any) -> bool:
        """The shared secret, when one is configured: query ``token``, ``X-Linli-Token`` or Basic's password."""
        if self.token is None:
            return True
        given = [*parse_qs(urlsplit(h.path).query).get("token", []), h.headers.get("X-Linli-Token", "")]
        scheme, _, value = h.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                given.append(base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2])
            except (binascii.Error, UnicodeDecodeError):
                pass
        want = self.token.encode()
        return any(hmac.compare_digest(g.encode(), want) for g in given if g)

    def _drain(self, h: Any) -> None:
        """Read (and drop) a refused request's body when it is not too big: closing a connection whose body is still
        arriving makes the kernel reset it, and the camera then sees no answer at all instead of the refusal."""
        try:
            length = int(h.headers.get("Content-Length", ""))
        except ValueError:
            return
        if 0 < length <= self.cfg.max_body_bytes:
            try:
                h.rfile.read(length)
            except OSError:
                pass

    def _post(self, h: Any) -> None:
        if not self._allowed(h.client_address[0]):
            h.close_connection = True
            self._drain(h)
            self._refuse(h, 403, "forbidden", f"pushes from {h.client_address[0]} are not accepted (lpr.allow_from)")
            return
        if h.path.split("?", 1)[0] != self.cfg.path:
            self._refuse(h, 404, "not_found", f"no push endpoint at {h.path.split('?', 1)[0][:80]}; use "
                                              f"{self.cfg.path}")
            return
        if not self._authentic(h):
            h.close_connection = True
            self._drain(h)
            self._refuse(h, 401, "unauthorized", "the push did not bring the shared secret (lpr.token_file)")
            return
        try:
            length = int(h.headers.get("Content-Length", ""))
        except ValueError:
            h.close_connection = True
            self._refuse(h, 411, "no_length", "Content-Length is required")
            return
        if length > self.cfg.max_body_bytes or length < 0:
            h.close_connection = True  # the body is not read
            self._refuse(h, 413, "too_large", f"push of {length} bytes is over the {self.cfg.max_body_bytes}-byte "
                                              "limit")
            return
        body = h.rfile.read(length)
        try:
            doc = decode_body(body, h.headers.get("Content-Type"))
            if is_heartbeat(doc):
                self.counts["heartbeat"] += 1
                h._send(200, heartbeat_reply())
                return
            read = parse_push(doc, self.cfg.max_image_bytes)
            result = self.handle(read)
        except PushError as exc:
            self._refuse(h, exc.status, "malformed" if exc.status == 400 else "refused", str(exc))
            return
        except Exception as exc:  # never leave the camera without an answer
            log.exception("LPR push handling failed")
            self._refuse(h, 500, "error", f"{type(exc).__name__}: {exc}")
            return
        self.counts["reads"] += 1
        h._send(200, result)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(2)
