"""OVH's callbacks: delivery receipts (the SMS account's ``callBack`` URL) and replies (its
``smsResponse.cgiUrl``). OVH calls these URLs with GET (or POST) parameters and does not sign
them, so each URL carries a secret: ``?token=<OVH_CALLBACK_TOKEN>``, compared in constant time.
The URLs to give OVH are built by ``callback_urls()`` (and ``manage.py ovhcallbacks`` sets them).

Delivery receipt parameters: ``id`` (the SMS id returned when the job was created), ``dlr``
(1 delivered, 2 not delivered, 4 waiting, 8 handed to the operator, 16 refused by the
operator), ``description``, ``receiver``, ``date``. Reply parameters: ``id``, ``senderid`` (the
patient's number), ``message``, ``receiver`` (our number); ``sender`` / ``text`` are read too.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest

from messaging.gateways.base import DeliveryEvent, GatewayWebhooks, InboundEvent

from .errors import DLR_STATUS, delivery_reason


def _params(request: HttpRequest):
    return request.POST if request.method == "POST" and request.POST else request.GET


def _first(params, *names: str) -> str:
    for name in names:
        value = (params.get(name) or "").strip()
        if value:
            return value
    return ""


def callback_urls() -> dict[str, str]:
    """{"status": ..., "inbound": ...}: the URLs to give OVH, or {} when PUBLIC_BASE_URL or
    OVH_CALLBACK_TOKEN is missing."""
    from django.urls import reverse

    base = (getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    token = getattr(settings, "OVH_CALLBACK_TOKEN", "") or ""
    if not base or not token:
        return {}
    query = "?" + urlencode({"token": token})
    return {kind: f"{base}{reverse(f'webhooks:{kind}', kwargs={'gateway': 'ovh'})}{query}"
            for kind in ("status", "inbound")}


class OvhWebhooks(GatewayWebhooks):
    def verify(self, request: HttpRequest) -> bool:
        expected = getattr(settings, "OVH_CALLBACK_TOKEN", "") or ""
        given = request.GET.get("token", "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def delivery_events(self, request: HttpRequest) -> list[DeliveryEvent]:
        params = _params(request)
        sms_id, dlr = _first(params, "id", "smsId"), _first(params, "dlr")
        status = DLR_STATUS.get(dlr)
        if not sms_id or status is None:
            return []
        failed = status == "failed"
        return [DeliveryEvent(
            provider_id=sms_id, status=status, error_code=f"dlr-{dlr}" if failed else "",
            reason=delivery_reason(dlr, _first(params, "description")) if failed else "",
        )]

    def inbound_events(self, request: HttpRequest) -> list[InboundEvent]:
        params = _params(request)
        sms_id = _first(params, "id", "smsId")
        sender = _first(params, "senderid", "sender", "from")
        if not sms_id or not sender:
            return []
        # OVH's ids are numbers, counted apart from other gateways' ids: kept apart here too.
        return [InboundEvent(from_number=sender, to_number=_first(params, "receiver", "to"),
                             body=_first(params, "message", "text"), provider_id=f"ovh-{sms_id}")]
