"""The API documentation at ``/docs``, served entirely by the server (Swagger UI from the ``swagger-ui-bundle``
package, Apache-2.0): it works on a site network with no internet. The OpenAPI description names the HTTP Basic
security scheme, so "Authorize" in Swagger UI signs requests in with a linli user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_PATH = "/static-docs"


def swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def install_docs(app: FastAPI) -> None:
    """``/docs`` (offline Swagger UI) and an OpenAPI schema with the HTTP Basic scheme. Create the app with
    ``docs_url=None, redoc_url=None``."""
    app.mount(SWAGGER_PATH, StaticFiles(directory=swagger_dir()), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{SWAGGER_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_PATH}/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   swagger_ui_parameters={"persistAuthorization": True})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["basic"] = {
                "type": "http", "scheme": "basic",
                "description": "a linli user name and password (the pages' own login uses a session cookie)"}
            schema["security"] = [{"basic": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
