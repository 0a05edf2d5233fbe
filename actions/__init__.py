"""Dialogue actions: what the bot does for each intent or command.

An action gets the `Context` (message, user, language, reply collector) and never the transport.
Actions register with `@action("intent")` in the one registry of actions and flows
(bot.core.registry) when this package is imported: bot/app.py imports it once, at wiring time.
"""

from actions import (  # noqa: F401
    answers,
    areas,
    conversation,
    feedback,
    notices,
    officers,
    privacy,
    reports,
    subscriptions,
    translate,
)
