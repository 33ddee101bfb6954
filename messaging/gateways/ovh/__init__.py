"""OVHcloud SMS: the backend (backend.py, official ``ovh`` package), its error table
(errors.py), its callbacks (webhooks.py) and its start-up checks (checks.py)."""

from .backend import SmsBackend

__all__ = ["SmsBackend"]
