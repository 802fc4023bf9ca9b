"""/api/v1/taxi…: orders with their history, figures per kiosk and per day, and a staff cancel (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import select

from linli.contract import utcnow
from server.api.deps import get_server, require, visible
from server.audit import audit
from server.auth import User
from server.db.models import Device

from .dispatch import notify_new_work
from .models import ACTIVE, ENDED, TaxiOrder, TaxiOrderStep
from .stats import daily_figures, kiosk_figures

router = APIRouter(prefix="/api/v1/taxi", tags=["taxi"])
Reader = Annotated[User, Depends(require("read"))]
PII_ROLES = frozenset({"admin", "manager"})


def mask_phone(phone: str | None, user: User) -> str | None:
    """The resident's call-back number is personal data: only admins and managers see it whole."""
    if phone is None or user.role in PII_ROLES:
        return phone
    return f"{phone[:3]}****{phone[-4:]}"


class StepOut(BaseModel):
    at: datetime
    step: str
    detail: dict[str, Any]


class OrderOut(BaseModel):
    id: str
    site: str
    device: str
    state: str
    note: str | None
    source: str
    place: dict[str, Any]
    phone: str | None
    requested_at: datetime
    stored_at: datetime
    assigned_at: datetime | None
    arrived_at: datetime | None
    picked_up_at: datetime | None
    ended_at: datetime | None
    wait_driver_s: float | None
    wait_car_s: float | None
    driver: dict[str, Any] | None
    eta_s: int | None
    distance_m: int | None
    attempts: int
    provider: str | None
    provider_errors: int
    last_error: str | None
    cancel_requested: str | None
    steps: list[StepOut] | None = None

    @classmethod
    def of(cls, o: TaxiOrder, dev: Device, user: User, steps: list[TaxiOrderStep] | None = None) -> OrderOut:
        def since_tap(t: datetime | None) -> float | None:
            return round((t - o.requested_at).total_seconds(), 1) if t is not None else None

        return cls(id=o.id, site=dev.site, device=dev.device, state=o.state, note=o.note, source=o.source,
                   place=o.place, phone=mask_phone(o.phone, user), requested_at=o.requested_at, stored_at=o.stored_at,
                   assigned_at=o.assigned_at, arrived_at=o.arrived_at, picked_up_at=o.picked_up_at,
                   ended_at=o.ended_at, wait_driver_s=since_tap(o.assigned_at), wait_car_s=since_tap(o.arrived_at),
                   driver=o.driver, eta_s=o.eta_s, distance_m=o.distance_m, attempts=o.attempts,
                   provider=o.provider, provider_errors=o.provider_errors, last_error=o.last_error,
                   cancel_requested=o.cancel_requested,
                   steps=None if steps is None else [StepOut(at=st.at, step=st.step, detail=st.detail)
                                                     for st in steps])


def find_order(s: Any, user: User, order_id: str) -> tuple[TaxiOrder, Device]:
    row = s.execute(visible(select(TaxiOrder, Device).join(Device, TaxiOrder.device_id == Device.id)
                            .where(TaxiOrder.id == order_id), user)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no taxi order {order_id}")
    return row[0], row[1]


def list_orders(s: Any, user: User, site: str | None = None, device: str | None = None, state: str | None = None,
                since: datetime | None = None, until: datetime | None = None, limit: int = 100
                ) -> list[tuple[TaxiOrder, Device]]:
    stmt = select(TaxiOrder, Device).join(Device, TaxiOrder.device_id == Device.id)
    if site:
        stmt = stmt.where(Device.site == site)
    if device:
        stmt = stmt.where(Device.device == device)
    if state == "active":
        stmt = stmt.where(TaxiOrder.state.in_(ACTIVE))
    elif state:
        stmt = stmt.where(TaxiOrder.state == state)
    if since:
        stmt = stmt.where(TaxiOrder.requested_at >= since)
    if until:
        stmt = stmt.where(TaxiOrder.requested_at < until)
    stmt = visible(stmt, user).order_by(TaxiOrder.requested_at.desc(), TaxiOrder.id.desc()).limit(limit)
    return [(o, d) for o, d in s.execute(stmt)]


@router.get("/orders", response_model=list[OrderOut], summary="Taxi orders, newest first")
def get_orders(request: Request, user: Reader, site: str | None = None, device: str | None = None,
               state: str | None = Query(None, description="a state, or 'active'"),
               since: datetime | None = None, until: datetime | None = None,
               limit: int = Query(100, ge=1, le=1000)) -> list[OrderOut]:
    if state is not None and state != "active" and state not in ACTIVE + ENDED:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"state must be 'active' or one of {', '.join(ACTIVE + ENDED)}")
    with get_server(request).db.session() as s:
        return [OrderOut.of(o, d, user) for o, d in list_orders(s, user, site, device, state, since, until, limit)]


@router.get("/orders/{order_id}", response_model=OrderOut, summary="One taxi order with its history")
def get_order(request: Request, user: Reader, order_id: str) -> OrderOut:
    with get_server(request).db.session() as s:
        o, dev = find_order(s, user, order_id)
        steps = list(s.scalars(select(TaxiOrderStep).where(TaxiOrderStep.order_id == o.id)
                               .order_by(TaxiOrderStep.at, TaxiOrderStep.id)))
        return OrderOut.of(o, dev, user, steps)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Cancel an order under way (admin, maintenance); the kiosk and the driver are told")
def cancel_order(request: Request, order_id: str,
                 user: Annotated[User, Depends(require("command", "taxi.cancel"))]) -> OrderOut:
    srv = get_server(request)
    with srv.db.session() as s:
        o, dev = find_order(s, user, order_id)
        if not o.active:
            raise HTTPException(status.HTTP_409_CONFLICT, f"order {order_id} has already ended ({o.state})")
        if o.cancel_requested is None:
            o.cancel_requested = "staff"
            s.add(TaxiOrderStep(order_id=o.id, at=utcnow(), step="cancel_requested",
                                detail={"reason": "staff", "by": user.name}))
        audit(s, user.name, "taxi.cancel", f"{dev.key}/{o.id}", "ok", state=o.state)
        out = OrderOut.of(o, dev, user)
    notify_new_work()
    return out


class FiguresOut(BaseModel):
    days: int
    total: dict[str, Any]
    kiosks: list[dict[str, Any]]
    per_day: list[dict[str, Any]]


@router.get("/stats", response_model=FiguresOut, summary="Calls, success rate and waits per kiosk and per day")
def get_stats(request: Request, user: Reader, days: int = Query(7, ge=1, le=92), site: str | None = None
              ) -> FiguresOut:
    with get_server(request).db.session() as s:
        total, kiosks = kiosk_figures(s, user, days, site)
        daily = daily_figures(s, user, days, site)
    return FiguresOut(days=days, total=total.as_dict(), kiosks=[k.as_dict() for k in kiosks],
                      per_day=[{"day": d.isoformat(), **f.as_dict()} for d, f in daily])
