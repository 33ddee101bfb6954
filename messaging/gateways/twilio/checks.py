"""Twilio's start-up checks: production must not start with a gateway it cannot use."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error


def system_checks() -> list:
    errors = []
    if settings.DEBUG:
        return errors
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(settings, name, "")]
    if missing:
        errors.append(
            Error(
                f"SMS_BACKEND is Twilio but {', '.join(missing)} is not set: no SMS could be sent.",
                hint="Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_AUTH_TOKEN_FILE) in the environment, "
                "or choose another SMS_BACKEND.",
                id="messaging.E001",
            )
        )
    if not getattr(settings, "PUBLIC_BASE_URL", ""):
        errors.append(
            Error(
                "SMS_BACKEND is Twilio but PUBLIC_BASE_URL is not set: delivery reports and replies (STOP) "
                "could not be received or verified.",
                hint="Set PUBLIC_BASE_URL to the public https address of this site, e.g. https://cabinet.example.fr.",
                id="messaging.E002",
            )
        )
    return errors
