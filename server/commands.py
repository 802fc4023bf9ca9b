"""Commands to devices and desired device config: stored, published through the broker, audited by the caller.

A command row goes pending → sent (the broker acknowledged it) → ok | error (the device's cmd_result, written by
ingest). A command past its expiry with no result is ``expired`` (shown so at once; ``expire_commands`` writes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import contract
from linli.contract import DeviceRef, Kind, utcnow
from server.db.engine import Database
from server.db.models import Command, Device, DeviceConfig
from server.db.types import json_safe
from server.ingest.link import MqttLink
from server.ingest.registry import HandlerRegistry, IngestContext

OPEN_STATES = ("pending", "sent")


def device_ref(dev: Device) -> DeviceRef:
    return DeviceRef(dev.site, Kind(dev.kind), dev.device)


def effective_state(cmd: Command, now: datetime | None = None) -> str:
    if cmd.state in OPEN_STATES and (now or utcnow()) >= cmd.expires:
        return "expired"
    return cmd.state


@dataclass
class SendResult:
    command: Command
    published: bool


class CommandNotAllowed(PermissionError):
    """A person asked for a command the kind's contract keeps for the server itself (or for other roles)."""


def check_sender(kind: str, name: str, role: str) -> None:
    """People may send only what the kind's contract (``linli.contract.<kind>``) lets their role send: commands the
    server sends itself (list sync, settlement acknowledgements, order updates, payments) never."""
    try:
        info = contract.command_info(kind, name)
    except ValueError:
        return
    if info is not None and not info.may_send(role):
        raise CommandNotAllowed(f"{name} ({info.en}) is sent by the server itself, not by a {role}"
                                if info.senders == contract.SERVER_ONLY else
                                f"a {role} may not send {name} ({info.en})")


def send_command(db: Database, link: MqttLink | None, dev: Device, name: str, args: dict[str, Any], ttl_s: float,
                 by: str, publish_wait_s: float) -> SendResult:
    """Store the command, publish it (QoS1) to the device's cmd topic and mark it sent when the broker has it."""
    ref = device_ref(dev)
    cmd = contract.Command.make(by=by, args=args, ttl_s=ttl_s)
    topic = ref.cmd_topic(name)  # validates the name
    row = Command(id=cmd.id, device_id=dev.id, name=name, args=json_safe(cmd.args), by=by, created_at=cmd.issued,
                  expires=cmd.expires, state="pending")
    with db.session() as s:
        s.add(row)
    published = link is not None and link.publish(topic, cmd.encode(), qos=1, wait_s=publish_wait_s)
    if published:
        with db.session() as s:
            now = utcnow()
            s.execute(update(Command).where(Command.id == cmd.id, Command.state == "pending")
                      .values(state="sent", sent_at=now))
            fresh = s.get(Command, cmd.id)
            assert fresh is not None
            row = fresh
    return SendResult(row, published)


def expire_commands(db: Database, now: datetime | None = None) -> int:
    """Mark pending/sent commands past their expiry as expired. Returns how many."""
    now = now or utcnow()
    with db.session() as s:
        res = s.execute(update(Command).where(Command.state.in_(OPEN_STATES), Command.expires <= now)
                        .values(state="expired", finished_at=now))
        return int(res.rowcount or 0)  # type: ignore[attr-defined]


def get_config(session: Session, dev: Device) -> DeviceConfig | None:
    return session.get(DeviceConfig, dev.id)


def set_desired_config(db: Database, link: MqttLink | None, dev: Device,
                       overrides: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]], by: str,
                       publish_wait_s: float) -> tuple[DeviceConfig, bool]:
    """New desired version (one above both the last desired and the last reported one), stored, then published
    retained so the device gets it whenever it connects. ``overrides`` replaces the ones in force, or is a function
    making the new ones from those in force (called under the row's lock, so a change made meanwhile — a tariff
    pushed to the site while a person fills the form — is not lost)."""
    ref = device_ref(dev)
    with db.session() as s:
        row = s.execute(select(DeviceConfig).where(DeviceConfig.device_id == dev.id).with_for_update()
                        ).scalar_one_or_none()
        if row is None:
            row = DeviceConfig(device_id=dev.id, desired_version=0)
            s.add(row)
        version = max(row.desired_version or 0, row.reported_version or 0) + 1
        if callable(overrides):
            overrides = overrides(dict(row.desired_overrides or {}))
        desired = contract.ConfigDesired(version=version, overrides=json_safe(overrides), by=by)
        row.desired_version = version
        row.desired_overrides = desired.overrides
        row.desired_by = by
        row.desired_at = desired.ts
    published = link is not None and link.publish(ref.config_desired_topic, desired.encode(), qos=1, retain=True,
                                                  wait_s=publish_wait_s)
    return row, published


def register_config_resend(handlers: HandlerRegistry, link: Callable[[], MqttLink | None]) -> None:
    """When a device says it is online and has not yet reported the desired config version, publish that version
    again (retained). The device gets it on connect from the broker's retained copy anyway — unless the broker keeps
    retained messages per node (RabbitMQ) and the device came back on another node: then this copy is what reaches
    it. Nothing in the contract depends on retained messages being shared between broker nodes."""

    def on_status(ctx: IngestContext, st: contract.Status) -> None:
        if st.state != "online":
            return
        row = ctx.session.get(DeviceConfig, ctx.device_id)
        if row is None or not row.desired_version or (row.reported_version or 0) >= row.desired_version:
            return
        lk = link()
        if lk is None:
            return
        desired = contract.ConfigDesired(version=row.desired_version, overrides=row.desired_overrides or {},
                                         by=row.desired_by or "server", ts=row.desired_at or utcnow())
        lk.publish(ctx.ref.config_desired_topic, desired.encode(), qos=1, retain=True)

    for kind in Kind:
        handlers.on_status(kind, on_status)
