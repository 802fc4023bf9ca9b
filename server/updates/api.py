"""Releases and roll-outs over HTTP.

- ``POST /api/v1/releases`` (admin): multipart ``archive`` + ``manifest`` (from ``linli release make``); refused
  unless signed with the fleet's key. ``GET /api/v1/releases``.
- ``POST /api/v1/rollouts`` (admin): version, site/kind/devices, stages, max_parallel, max_failures.
  ``GET /api/v1/rollouts/{id}``: progress per device. ``POST /api/v1/rollouts/{id}/pause|resume``.
- ``GET /releases/linli-<version>.tar.gz``: what devices download (with ``Range``, so a cut download resumes).
  Public by design: a release is an open-source archive whose integrity the device checks (size, SHA-256 and the
  Ed25519 signature) before it unpacks anything.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE, Kind
from linli.release import MAX_RELEASE_BYTES, VERSION_RE, Manifest, ReleaseError
from server.api.deps import get_server, require
from server.auth import User
from server.updates.models import Release
from server.updates.service import (
    UpdateError,
    create_rollout,
    progress,
    release_path,
    set_rollout_state,
    store_release,
    update_config,
)

router = APIRouter(tags=["software updates"])
Admin = Annotated[User, Depends(require("users", "software"))]
RolloutId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_RE.pattern)
    site: str | None = Field(None, pattern=NAME_RE.pattern)
    kind: Kind | None = None
    devices: list[Annotated[str, Field(pattern=NAME_RE.pattern)]] | None = Field(None, max_length=10_000)
    stages: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [1, 0.1, 1.0], min_length=1,
                                                        max_length=10,
                                                        description="cumulative: counts (≥1) or shares (0-1]")
    max_parallel: int = Field(5, ge=1, le=1000)
    max_failures: int = Field(1, ge=1, le=1000)


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT if "exists" in str(exc) else status.HTTP_400_BAD_REQUEST, str(exc))


@router.post("/api/v1/releases", status_code=201)
async def upload_release(request: Request, user: Admin, archive: UploadFile,
                         manifest: Annotated[str, Form(max_length=4000)],
                         notes: Annotated[str, Form(max_length=2000)] = "") -> dict[str, Any]:
    srv = get_server(request)
    try:
        m = Manifest.from_dict(json.loads(manifest))
    except (ValueError, ReleaseError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"manifest: {exc}") from None
    data = await archive.read(MAX_RELEASE_BYTES + 1)
    if len(data) > MAX_RELEASE_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "release archive too large")
    try:
        row = await run_in_threadpool(store_release, srv.db, update_config(srv.settings), data, m, user.name, notes)
    except UpdateError as exc:
        raise _bad(exc) from None
    return {"version": row.version, "sha256": row.sha256, "size": row.size}


@router.get("/api/v1/releases")
def list_releases(request: Request, _user: Annotated[User, Depends(require("read"))]) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return [{"version": r.version, "sha256": r.sha256, "size": r.size, "created_at": r.created_at,
                 "uploaded_by": r.uploaded_by, "notes": r.notes}
                for r in s.scalars(select(Release).order_by(Release.created_at.desc()))]


@router.post("/api/v1/rollouts", status_code=201)
def start_rollout(request: Request, user: Admin, body: RolloutIn) -> dict[str, Any]:
    srv = get_server(request)
    if user.sites is not None and (body.site is None or body.site not in user.sites):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "name one of your sites for this roll-out")
    stages: list[float | int] = [int(s) if s >= 1 else s for s in body.stages]
    try:
        ro = create_rollout(srv.db, body.version, user.name, body.site, body.kind.value if body.kind else None,
                            body.devices, stages, body.max_parallel, body.max_failures, sites=user.sites)
    except (UpdateError, ValueError) as exc:
        raise _bad(exc) from None
    return progress(srv.db, ro.id)


def _visible(user: User, doc: dict[str, Any]) -> dict[str, Any]:
    if user.sites is not None and any(not user.sees(d["site"]) for d in doc["devices"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such roll-out")
    return doc


@router.get("/api/v1/rollouts/{rollout_id}")
def get_rollout(request: Request, user: Annotated[User, Depends(require("read"))],
                rollout_id: RolloutId) -> dict[str, Any]:
    try:
        return _visible(user, progress(get_server(request).db, rollout_id))
    except UpdateError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such roll-out") from None


@router.post("/api/v1/rollouts/{rollout_id}/{action}")
def control_rollout(request: Request, user: Admin, rollout_id: RolloutId, action: str) -> dict[str, Any]:
    srv = get_server(request)
    if action not in ("pause", "resume"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "use pause or resume")
    try:
        _visible(user, progress(srv.db, rollout_id))
        set_rollout_state(srv.db, rollout_id, "paused" if action == "pause" else "running", user.name)
    except UpdateError as exc:
        raise _bad(exc) from None
    return progress(srv.db, rollout_id)


@router.get("/releases/{filename}", include_in_schema=False)
def download_release(request: Request, filename: str) -> FileResponse:
    version = filename.removeprefix("linli-").removesuffix(".tar.gz")
    if filename != f"linli-{version}.tar.gz" or not VERSION_RE.fullmatch(version):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such release")
    path = release_path(update_config(get_server(request).settings), version)
    if not path.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such release")
    return FileResponse(path, media_type="application/gzip", filename=filename)
