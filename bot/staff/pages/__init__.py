"""Dashboard pages, one module each: `routes` (a web.RouteTableDef) and `NAV` = (label, link,
order, roles). bot/staff/web.py finds every module here at start; see its docstring."""
