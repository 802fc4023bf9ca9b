"""Pages: the fleet dashboard and one dashboard per device kind (charts filled by ``static/dash.js``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from linli.contract import Kind
from server.api.deps import get_server, require
from server.auth import User
from server.dashboards.api import date_range
from server.dashboards.fleet import fleet_rows, summary
from server.web import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]


def _page(request: Request, user: User, kind: Kind | None, since: date | None, until: date | None,
          site: str | None) -> HTMLResponse:
    srv = get_server(request)
    lo, hi = date_range(since, until)
    if site and not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    with srv.db.session() as s:
        rows = fleet_rows(s, user, site or None)
        summ = summary(s, user, kind.value if kind else None)  # a kind's page counts that kind only
    if kind is not None:
        rows = [r for r in rows if r.kind == kind.value]
    kinds_with_panels = [k.value for k in Kind if srv.dashboards.panels(k)]
    return render(request, "ops/dashboards.html", user, {
        "kind": kind.value if kind else None, "panels": srv.dashboards.panels(kind), "rows": rows, "summary": summ,
        "since": lo.isoformat(), "until": hi.isoformat(), "site": site or "", "dash_kinds": kinds_with_panels,
    })


@router.get("/dashboards", response_class=HTMLResponse)
def fleet_dashboard(request: Request, user: Reader, since: date | None = None, until: date | None = None,
                    site: str | None = Query(None, max_length=48)) -> HTMLResponse:
    return _page(request, user, None, since, until, site)


@router.get("/dashboards/{kind}", response_class=HTMLResponse)
def kind_dashboard(request: Request, user: Reader, kind: Kind, since: date | None = None, until: date | None = None,
                   site: str | None = Query(None, max_length=48)) -> HTMLResponse:
    return _page(request, user, kind, since, until, site)
