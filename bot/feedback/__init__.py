"""Citizens' feedback: tracking codes and what a citizen is told (tracking.py), and the notice
a staff-side status change sends through the outbox (notify.py). The chat side is
actions/feedback.py; rows: bot/storage/repositories/feedback.py."""
