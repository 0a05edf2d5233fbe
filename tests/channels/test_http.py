"""The one JSON reader every route uses: capped while streaming, bounded depth, valid text only."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.http import MAX_DEPTH, BadBody, json_depth, parse_json, read_json


def refused(body: bytes) -> BadBody:
    with pytest.raises(BadBody) as info:
        parse_json(body)
    return info.value


def test_ordinary_json_is_read_emoji_pairs_included():
    assert parse_json(b'{"a": [1, 2.5, "\\ud83d\\ude00"], "b": null}') == {
        "a": [1, 2.5, "😀"],
        "b": None,
    }


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert refused(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)).status == 400
    assert refused(b"[" * 100_000).status == 400  # a RecursionError in json.loads otherwise


@pytest.mark.parametrize(
    "body",
    [b'{"a": "\\ud800"}', b'{"\\udfff": 1}', b'["x\\ud83d"]'],
    ids=["lone-high", "lone-low-key", "half-pair"],
)
def test_lone_surrogates_are_refused(body):
    assert "Unicode" in refused(body).message


@pytest.mark.parametrize("body", [b"[NaN]", b'{"a": Infinity}', b"[-Infinity]", b"[1e999]"])
def test_numbers_that_are_not_finite_are_refused(body):
    assert "finite" in refused(body).message


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[1,]"])
def test_what_is_not_json_is_refused(body):
    assert refused(body).message == "body is not JSON"


async def test_a_chunked_body_is_cut_off_at_the_cap_not_read_whole():
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        try:
            seen["value"] = await read_json(request, 16 * 1024)
        except BadBody as exc:
            return web.Response(status=exc.status, text=exc.message)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", handler)
    sent = 0

    async def chunks():
        nonlocal sent
        yield b'{"a": "'
        for _ in range(900):
            sent += 1024
            yield b"x" * 1024
        yield b'"}'

    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/", data=chunks())
        assert resp.status == 413
        resp = await client.post("/", data=b'{"a": 1}')
        assert resp.status == 200 and seen["value"] == {"a": 1}
