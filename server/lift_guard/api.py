"""/api/v1/lift_guard…: figures per lift per day, blocks (with snapshot state), faults, and the audited
``release`` / ``resume`` commands (admin and maintenance)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from linli.contract import Kind
from server.api.deps import find_device, get_server, require
from server.api.schemas import CommandOut
from server.audit import audit
from server.auth import User, can_see_snapshots
from server.commands import send_command
from server.db.models import Device

from . import queries as q
from .models import LiftBlock, LiftFault

router = APIRouter(prefix="/api/v1/lift_guard", tags=["lift_guard"])
Reader = Annotated[User, Depends(require("read"))]
KIND = Kind.lift_guard.value
#: a release command older than this is refused by the device (the lift may have moved on)
RELEASE_TTL_S = 60.0


class DayOut(BaseModel):
    day: str
    blocks: int
    staff_releases: int = Field(description="blocks released by staff (remote or on site): false alarms")
    max_hold: int = Field(description="blocks ended by the longest hold (alarm, work order)")
    faults: int


class LiftOut(BaseModel):
    site: str
    device: str
    state: str = Field(description="online state of the agent")
    guard_state: str | None = Field(description="idle | watching | blocking | paused | fault | disabled (telemetry)")
    days: list[DayOut]
    totals: DayOut
    open_faults: list[str]
    paused_until: datetime | None


class StatsOut(BaseModel):
    days: list[str]
    lifts: list[LiftOut]
    totals: list[DayOut]


class BlockOut(BaseModel):
    block_id: str
    site: str
    device: str
    started_at: datetime | None
    ended_at: datetime | None
    cls: str
    label: str | None
    score: float | None
    best_score: float | None
    latency_ms: float | None
    hold_s: float | None
    reason: str | None
    released_by: str | None
    note: str | None
    staff_release: bool
    alarm: bool
    snapshot: str | None = Field(description="sha256; fetch it at /api/v1/blobs/{sha256} (410 once purged)")
    snapshot_state: Literal["available", "purged", "pending", "hidden", "none"]

    @classmethod
    def of(cls, b: LiftBlock, d: Device, states: dict[str, str], see: bool) -> BlockOut:
        state = "none" if not b.snapshot else ("hidden" if not see else states.get(b.snapshot, "pending"))
        return cls(block_id=b.block_id, site=d.site, device=d.device, started_at=b.started_at, ended_at=b.ended_at,
                   cls=b.cls, label=b.label, score=b.score, best_score=b.best_score, latency_ms=b.latency_ms,
                   hold_s=b.hold_s, reason=b.reason, released_by=b.released_by, note=b.note,
                   staff_release=b.staff_release, alarm=b.alarm, snapshot=b.snapshot if see else None,
                   snapshot_state=state)  # type: ignore[arg-type]


class FaultOut(BaseModel):
    id: str
    site: str
    device: str
    fault: str
    detail: str
    relay_released: bool
    started_at: datetime
    cleared_at: datetime | None
    duration_s: float | None

    @classmethod
    def of(cls, f: LiftFault, d: Device) -> FaultOut:
        return cls(id=f.id, site=d.site, device=d.device, fault=f.fault, detail=f.detail,
                   relay_released=f.relay_released, started_at=f.started_at, cleared_at=f.cleared_at,
                   duration_s=f.duration_s)


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(5.0, gt=0, le=240, description="how long blocking pauses (the device caps it)")
    reason: str = Field(min_length=2, max_length=200, description="why (false alarm, wheelchair, delivery …)")


def stats_of(s: Any, user: User, days: list[str], site: str | None) -> StatsOut:
    items = q.figures(s, user, days, site)
    lifts = []
    for f in items:
        g = f.device.gauges or {}
        lifts.append(LiftOut(site=f.device.site, device=f.device.device, state=f.device.state,
                             guard_state=g.get("state") if isinstance(g.get("state"), str) else None,
                             days=[DayOut(day=day, **f.days[day].as_dict()) for day in days],
                             totals=DayOut(day="total", **f.total().as_dict()),
                             open_faults=[x.fault for x in f.open_faults],
                             paused_until=f.pause.until if f.pause else None))
    totals = [DayOut(day=day, **v) for day, v in q.per_day_counts(items, days).items()]
    return StatsOut(days=days, lifts=lifts, totals=totals)


@router.get("/stats", response_model=StatsOut, summary="Blocks, false-alarm releases, longest holds and faults "
            "per lift per Shanghai day")
def get_stats(request: Request, user: Reader, days: int = Query(7, ge=1, le=92), site: str | None = None
              ) -> StatsOut:
    with get_server(request).db.session() as s:
        return stats_of(s, user, q.day_range(days), site)


@router.get("/blocks", response_model=list[BlockOut], summary="Blocks, newest first (snapshot per block)")
def get_blocks(request: Request, user: Reader, site: str | None = None, device: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               staff_only: bool = Query(False, description="only those released by staff (false alarms)"),
               limit: int = Query(50, ge=1, le=500),
               before: str | None = Query(None, description="block_id of the last row of the previous page")
               ) -> list[BlockOut]:
    with get_server(request).db.session() as s:
        rows = q.blocks(s, user, site, device, since, until, staff_only, limit, before)
        states = q.snapshot_states(s, [b.snapshot for b, _ in rows])
    see = can_see_snapshots(user)
    return [BlockOut.of(b, d, states, see) for b, d in rows]


@router.get("/faults", response_model=list[FaultOut], summary="Camera, detector and relay faults, newest first")
def get_faults(request: Request, user: Reader, site: str | None = None, device: str | None = None,
               open_only: bool = Query(False, alias="open"), limit: int = Query(100, ge=1, le=1000)
               ) -> list[FaultOut]:
    with get_server(request).db.session() as s:
        return [FaultOut.of(f, d) for f, d in q.faults(s, user, site, device, open_only, limit)]


def release(request: Request, user: User, site: str, device: str, minutes: float, reason: str) -> CommandOut:
    """Send ``release`` to a lift guard and audit who asked, for how long and why."""
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, KIND, device)
    args = {"minutes": minutes, "reason": reason}
    try:
        res = send_command(srv.db, srv.link, dev, "release", args, RELEASE_TTL_S, user.name,
                           srv.settings.commands.publish_wait_s)
    except Exception as exc:
        with srv.db.session() as s:
            audit(s, user.name, "lift_guard.release", dev.key, "error", error=str(exc), **args)
        raise
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.release", dev.key, "ok", id=res.command.id, published=res.published, **args)
    return CommandOut.of(res.command, dev, res.published)


@router.post("/devices/{site}/{device}/release", response_model=CommandOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Release a held door and pause blocking (admin, maintenance; audited)")
def post_release(request: Request, site: str, device: str, body: ReleaseIn,
                 user: Annotated[User, Depends(require("command", "lift_guard.release"))]) -> CommandOut:
    return release(request, user, site, device, body.minutes, body.reason.strip())


@router.post("/devices/{site}/{device}/resume", response_model=CommandOut, status_code=status.HTTP_202_ACCEPTED,
             summary="End a pause early (admin, maintenance; audited)")
def post_resume(request: Request, site: str, device: str,
                user: Annotated[User, Depends(require("command", "lift_guard.resume"))]) -> CommandOut:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, KIND, device)
    res = send_command(srv.db, srv.link, dev, "resume", {}, RELEASE_TTL_S, user.name,
                       srv.settings.commands.publish_wait_s)
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.resume", dev.key, "ok", id=res.command.id, published=res.published)
    return CommandOut.of(res.command, dev, res.published)


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not 2 <= len(reason) <= 200:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "reason: 2 to 200 characters")
    return reason


# ------------------------------------------------------------------------------ second stage (site classifier)
class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Literal["ebike", "bicycle", "stroller", "wheelchair", "cart", "battery", "other"] = Field(
        description="what the blocked object really was; other = a false alarm")


class ClassMetricsOut(BaseModel):
    cls: str
    support: int
    precision: float | None
    recall: float | None


class ClassifierOut(BaseModel):
    id: int
    site: str
    version: str
    state: str = Field(description="queued | training | ready | failed")
    created_at: datetime
    created_by: str
    error: str | None
    sha256: str | None
    size: int | None
    classes: list[str] = Field(default_factory=list)
    trained_on: dict[str, int] = Field(default_factory=dict, description="training crops per class")
    heldout: list[ClassMetricsOut] = Field(default_factory=list,
                                           description="precision/recall per class on held-out crops")
    deployed_at: datetime | None
    deployed_by: str | None

    @classmethod
    def of(cls, r: Any) -> ClassifierOut:
        m = r.metrics or {}
        return cls(id=r.id, site=r.site, version=r.version, state=r.state, created_at=r.created_at,
                   created_by=r.created_by, error=r.error, sha256=r.sha256, size=r.size,
                   classes=m.get("classes", []), trained_on=m.get("trained_on", {}),
                   heldout=[ClassMetricsOut(**x) for x in m.get("heldout", [])], deployed_at=r.deployed_at,
                   deployed_by=r.deployed_by)


Labeller = Annotated[User, Depends(require("read"))]
Deployer = Annotated[User, Depends(require("config", "lift_guard.classifier"))]


def check_labeller(user: User) -> None:
    """Labels are given on snapshots: only roles that may see them (admin, property manager)."""
    if not can_see_snapshots(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role} may not see snapshots, so not label them")


def label_block(request: Request, user: User, site: str, device: str, block_id: str, label: str) -> None:
    from .classifier import ClassifierActionError, set_label

    check_labeller(user)
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, KIND, device)
        row = s.get(LiftBlock, block_id)
        if row is None or row.device_id != dev.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no block {block_id} on {site}/{device}")
    try:
        set_label(srv.db, block_id, label, user.name)
    except ClassifierActionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.label", dev.key, "ok", block_id=block_id, label=label)


def start_training(request: Request, user: User, site: str) -> Any:
    from .classifier import request_training

    check_labeller(user)
    srv = get_server(request)
    row = request_training(srv.db, site, user.name)
    trainer = srv.kind_services.get(KIND)
    if trainer is not None:
        trainer.kick()  # type: ignore[attr-defined]
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.train", site, "ok", version=row.version)
    return row


def deploy_classifier(request: Request, user: User, site: str, model_id: int) -> dict[str, Any]:
    from server.updates.service import update_config

    from .classifier import ClassifierActionError, deploy

    srv = get_server(request)
    try:
        out = deploy(srv, site, model_id, user.name, update_config(srv.settings).base_url)
    except ClassifierActionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.classifier_deploy", site, "ok", version=out["version"], sha256=out["sha256"],
              lifts=[x["device"] for x in out["lifts"]])
    return out


def rollback_classifier(request: Request, user: User, site: str) -> dict[str, Any]:
    from .classifier import rollback

    srv = get_server(request)
    out = rollback(srv, site, user.name)
    with srv.db.session() as s:
        audit(s, user.name, "lift_guard.classifier_rollback", site, "ok", lifts=[x["device"] for x in out["lifts"]])
    return out


@router.put("/devices/{site}/{device}/blocks/{block_id}/label", status_code=status.HTTP_204_NO_CONTENT,
            summary="Label a block's snapshot: what the object was (admin, property manager; audited)")
def put_label(request: Request, site: str, device: str, block_id: str, body: LabelIn, user: Labeller) -> None:
    label_block(request, user, site, device, block_id, body.label)


@router.get("/sites/{site}/classifiers", response_model=list[ClassifierOut],
            summary="The site's trained second-stage classifiers with their held-out figures, newest first")
def get_classifiers(request: Request, site: str, user: Reader) -> list[ClassifierOut]:
    from .classifier import classifiers

    if not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site")
    return [ClassifierOut.of(r) for r in classifiers(get_server(request).db, site)]


@router.post("/sites/{site}/classifiers", response_model=ClassifierOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Train a classifier from the site's labelled crops in the background (admin, property "
             "manager); poll the list for its figures")
def post_train(request: Request, site: str, user: Labeller) -> ClassifierOut:
    return ClassifierOut.of(start_training(request, user, site))


@router.post("/sites/{site}/classifiers/{model_id}/deploy", summary="Push a trained classifier to every lift "
             "guard of the site (desired config; admin, maintenance; audited)")
def post_deploy(request: Request, site: str, model_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                user: Deployer) -> dict[str, Any]:
    return deploy_classifier(request, user, site, model_id)


@router.post("/sites/{site}/classifier/rollback", summary="Back to the detector-only rule on every lift guard of "
             "the site (admin, maintenance; audited)")
def post_rollback(request: Request, site: str, user: Deployer) -> dict[str, Any]:
    return rollback_classifier(request, user, site)
