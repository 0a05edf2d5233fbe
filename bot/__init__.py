"""Làng Số: the messaging assistant's application package (wiring, channels, pipeline, storage,
web)."""

__version__ = "0.1.0"
