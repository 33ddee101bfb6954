"""Twilio: the backend (backend.py), its error table (errors.py), its webhooks (webhooks.py) and
its start-up checks (checks.py)."""

from .backend import SmsBackend, status_callback_url

__all__ = ["SmsBackend", "status_callback_url"]
