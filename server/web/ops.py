"""The cross-cutting routers (users, dashboards, work orders, device management, audit), API and pages, in the
order the app includes them (before the spine's catch-all page routes)."""

from __future__ import annotations

from fastapi import APIRouter


def ops_routers() -> list[APIRouter]:
    from server.alerts import pages as alert_pages
    from server.dashboards import api as dash_api
    from server.dashboards import pages as dash_pages
    from server.updates import api as updates_api
    from server.users import api as users_api
    from server.users import pages as users_pages
    from server.web import manage
    from server.workorders import api as wo_api
    from server.workorders import pages as wo_pages

    return [users_api.router, dash_api.router, wo_api.router, users_pages.router, dash_pages.router,
            wo_pages.router, manage.router, updates_api.router,
            alert_pages.router]
