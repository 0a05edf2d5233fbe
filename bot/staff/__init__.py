"""The staff dashboard at /staff/ (bot/staff/web.py): accounts and sessions (auth.py,
accounts.py), the audit log (audit.py), one module per page (pages/), `python -m bot admin`
(cli.py)."""
