"""Pages: device management (desired config overrides, remote commands with confirmation) and the audit log.
Every action here goes through the same code path and audit as the API (``server.commands``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from linli.contract import NAME_RE, command_info
from linli.contract.config_schemas import config_schema
from linli.merge import deep_merge
from server.api.deps import find_device, form_user, get_server, require
from server.audit import audit, visible_audit
from server.auth import User
from server.commands import check_sender, send_command, set_desired_config
from server.db.models import AuditLog
from server.web import config_form, render, schema_form

router = APIRouter(include_in_schema=False)


def _back(site: str, kind: str, device: str, err: str = "", msg: str = "") -> RedirectResponse:
    q = urlencode({k: v for k, v in (("err", err), ("msg", msg)) if v})
    return RedirectResponse(f"/devices/{site}/{kind}/{device}" + (f"?{q}" if q else "") + "#manage", status_code=303)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what}: must be a JSON object {{…}}")
    return value


async def _form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (the typed command form's ``arg.<name>`` fields vary by command)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/devices/{site}/{kind}/{device}/config")
def push_config(request: Request, site: str, kind: str, device: str,
                user: Annotated[User, Depends(form_user("config"))],
                fields: Annotated[dict[str, str], Depends(_form_fields)],
                reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    """The desired-config form (fields ``cfg.<key path>``, generated from the kind's config schema): checked field
    by field; refused, the page comes back with what was typed and each field's message (nothing is lost)."""
    from server.web import config_form_of, device_view

    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, kind, device)
    schema = config_schema(dev.kind)
    form = config_form_of(dev.kind)
    if schema is None or form is None:
        return _back(site, kind, device, err="cfg_no_schema")
    text = {k: v[:20_000] for k, v in fields.items() if k.startswith(config_form.PREFIX)}
    try:
        values = config_form.values(schema, form, text)
    except config_form.ConfigFormError as exc:
        return device_view(request, user, site, kind, device, cfg_text=text, cfg_errors=exc.errors,
                           cfg_reason=reason, status_code=422)
    # what the form cannot show (a key it has no field for) stays, read under the row's lock with the rest
    row, published = set_desired_config(srv.db, srv.link, dev,
                                        lambda cur: deep_merge(config_form.outside(form, cur), values), user.name,
                                        srv.settings.commands.publish_wait_s)
    with srv.db.session() as s:
        audit(s, user.name, "config.set", dev.key, "ok", version=row.desired_version,
              overrides=row.desired_overrides or {}, published=published, reason=reason or None, via="page")
    return _back(site, kind, device, msg="done_ok")


@router.post("/devices/{site}/{kind}/{device}/command")
def post_command(request: Request, site: str, kind: str, device: str,
                 user: Annotated[User, Depends(form_user("command"))],
                 fields: Annotated[dict[str, str], Depends(_form_fields)],
                 name: Annotated[str, Form(max_length=48)], args: Annotated[str, Form(max_length=10_000)] = "{}",
                 reason: Annotated[str, Form(max_length=500)] = "",
                 confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, kind, device)
    if not confirm:
        return _back(site, kind, device, err="confirm_label")
    if not NAME_RE.fullmatch(name):
        return _back(site, kind, device, err=f"not a command name: {name}")
    if not reason.strip():
        return _back(site, kind, device, err="reason")
    try:
        if fields.get("typed") == "1":  # the command picker's typed form (fields from the contract's argument model)
            info = command_info(dev.kind, name)
            if info is None:
                raise ValueError(f"not a command of this kind: {name}")
            values = schema_form.values(info.args, fields)
        else:
            values = _json_object(args, "args")
    except ValueError as exc:
        return _back(site, kind, device, err=str(exc))
    cfg = srv.settings.commands
    try:
        check_sender(dev.kind, name, user.role)
        res = send_command(srv.db, srv.link, dev, name, values, cfg.default_ttl_s, user.name, cfg.publish_wait_s)
    except Exception as exc:
        with srv.db.session() as s:
            audit(s, user.name, "command.send", dev.key, "error", name=name, args=values, error=str(exc),
                  reason=reason, via="page")
        return _back(site, kind, device, err=str(exc))
    with srv.db.session() as s:
        audit(s, user.name, "command.send", dev.key, "ok", id=res.command.id, name=name, args=values,
              published=res.published, reason=reason, via="page")
    return _back(site, kind, device, msg="done_ok")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: Annotated[User, Depends(require("audit"))],
               who: str | None = Query(None, max_length=64), action: str | None = Query(None, max_length=64),
               since: datetime | None = None) -> HTMLResponse:
    stmt = visible_audit(select(AuditLog), user).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(300)
    if who:
        stmt = stmt.where(AuditLog.who == who)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action))
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    with get_server(request).db.session() as s:
        rows = list(s.scalars(stmt))
    return render(request, "ops/audit.html", user, {"rows": rows, "who": who or "", "action": action or ""})
