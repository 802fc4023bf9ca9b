"""/api/v1/devices…: registry, telemetry, commands, desired config."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy import select

from linli.contract import Kind, utcnow
from server.api.deps import find_device, get_server, require, visible
from server.api.schemas import CommandIn, CommandOut, ConfigIn, ConfigOut, DeviceOut, TelemetryOut
from server.audit import audit
from server.auth import User
from server.commands import CommandNotAllowed, check_sender, get_config, send_command, set_desired_config
from server.db.models import Command, Device, Telemetry

router = APIRouter(prefix="/api/v1", tags=["devices"])
Reader = Annotated[User, Depends(require("read"))]
DEV = "/devices/{site}/{kind}/{device}"


@router.get("/devices", response_model=list[DeviceOut], summary="List devices")
def list_devices(request: Request, user: Reader, site: str | None = None, kind: Kind | None = None,
                 online: bool | None = None) -> list[DeviceOut]:
    stmt = visible(select(Device), user).order_by(Device.site, Device.kind, Device.device)
    if site:
        stmt = stmt.where(Device.site == site)
    if kind:
        stmt = stmt.where(Device.kind == kind.value)
    if online is not None:
        stmt = stmt.where(Device.state == "online") if online else stmt.where(Device.state != "online")
    with get_server(request).db.session() as s:
        return [DeviceOut.of(d) for d in s.scalars(stmt)]


@router.get(DEV, response_model=DeviceOut, summary="One device")
def get_device(request: Request, user: Reader, site: str, kind: str, device: str) -> DeviceOut:
    with get_server(request).db.session() as s:
        return DeviceOut.of(find_device(s, user, site, kind, device))


@router.get(DEV + "/telemetry", response_model=list[TelemetryOut], summary="Telemetry of a device, oldest first")
def get_telemetry(request: Request, user: Reader, site: str, kind: str, device: str,
                  since: datetime | None = Query(None, description="default: an hour before `until`"),
                  until: datetime | None = Query(None, description="default: now"),
                  limit: int = Query(500, ge=1, le=5000, description="the newest this many in the range")
                  ) -> list[TelemetryOut]:
    until = until or utcnow()
    since = since or until - timedelta(hours=1)
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, kind, device)
        rows = list(s.scalars(select(Telemetry).where(Telemetry.device_id == dev.id, Telemetry.ts >= since,
                                                      Telemetry.ts <= until)
                              .order_by(Telemetry.ts.desc()).limit(limit)))
    return [TelemetryOut.of(t) for t in reversed(rows)]


@router.post(DEV + "/commands", response_model=CommandOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Send a command to a device (admin, maintenance)")
def post_command(request: Request, site: str, kind: str, device: str, body: CommandIn,
                 user: Annotated[User, Depends(require("command", "command.send"))]) -> CommandOut:
    srv = get_server(request)
    cfg = srv.settings.commands
    ttl = body.ttl_s if body.ttl_s is not None else cfg.default_ttl_s
    if ttl > cfg.max_ttl_s:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"ttl_s may be at most {cfg.max_ttl_s:g}")
    with srv.db.session() as s:
        dev = find_device(s, user, site, kind, device)
    try:
        check_sender(dev.kind, body.name, user.role)
    except CommandNotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    try:
        res = send_command(srv.db, srv.link, dev, body.name, body.args, ttl, user.name, cfg.publish_wait_s)
    except Exception as exc:
        with srv.db.session() as s:
            audit(s, user.name, "command.send", dev.key, "error", name=body.name, args=body.args, error=str(exc))
        raise
    with srv.db.session() as s:
        audit(s, user.name, "command.send", dev.key, "ok", id=res.command.id, name=body.name, args=body.args,
              ttl_s=ttl, published=res.published)
    return CommandOut.of(res.command, dev, res.published)


@router.get(DEV + "/commands", response_model=list[CommandOut], summary="Recent commands of a device")
def list_commands(request: Request, user: Reader, site: str, kind: str, device: str,
                  limit: int = Query(50, ge=1, le=500)) -> list[CommandOut]:
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, kind, device)
        rows = s.scalars(select(Command).where(Command.device_id == dev.id)
                         .order_by(Command.created_at.desc()).limit(limit))
        return [CommandOut.of(c, dev) for c in rows]


@router.get("/commands/{command_id}", response_model=CommandOut, summary="A command's state and result")
def get_command(request: Request, user: Reader, command_id: str) -> CommandOut:
    with get_server(request).db.session() as s:
        row = s.execute(select(Command, Device).join(Device, Command.device_id == Device.id)
                        .where(Command.id == command_id)).first()
        if row is None or not user.sees(row[1].site):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no command {command_id}")
        return CommandOut.of(row[0], row[1])


@router.get(DEV + "/config", response_model=ConfigOut, summary="Desired and reported config")
def get_device_config(request: Request, user: Reader, site: str, kind: str, device: str) -> ConfigOut:
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, kind, device)
        return ConfigOut.of(get_config(s, dev))


@router.put(DEV + "/config", response_model=ConfigOut, status_code=status.HTTP_202_ACCEPTED,
            summary="Set the desired config overrides (admin, maintenance); published retained, version + 1")
def put_device_config(request: Request, site: str, kind: str, device: str, body: ConfigIn,
                      user: Annotated[User, Depends(require("config", "config.set"))]) -> ConfigOut:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, kind, device)
    row, published = set_desired_config(srv.db, srv.link, dev, body.overrides, user.name,
                                        srv.settings.commands.publish_wait_s)
    with srv.db.session() as s:
        audit(s, user.name, "config.set", dev.key, "ok", version=row.desired_version, overrides=body.overrides,
              published=published)
        return ConfigOut.of(get_config(s, dev), published)
