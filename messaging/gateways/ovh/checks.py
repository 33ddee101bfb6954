"""OVH's start-up checks: production must not start with a gateway it cannot use."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

# OVH's callbacks carry no signature: the token is all that stands between anyone on the
# Internet and a forged STOP (consent withdrawn) or delivery report, and the webhooks have no rate
# limit. 32 characters is what `python -c "import secrets; print(secrets.token_urlsafe(24))"` gives.
MIN_CALLBACK_TOKEN_LENGTH = 32
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
    if len(settings.OVH_CALLBACK_TOKEN) < MIN_CALLBACK_TOKEN_LENGTH:
        errors.append(Error(
            f"OVH_CALLBACK_TOKEN is shorter than {MIN_CALLBACK_TOKEN_LENGTH} characters: a forged delivery report "
            "or STOP could guess it (OVH does not sign its callbacks).",
            hint='Generate one with: python -c "import secrets; print(secrets.token_urlsafe(24))", then run '
            "manage.py ovhcallbacks again.",
            id="messaging.E006",
        ))
    if not settings.PUBLIC_BASE_URL.lower().startswith("https://"):
        errors.append(Error(
            "SMS_BACKEND is OVH but PUBLIC_BASE_URL is not an https address: OVH would send the callback "
            "token in clear over the Internet.",
            hint="Publish the site over https (docs/deployment.md) and set PUBLIC_BASE_URL=https://...",
            id="messaging.E007",
        ))
    return errors
