"""Site scoping: the one check that stands between a user limited to some sites and every other site's data.

Every route of the app runs ``enforce_scope`` (an app-wide dependency, installed by ``server.security.install``)
before its own code. It looks at the request's path parameters, query parameters, form fields and top-level JSON
fields; each one named in ``RULES`` (for the route's path) is resolved to the site(s) it belongs to — a ``site``
is itself, a work order's ``order_id`` is the order's site, a user ``name`` the sites of that account, and so on —
and a user who does not see one of them gets 404 (the same answer as for an id that does not exist, so ids of
other sites do not leak) before the handler runs; the refusal is audited. Ids that do not exist resolve to nothing
and are left to the handler's own 404. Lists and pages without ids filter by ``visible`` / ``User.sees`` as
before; ``tests/server/security/test_security_scope.py`` walks the app's route table and proves both for every route.

A new route whose ids are not in ``RULES`` is caught by that test: add a rule here (path prefix, field, resolver).
``PUBLIC`` lists the routes anyone may call, each with the reason; they are not scoped (no user).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE
from server.audit import audit
from server.auth import User
from server.db.models import Blob, Command, Device, Event
from server.payments.public import PUBLIC_BY_DESIGN as RESIDENT_PUBLIC

#: A user who may see every site passes a check for ``EVERY_SITE`` (an account without site limits); no one else.
EVERY_SITE = "*"

#: Routes that need no user, with the reason (method, path template) → why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe for the service manager; says only ok/not ok and which part is down",
    ("GET", "/metrics"): "Prometheus scrape (bind it to the monitoring network); counters only, no site data",
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in (throttled and locked out per account and per address: linli.websec)",
    ("POST", "/api/v1/gate/payments/callback"): "the payment provider's callback; authenticated by the HMAC "
                                                "signature over the body (X-Linli-Signature), not by a user",
    ("GET", "/openapi.json"): "the API's description (no data)",
    ("GET", "/docs"): "the API's documentation page (no data)",
    ("GET", "/docs/oauth2-redirect"): "part of the API documentation page (no data)",
    ("GET", "/redoc"): "the API's documentation page (no data)",
    ("GET", "/classifiers/{filename}"): "what lift guards download after a deploy: a site classifier named by its "
                                        "SHA-256 (unguessable), weights only (no picture), checked by the device",
    ("GET", "/releases/{filename}"): "what devices download to update: an open-source archive whose size, SHA-256 "
                                     "and Ed25519 signature the device checks before unpacking anything",
    **RESIDENT_PUBLIC,  # residents' phone pages and the payment provider's endpoints, each with its reason
}
#: Routes only a user of every site may call (they concern the whole fleet), with the reason.
EVERY_SITE_ONLY: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/releases"): "a release is fleet-wide; site-limited admins roll out (to their sites) only "
                                  "releases an admin of every site uploaded",
}


def public_reason(method: str, path: str) -> str | None:
    """Why anyone may call this route without an account (``PUBLIC``, which takes in the residents' and payment
    modules' ``PUBLIC_BY_DESIGN``), or None."""
    return PUBLIC.get((method, path))

Resolver = Callable[[Session, Any], Iterable[str] | None]


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def _site(_s: Session, value: Any) -> Iterable[str] | None:
    v = _as_text(value)
    if v is None:
        return None
    return [v] if NAME_RE.fullmatch(v) else [EVERY_SITE]  # not a site name: only all-site users get past it


def _device_site(model: Any, key: Any) -> Resolver:
    def resolve(s: Session, value: Any) -> Iterable[str] | None:
        v = _as_text(value)
        if v is None:
            return None
        site = s.scalar(select(Device.site).join(model, model.device_id == Device.id).where(key == v))
        return [site] if site is not None else None
    return resolve


def _int(value: Any) -> int | None:
    try:
        n = int(str(value))
    except ValueError:
        return None
    return n if 0 < n < 2**62 else None


def _workorder(s: Session, value: Any) -> Iterable[str] | None:
    from server.workorders.models import WorkOrder

    n = _int(value)
    site = s.scalar(select(WorkOrder.site).where(WorkOrder.id == n)) if n is not None else None
    return [site] if site is not None else None


def _workorder_photo(s: Session, value: Any) -> Iterable[str] | None:
    from server.workorders.models import WorkOrder, WorkOrderPhoto

    n = _int(value)
    site = s.scalar(select(WorkOrder.site).join(WorkOrderPhoto, WorkOrderPhoto.order_id == WorkOrder.id)
                    .where(WorkOrderPhoto.id == n)) if n is not None else None
    return [site] if site is not None else None


def _lift_block(s: Session, value: Any) -> Iterable[str] | None:
    from server.lift_guard.models import LiftBlock

    v = _as_text(value)
    site = s.scalar(select(Device.site).join(LiftBlock, LiftBlock.device_id == Device.id)
                    .where(LiftBlock.block_id == v)) if v is not None else None
    return [site] if site is not None else None


def _lift_classifier(s: Session, value: Any) -> Iterable[str] | None:
    from server.lift_guard.models import LiftClassifier

    n = _int(value)
    site = s.scalar(select(LiftClassifier.site).where(LiftClassifier.id == n)) if n is not None else None
    return [site] if site is not None else None


def _alert(s: Session, value: Any) -> Iterable[str] | None:
    from server.alerts.models import Alert

    n = _int(value)
    site = s.scalar(select(Alert.site).where(Alert.id == n)) if n is not None else None
    return [site] if site is not None else None


def _taxi_order(s: Session, value: Any) -> Iterable[str] | None:
    from server.taxi_kiosk.models import TaxiOrder

    return _device_site(TaxiOrder, TaxiOrder.id)(s, value)


def _rollout(s: Session, value: Any) -> Iterable[str] | None:
    """A roll-out's site; one over every site can only be seen and steered by users of every site."""
    from server.updates.models import Rollout

    n = _int(value)
    row = s.execute(select(Rollout.id, Rollout.site).where(Rollout.id == n)).first() if n is not None else None
    if row is None:
        return None
    return [row.site] if row.site is not None else [EVERY_SITE]


def _account(s: Session, value: Any) -> Iterable[str] | None:
    """A user account's sites; an account that sees every site can only be managed by one who does too."""
    from server.users.models import UserAccount

    v = _as_text(value)
    if v is None:
        return None
    row = s.execute(select(UserAccount.id, UserAccount.sites).where(UserAccount.name == v)).first()
    if row is None:
        return None
    return [EVERY_SITE] if row.sites is None else list(row.sites)


def _granted(_s: Session, value: Any) -> Iterable[str] | None:
    """Sites an admin grants (JSON list or null, or the form's comma-separated text; empty = every site)."""
    if value is None:
        return [EVERY_SITE]
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("，", ",").split(",") if p.strip()]
    elif isinstance(value, list):
        parts = [str(p) for p in value]
    else:
        return [EVERY_SITE]
    return parts or [EVERY_SITE]


