"""Whether a TCP port can be listened on, in words (shared by the agent's and the server's start-up checks)."""

from __future__ import annotations

import errno
import socket

__all__ = ["port_problem"]


def port_problem(host: str, port: int, what: str) -> str | None:
    """None when ``host:port`` can be listened on now; else why not, in words."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{what}: port {port} on {host} is already in use by another program"
            if exc.errno == errno.EACCES:
                return f"{what}: not allowed to listen on port {port} on {host} (ports below 1024 need root)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{what}: {host} is not an address of this machine"
            return f"{what}: cannot listen on {host}:{port} ({exc.strerror or exc})"
    return None
