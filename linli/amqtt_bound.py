"""The embedded amqtt broker with client ids bound to accounts (what ``use_username_as_clientid`` does for
Mosquitto).

amqtt 0.12 resolves a CONNECT's client id — deleting or taking over the session of that id — *before* it checks
the password. So the check has to come first: :class:`BoundBroker` reads the CONNECT, authenticates it with the
configured plugins and checks the binding (a device account may only use its own name as client id; the server
account may not use a device's name), and refuses the connection before any session is touched.
"""

from __future__ import annotations

from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.errors import AMQTTError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import Session
from amqtt.utils import gen_client_id

DEVICE_PREFIX = "dev."


def client_id_allowed(username: str | None, client_id: str | None) -> bool:
    """Device accounts (``dev.<site>.<device>``) use exactly their own name; other accounts (the server) any id
    that is not a device's."""
    if not username:
        return False
    if username.startswith(DEVICE_PREFIX):
        return client_id == username
    return not (client_id or "").startswith(DEVICE_PREFIX)


class BoundBroker(Broker):
    async def _initialize_client_session(self, reader: ReaderAdapter, writer: WriterAdapter, remote_address: str,
                                         remote_port: int) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        except Exception as exc:
            await writer.close()
            raise AMQTTError(f"bad CONNECT from {remote_address}:{remote_port}: {exc}") from exc
        ok = await self._authenticate(session, None)  # type: ignore[arg-type]
        if not ok or not client_id_allowed(session.username, session.client_id):
            handler.attach(session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"refused {session.username!r} as client id {session.client_id!r} "
                             f"from {remote_address}:{remote_port}")
        # From here on as amqtt does it (Broker._initialize_client_session).
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for attr in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username",
                         "password"):
                setattr(existing, attr, getattr(session, attr))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay: Any = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session
