"""Fakes of outside services: real local HTTP servers speaking each platform's wire format.

A test that passes against a fake shows the real client library worked end to end (for Telegram,
python-telegram-bot pointed at `FakeTelegramAPI.base_url`).
"""
