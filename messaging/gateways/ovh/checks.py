"""OVH's start-up checks: production must not start with a gateway it cannot use."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

CREDENTIALS = ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY", "OVH_SMS_SERVICE_NAME")


def system_checks() -> list:
    if settings.DEBUG:
        return []
    errors = []
    missing = [name for name in CREDENTIALS if not getattr(settings, name, "")]
    if missing:
        errors.append(Error(
            f"SMS_BACKEND is OVH but {', '.join(missing)} is not set: no SMS could be sent.",
            hint="Set OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY and OVH_SMS_SERVICE_NAME "
            "(or their *_FILE variants) in the environment, or choose another SMS_BACKEND.",
            id="messaging.E004",
        ))
    if not getattr(settings, "PUBLIC_BASE_URL", "") or not getattr(settings, "OVH_CALLBACK_TOKEN", ""):
        errors.append(Error(
            "SMS_BACKEND is OVH but PUBLIC_BASE_URL or OVH_CALLBACK_TOKEN is not set: delivery reports and "
            "replies could not be received or verified (OVH does not sign its callbacks).",
            hint="Set PUBLIC_BASE_URL to the public https address of this site and OVH_CALLBACK_TOKEN (or "
            "OVH_CALLBACK_TOKEN_FILE) to a long random secret, then give OVH the callback URLs "
            "(docs/deployment.md).",
            id="messaging.E005",
        ))
    return errors
