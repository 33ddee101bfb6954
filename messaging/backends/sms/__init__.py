"""SMS backends, chosen by ``settings.SMS_BACKEND`` exactly like Django's ``EMAIL_BACKEND``.

Each module holds an ``SmsBackend`` class: ``locmem`` (tests), ``console``, ``sandbox`` (demo
inbox in the database) and ``twilio`` (production).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseSmsBackend, SmsMessage

__all__ = ["BaseSmsBackend", "SmsMessage", "get_sms_backend"]


def get_sms_backend(backend: str | None = None, **kwargs) -> BaseSmsBackend:
    """An instance of ``backend`` (a dotted path) or of ``settings.SMS_BACKEND``."""
    return import_string(backend or settings.SMS_BACKEND)(**kwargs)
