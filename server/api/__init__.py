"""REST API under /api/v1 (OpenAPI at /docs and /openapi.json)."""

from fastapi import APIRouter

from server.api import devices, events, system

api_router = APIRouter()
api_router.include_router(devices.router)
api_router.include_router(events.router)
api_router.include_router(system.router)
api_router.include_router(system.plain)

__all__ = ["api_router"]
