"""A list of broker addresses for an MQTT client, and moving on to the next one when the current one fails.

Agents (``mqtt.hosts`` in a device's YAML) and the server (``mqtt.hosts`` in its settings) take the nodes of a
clustered broker as ``host:port`` entries. paho-mqtt reconnects to the address it was last given, so on a lost
connection or a failed connect the client is pointed at the next node with ``connect_async`` (from paho's own
callbacks, on its network thread, before its loop reconnects): the back-off then runs across the nodes in turn.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt


def parse_hosts(entries: list[str], default_port: int) -> list[tuple[str, int]]:
    """``["10.0.0.5:1883", "broker-b"]`` → ``[("10.0.0.5", 1883), ("broker-b", default_port)]``."""
    out = []
    for entry in entries:
        host, sep, port = entry.strip().rpartition(":")
        if not sep:
            host, port = entry.strip(), str(default_port)
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"broker address {entry!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


class Failover:
    """The broker addresses of one client, the one in use first."""

    def __init__(self, hosts: list[tuple[str, int]]) -> None:
        if not hosts:
            raise ValueError("at least one broker address is needed")
        self.hosts = hosts
        self.index = 0

    @property
    def current(self) -> tuple[str, int]:
        return self.hosts[self.index]

    def __str__(self) -> str:
        host, port = self.current
        return f"{host}:{port}"

    def advance(self, client: mqtt.Client, keepalive: int, **connect_kw: Any) -> bool:
        """Point ``client`` at the next address (its loop's next reconnect goes there). False with one address."""
        if len(self.hosts) < 2:
            return False
        self.index = (self.index + 1) % len(self.hosts)
        host, port = self.current
        client.connect_async(host, port, keepalive, **connect_kw)
        return True
