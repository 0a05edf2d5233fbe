"""Dashboard pages, one module each: `routes` (a web.RouteTableDef) and `NAV` = (label, link,
order, roles), optionally `async nav_count(request, staff) -> int`, a number shown beside the
link on every page (what waits there: the handoff inbox's conversations waiting for a person).
bot/staff/web.py finds every module here at start; see its docstring."""
