"""The OpenAPI document and its Swagger UI, whose assets the server serves itself: the
docs work on a machine without internet (a CDN's script left the page blank there)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

DOCS_ASSETS = "/schema/assets"
# Swagger UI 5 (OpenAPI 3.1, which Litestar writes), as the `swagger-ui-py` package ships it.
SWAGGER_UI = Path(str(files("swagger_ui") / "static"))


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Bulkhead",
        version="0.1.0",
        description="A backend for AI agents where every module owns its own database.",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
            )
        ],
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=DOCS_ASSETS, directories=[SWAGGER_UI], include_in_schema=False
    )
