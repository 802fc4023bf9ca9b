"""/api/v1/audit, /api/v1/ingest/stats, /api/v1/me, /metrics, /healthz."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select, text

from linli.contract import TOPIC_ROOT
from server.api.deps import current_user, get_server, require
from server.api.schemas import AuditOut, IngestStatsOut, MeOut
from server.audit import visible_audit
from server.auth import ROLE_PERMISSIONS, User
from server.db.models import AuditLog

router = APIRouter(prefix="/api/v1", tags=["system"])
plain = APIRouter(tags=["system"])


@router.get("/me", response_model=MeOut, summary="Who am I")
def me(user: Annotated[User, Depends(current_user)]) -> MeOut:
    return MeOut(name=user.name, role=user.role, sites=sorted(user.sites) if user.sites is not None else None,
                 permissions=sorted(ROLE_PERMISSIONS[user.role]))


@router.get("/audit", response_model=list[AuditOut], summary="Audit log, newest first (admin, manager)")
def list_audit(request: Request, user: Annotated[User, Depends(require("audit"))],
               who: str | None = None, action: str | None = None, since: datetime | None = None,
               limit: int = Query(100, ge=1, le=1000)) -> list[AuditOut]:
    stmt = visible_audit(select(AuditLog), user).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    if who:
        stmt = stmt.where(AuditLog.who == who)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    with get_server(request).db.session() as s:
        return [AuditOut.of(a) for a in s.scalars(stmt)]


@router.get("/ingest/stats", response_model=IngestStatsOut, summary="Ingest counters and the latest rejects")
def ingest_stats(request: Request, user: Annotated[User, Depends(require("read"))]) -> IngestStatsOut:
    srv = get_server(request)
    snap = {**srv.stats.snapshot(), "enabled": srv.ingest is not None}
    if user.sites is not None:  # rejected messages' topics name their site: only the user's sites' are shown
        snap["last_rejects"] = [r for r in snap.get("last_rejects", []) if _topic_site(str(r.get("topic", "")))
                                in user.sites]
    return IngestStatsOut.model_validate(snap)


def _topic_site(topic: str) -> str | None:
    """The site segment of ``linli/v1/<site>/…`` (also for topics too broken to parse otherwise)."""
    root, parts = TOPIC_ROOT.split("/"), topic.split("/")
    return parts[len(root)] if parts[: len(root)] == root and len(parts) > len(root) else None


@plain.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(get_server(request).metrics), media_type=CONTENT_TYPE_LATEST)


@plain.get("/healthz", summary="Liveness: database reachable, ingest writer alive and making progress")
def healthz(request: Request) -> JSONResponse:
    srv = get_server(request)
    ingest = srv.ingest.health() if srv.ingest else None
    body: dict[str, Any] = {"ok": True, "db": False, "mqtt": srv.link.connected if srv.link else None,
                            "ingest": ingest["ok"] if ingest else None}
    if srv.stream is not None:  # ingest from NATS JetStream: connected, and the shared consumer bound
        body["nats"] = srv.stream.connected and srv.stream.ready
    if ingest is not None and not ingest["ok"]:
        body["ingest_detail"] = {k: ingest[k] for k in ("running", "waiting", "stalled", "since_progress_s")}
    try:
        with srv.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        body["db"] = True
    except Exception as exc:  # report, do not raise
        body["db_error"] = type(exc).__name__
    body["ok"] = body["db"] and body["ingest"] is not False
    return JSONResponse(body, status_code=200 if body["ok"] else 503)
