"""A villager talking to a person: the chat side of the staff dashboard's handoff inbox.

`/canbo` (`/human`, the "Gặp cán bộ" button, the `human` intent) opens a handoff after the
"handoff" consent (their messages go to staff: the purpose they ask for): the bot says a person
will answer here, and the `HandoffFlow` (bot/handoff/chat.py) stores what the villager types for
staff instead of answering it, with a short acknowledgement at most once every
`handoff.ack_minutes`. `/huy` or the "Kết thúc" button ends it. Staff reply and hand back from
the dashboard (bot/handoff/staff.py): each is an outbox row in the staff action's transaction, so
the running bot's dispatcher delivers it in the villager's channel, within the platform's reply
window (bot/handoff/windows.py).
"""
