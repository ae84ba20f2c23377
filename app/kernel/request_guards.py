"""Checks on a request's body before any handler parses it.

A JSON body nested a thousand levels deep makes the parsers recurse until Python gives
up (a RecursionError, hence a 500). Measured first, it is a 400 that says what to fix.
Runs as the app's `before_request` hook, which Litestar calls before it decodes the body
into the handler's arguments; the body it reads is cached for that decoding.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from contracts.errors import MalformedRequest

from .json_depth import MAX_JSON_DEPTH, json_depth

_WITH_BODY = {"POST", "PUT", "PATCH"}


async def refuse_deep_json(request: Request[Any, Any, Any]) -> None:
    if request.method not in _WITH_BODY or "json" not in request.headers.get("content-type", ""):
        return
    depth = json_depth(await request.body())
    if depth > MAX_JSON_DEPTH:
        raise MalformedRequest(
            f"the JSON body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted"
        )
