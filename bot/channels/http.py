"""Reading request bodies safely: one way for every route that takes JSON from outside.

`read_json` caps the body while it streams (a chunked upload without Content-Length is cut off at
the limit, never read whole), bounds the nesting depth before parsing (deeply nested JSON is a
RecursionError in the parser and in anything that walks the result), and refuses text that is not
valid Unicode (a lone surrogate from a `\\ud800` escape crashes the first `.encode()` later) and
numbers that are not finite (NaN, Infinity, 1e999: PostgreSQL's json type refuses them).
Each refusal is a `BadBody` with the HTTP status and a short message for the client.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: a JSON number too big for a float
        raise _NotFinite(text)
    return value


def _no_constant(text: str) -> float:
    raise _NotFinite(text)  # NaN, Infinity, -Infinity: not JSON, and PostgreSQL's json refuses them


class BadBody(Exception):
    """A body the route refuses: `status` (400 or 413) and a short `message` for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_capped(request: web.Request, max_bytes: int) -> bytes:
    """The body, or BadBody(413) as soon as it is longer than `max_bytes` (streamed, not read)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadBody(413, f"body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise BadBody(413, f"body larger than {max_bytes} bytes")
            chunks.append(chunk)
    except web.HTTPRequestEntityTooLarge:
        raise BadBody(413, f"body larger than {max_bytes} bytes") from None
    return b"".join(chunks)


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects in `body` nest (strings skipped; not a validator)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def valid_text(value: Any, depth: int = 0) -> bool:
    """True when every string (keys too) in the parsed JSON value is encodable UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(valid_text(k, depth + 1) and valid_text(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(valid_text(v, depth + 1) for v in value)
    return True


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `body` as JSON, or BadBody(400) for what is not JSON, too deep, or not Unicode."""
    if json_depth(body) > max_depth:
        raise BadBody(400, f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except _NotFinite:
        raise BadBody(400, "numbers must be finite (no NaN, Infinity or 1e999)") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody(400, "body is not JSON") from None
    if not valid_text(value):
        raise BadBody(400, "body has text that is not valid Unicode")
    return value


async def read_json(request: web.Request, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """`read_capped` then `parse_json`: the request's JSON value, or BadBody."""
    return parse_json(await read_capped(request, max_bytes), max_depth)
