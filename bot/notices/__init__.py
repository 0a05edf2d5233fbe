"""Notices: staff send training courses, meetings and warnings to the subscribers concerned.

- `topics`: the topics of content/topics.yml (data, not code);
- `model`: a notice as staff write it (`Draft`), checked (`Draft.problems`);
- `compose`: who it reaches, the message each language sees, and the fan-out (one outbox row
  per recipient, in bulk, in the notice's transaction); the preview;
- `manage`: cancel, progress, a subscriber's changes applied to notices still going out;
- `reminders`: the day-before reminder to those who said yes (a job `serve` runs);
- `attendees`: the organiser's list of those who said yes (formula-safe CSV / XLSX);
- `cli`: `python -m bot notices send|list|status|cancel|attendees`.

The outbox dispatcher (bot/outbox) sends the rows; the RSVP buttons are actions/notices.py and
subscribing is actions/subscriptions.py.
"""
