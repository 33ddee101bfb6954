"""Start-up checks: production must not start with an SMS gateway it cannot use. Each gateway
states what it needs (``SmsBackend.system_checks`` in its folder); this runs the configured one's."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.compatibility)
def check_sms_backend(app_configs, **kwargs):
    from messaging.gateways import backend_class

    try:
        backend = backend_class()
    except ImportError as exc:
        return [
            Error(
                f"SMS_BACKEND {settings.SMS_BACKEND!r} names no SMS gateway ({exc}).",
                hint="Use a short name (twilio, ovh, sandbox, locmem, console) or the dotted path of an SmsBackend class.",
                id="messaging.E003",
            )
        ]
    return list(backend.system_checks())
