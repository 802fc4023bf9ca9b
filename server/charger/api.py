"""/api/v1/charger…: piles and their ports, orders (bills), daily energy and revenue, remote start/stop, tariffs.

The settlement acknowledger (:mod:`server.charger.worker`) runs as the kind's background worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linli.contract import Kind
from server.api.deps import find_device, get_server, require
from server.auth import User

from . import service

router = APIRouter(prefix="/api/v1/charger", tags=["charger"])
Reader = Annotated[User, Depends(require("read"))]


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prepaid_fen: int = Field(0, ge=0, le=100_000, description="paid in advance, fen (0: until full, billed after)")
    minutes: int = Field(0, ge=0, le=1440, description="charging time bought (0: until full or money used)")
    order_id: str | None = Field(None, min_length=1, max_length=64,
                                 description="the payment's order id; a repeated start with it starts nothing")


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=200)


def _pile(request: Request, user: User, site: str, device: str) -> Any:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, Kind.charger.value, device)
        s.expunge(dev)
    return dev


def _port(dev: Any, port: int) -> None:
    n = sum(1 for k in (dev.gauges or {}) if k.endswith("_state") and k.startswith("p"))
    if port < 1 or (n and port > n):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no port {port} on {dev.device}")


@router.get("/piles", summary="Charging piles with their ports (live map from telemetry)")
def list_piles(request: Request, user: Reader) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return service.piles(s, user)


@router.get("/orders", summary="Charging orders and their bills, newest first")
def list_orders(request: Request, user: Reader, site: str | None = None, device: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return service.orders(s, user, site, device, max(1, min(limit, 1000)))


@router.get("/stats", summary="Energy, revenue and sessions per day (Asia/Shanghai), and totals")
def stats(request: Request, user: Reader, days: int = 7) -> dict[str, Any]:
    with get_server(request).db.session() as s:
        return {"days": service.daily(s, user, max(1, min(days, 366))), "totals": service.totals(s, user)}


@router.post("/piles/{site}/{device}/ports/{port}/start", status_code=status.HTTP_202_ACCEPTED,
             summary="Start a port remotely (admin, maintenance; audited)")
def start_port(request: Request, site: str, device: str, port: int, body: StartIn,
               user: Annotated[User, Depends(require("command", "charger.start"))]) -> dict[str, Any]:
    dev = _pile(request, user, site, device)
    _port(dev, port)
    return service.remote_start(get_server(request), user, dev, port, body.prepaid_fen, body.minutes, body.order_id)


@router.post("/piles/{site}/{device}/ports/{port}/stop", status_code=status.HTTP_202_ACCEPTED,
             summary="Stop a port remotely (admin, maintenance; audited)")
def stop_port(request: Request, site: str, device: str, port: int, body: StopIn,
              user: Annotated[User, Depends(require("command", "charger.stop"))]) -> dict[str, Any]:
    dev = _pile(request, user, site, device)
    _port(dev, port)
    return service.remote_stop(get_server(request), user, dev, port, body.reason)


@router.get("/tariffs/{site}", summary="The site's current tariff")
def get_tariff(request: Request, user: Reader, site: str) -> dict[str, Any]:
    if not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    with get_server(request).db.session() as s:
        row = service.current_tariff(s, site)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tariff set for {site} (the piles use their file's)")
        return {"site": site, "version": row.version, "tariff": row.body, "by": row.created_by,
                "at": row.created_at}


@router.post("/tariffs/{site}", status_code=status.HTTP_201_CREATED,
             summary="New tariff version for a site, pushed to its piles (admin, maintenance; audited)")
def post_tariff(request: Request, site: str, body: dict[str, Any],
                user: Annotated[User, Depends(require("config", "charger.tariff"))]) -> dict[str, Any]:
    if not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    try:
        return service.set_tariff(get_server(request), user, site, {k: v for k, v in body.items() if k != "version"})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "tariff"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: {err['msg']}") from None
