"""Dialogue actions: what the bot does for each intent or command, and the registry that finds them.

An action gets the `Context` (message, user, language, reply collector) and never the transport.
"""

# Importing the modules registers their actions.
from actions import answers, conversation, privacy, reports, subscriptions  # noqa: E402,F401
from actions.base import ACTIONS, action, run_intent

__all__ = ["ACTIONS", "action", "run_intent"]