@dataclass(frozen=True)
class Rule:
    prefixes: tuple[str, ...]  # route path templates this rule applies to ("" = every route)
    field: str
    resolve: Resolver

    def applies(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") or p == "" for p in self.prefixes)


RULES: list[Rule] = [
    Rule(("",), "site", _site),
    Rule(("",), "event_id", _device_site(Event, Event.id)),
    Rule(("/api/v1/commands",), "command_id", _device_site(Command, Command.id)),
    Rule(("/api/v1/blobs",), "sha256", _device_site(Blob, Blob.sha256)),
    Rule(("/api/v1/workorders", "/workorders"), "order_id", _workorder),
    Rule(("/api/v1/workorders", "/workorders"), "photo_id", _workorder_photo),
    Rule(("/api/v1/taxi", "/taxi"), "order_id", _taxi_order),
    Rule(("/alerts",), "alert_id", _alert),
    Rule(("/api/v1/lift_guard", "/lift_guard"), "block_id", _lift_block),
    Rule(("/api/v1/lift_guard", "/lift_classifier"), "model_id", _lift_classifier),
    Rule(("/api/v1/rollouts",), "rollout_id", _rollout),
    Rule(("/api/v1/users", "/admin/users"), "name", _account),
    Rule(("/api/v1/users", "/admin/users"), "sites", _granted),
]


def rules_for(path: str) -> list[Rule]:
    return [r for r in RULES if r.applies(path)]


def route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


async def _fields(request: Request) -> dict[str, list[Any]]:
    """Every value the request names, by field: path, query, form and top-level JSON (read once; the handler
    gets the same cached body)."""
    out: dict[str, list[Any]] = {}
    for k, v in request.path_params.items():
        out.setdefault(k, []).append(v)
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return out
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        for k, v in form.multi_items():
            if isinstance(v, str):
                out.setdefault(k, []).append(v)
    elif "json" in ctype:
        try:
            doc = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            doc = None  # the handler answers 422
        if isinstance(doc, dict):
            for k, v in doc.items():
                out.setdefault(k, []).append(v)
    return out


def sites_named(session: Session, path: str, fields: dict[str, list[Any]]) -> set[str]:
    """The sites the request's fields belong to, by ``RULES``."""
    sites: set[str] = set()
    for rule in rules_for(path):
        for value in fields.get(rule.field, []):
            sites.update(rule.resolve(session, value) or ())
    return sites


def require_site(user: User, site: str) -> str:
    """For handlers: ``site`` if the user sees it, else 404 (as for a site that does not exist)."""
    if not NAME_RE.fullmatch(site) or not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    return site


async def enforce_scope(request: Request) -> None:
    """The app-wide dependency (see the module text)."""
    path = route_path(request)
    whole_fleet = (request.method, path) in EVERY_SITE_ONLY
    if not whole_fleet and (not rules_for(path) or public_reason(request.method, path) is not None):
        return
    fields = await _fields(request)
    if not whole_fleet and not any(r.field in fields for r in rules_for(path)):
        return
    from server.api.deps import current_user, get_server

    user = await run_in_threadpool(current_user, request)
    if user.sites is None:
        return
    srv = get_server(request)
    if whole_fleet:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found (for users of every site)")

    def check() -> None:
        with srv.db.session() as s:
            outside = sorted(site for site in sites_named(s, path, fields) if not user.sees(site))
            if outside:
                audit(s, user.name, "scope", f"{request.method} {path}"[:255], "denied", site=outside[0],
                      reason="not one of the user's sites", sites=outside)
        if outside:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")

    await run_in_threadpool(check)


def within(user: User, sites: Iterable[str] | None) -> bool:
    """Whether everything in ``sites`` (None: every site) is among the user's sites: an admin limited to some
    sites sees, creates and changes only accounts limited to those sites."""
    return user.sites is None or (sites is not None and set(sites) <= user.sites)


def require_grant(user: User, sites: Iterable[str] | None) -> None:
    if not within(user, sites):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may only give accounts sites of your own")
