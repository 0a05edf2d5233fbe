"""The landing page: who is logged in and a link to every page their role has."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from bot.staff.auth import current_staff, services_of

routes = web.RouteTableDef()
NAV = ("Trang chính", "/staff/", 0, None)


@routes.get("/staff/")
async def home(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    area_name = None
    if staff.area_code:
        from bot.areas import areas_of

        area = areas_of(services_of(request).content).get(staff.area_code)
        area_name = area.name if area is not None else None
    return aiohttp_jinja2.render_template("home/index.html", request, {"area_name": area_name})
