"""Errors the operator must fix before the bot can start."""

from __future__ import annotations


class StartupError(Exception):
    """Something the operator must fix before the bot can start; the message says what."""
