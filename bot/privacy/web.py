"""The web chat's download of a `/dulieu` export: `GET /exports/<token>/<name>`.

Only the web user the export was made for gets it: the session's web user id
(bot.web.sessions.web_user) must match the export's owner, else 404 (the same answer as for a
token that does not exist, so nothing tells whether a token is real). The files are served
as attachments, never cached.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from aiohttp import web

from bot.privacy import export

CHANNEL = "web"
ROUTE = export.ROUTE_PREFIX + "{token}/{name}"
GONE = "Tệp không có hoặc đã hết hạn. Gõ /dulieu để nhận lại. File not found or expired."
TYPES = {"json": "application/json", "txt": "text/plain"}


def register(app: web.Application, exports_dir: Path) -> None:
    async def download(request: web.Request) -> web.StreamResponse:
        from bot.web.sessions import web_user

        token, name = request.match_info["token"], request.match_info["name"]
        ref = f"{export.ROUTE_PREFIX}{token}/{name}"
        path = export.local_file(ref, exports_dir) if export.is_ref(ref) else None
        owner = export.owner_of(exports_dir, token) if path is not None else None
        sender = await web_user(request)
        if (
            path is None
            or owner is None
            or sender is None
            or not hmac.compare_digest(owner, export.owner_hash(CHANNEL, sender))
        ):
            return web.json_response({"error": GONE}, status=404)
        return web.Response(
            body=path.read_bytes(),
            content_type=TYPES[export.ref_kind(ref)],
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{path.name}"',
                "Cache-Control": "no-store",
            },
        )

    app.router.add_get(ROUTE, download)
