"""Flows (conversations over several messages) and the one registry of actions and flows.

Importing the package registers the flows in `bot.core.registry.REGISTRY`; the actions register
there when the `actions` package is imported.
"""

from bot.flows import consent, delete, forms  # noqa: F401 - registers the flows
