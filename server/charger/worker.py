"""The charger's background worker: sends ``settle_ack`` to piles for the bills the server has stored
(application-level acknowledgement).

The outbox already resends a settlement until the broker's PUBACK; this is the *business* acknowledgement: the
device keeps resending a settlement (same order id) until it gets ``settle_ack`` naming it. A lost ack (device
offline, command expired) costs only a resend, which ingest turns into another due ack, never a second bill.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from linli.contract import utcnow
from server.commands import send_command
from server.db.models import Device
from server.worker import LoopWorker

from .models import ChargerOrder

if TYPE_CHECKING:
    from server.app import Server

log = logging.getLogger(__name__)
ACK_TTL_S = 600.0
MAX_PER_COMMAND = 200


def send_due_acks(srv: Server) -> int:
    """Send one ``settle_ack`` per device with due orders; returns the number of orders acknowledged."""
    with srv.db.session() as s:
        rows = s.execute(select(ChargerOrder.id, ChargerOrder.order_id, ChargerOrder.device_id)
                         .where(ChargerOrder.ack_due.is_(True)).order_by(ChargerOrder.id).limit(2000)).all()
        devices = {d.id: d for d in s.scalars(select(Device).where(Device.id.in_({r[2] for r in rows})))}
        for d in devices.values():
            s.expunge(d)
    by_dev: dict[int, list[tuple[int, str]]] = {}
    for rid, oid, dev_id in rows:
        by_dev.setdefault(dev_id, []).append((rid, oid))
    done = 0
    for dev_id, items in by_dev.items():
        dev = devices.get(dev_id)
        if dev is None:
            continue
        for i in range(0, len(items), MAX_PER_COMMAND):
            chunk = items[i:i + MAX_PER_COMMAND]
            res = send_command(srv.db, srv.link, dev, "settle_ack", {"order_ids": [o for _, o in chunk]},
                               ACK_TTL_S, "server:billing", srv.settings.commands.publish_wait_s)
            if not res.published:
                continue  # the broker is away: still due, tried again next round
            with srv.db.session() as s:
                s.execute(update(ChargerOrder).where(ChargerOrder.id.in_([r for r, _ in chunk]))
                          .values(ack_due=False, acks_sent=ChargerOrder.acks_sent + 1, last_ack_at=utcnow()))
            done += len(chunk)
    return done


class Acker:
    """Sends the due settlement acks every ``interval_s`` once the server has started (a
    :class:`~server.worker.LoopWorker`; a failed round is logged and retried)."""

    def __init__(self, srv: Server, interval_s: float = 1.0) -> None:
        self.srv = srv
        self.loop = LoopWorker("charger-acks", self.run_once, interval_s, first="wait")

    def run_once(self) -> int:
        return send_due_acks(self.srv) if self.srv.started else 0

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()


def make_worker(srv: Server) -> Acker:
    return Acker(srv)
