"""Pages: the alert list (guard alerts and manager notices), acknowledge and clear."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.alerts.service import AlertError, acknowledge, clear, load_alert, open_alerts
from server.api.deps import form_user, get_server, require
from server.auth import User
from server.web import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]
Poster = Annotated[User, Depends(form_user("read"))]
ACTIONS = {"acknowledge": acknowledge, "clear": clear}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: Reader, audience: str = Query("", max_length=16),
                site: str | None = Query(None, max_length=48)) -> HTMLResponse:
    who = (audience,) if audience in ("guard", "manager") else ("guard", "manager")
    with get_server(request).db.session() as s:
        alerts = open_alerts(s, user, site=site or None, audiences=who)
    return render(request, "ops/alerts.html", user, {"alerts": alerts, "audience": audience, "site": site or ""})


@router.post("/alerts/{alert_id}/{action}")
def alert_action(request: Request, user: Poster, alert_id: int, action: str,
                 back: Annotated[str, Form(max_length=300)] = "/alerts") -> Response:
    fn = ACTIONS.get(action)
    if fn is None:
        raise HTTPException(404, f"no action {action}")
    to = back if back.startswith("/") and not back.startswith("//") else "/alerts"
    with get_server(request).db.session() as s:
        try:
            al, _dev = load_alert(s, user, alert_id)
            fn(s, al, user)
        except AlertError as exc:
            if exc.status == 404:
                raise HTTPException(404, exc.message) from None
            sep = "&" if "?" in to else "?"
            return RedirectResponse(to + sep + urlencode({"err": exc.message}), status_code=303)
    sep = "&" if "?" in to else "?"
    return RedirectResponse(to + sep + "msg=done_ok", status_code=303)
