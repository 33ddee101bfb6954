"""Twilio's webhooks: delivery status of our SMS, and SMS patients send back (replies, STOP).

Both are signed by Twilio (``X-Twilio-Signature``) with the account's auth token over the exact
URL Twilio called. Behind a proxy the request's Host is not that URL, so it is rebuilt from
``PUBLIC_BASE_URL`` (the address given to Twilio) plus the path and query string.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from twilio.request_validator import RequestValidator

from messaging.gateways.base import DeliveryEvent, GatewayWebhooks, InboundEvent

from .errors import STATUSES, delivery_error_reason

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def public_url(request: HttpRequest) -> str:
    return (settings.PUBLIC_BASE_URL or "").rstrip("/") + request.get_full_path()


class TwilioWebhooks(GatewayWebhooks):
    def verify(self, request: HttpRequest) -> bool:
        token = settings.TWILIO_AUTH_TOKEN
        signature = request.headers.get("X-Twilio-Signature", "")
        if request.method != "POST" or not token or not signature or not settings.PUBLIC_BASE_URL:
            return False
        return RequestValidator(token).validate(public_url(request), request.POST, signature)

    def delivery_events(self, request: HttpRequest) -> list[DeliveryEvent]:
        sid = request.POST.get("MessageSid", "")
        raw = (request.POST.get("MessageStatus", "") or "").lower()
        status = STATUSES.get(raw)
        if not sid or status is None:
            return []
        code = request.POST.get("ErrorCode", "") or ""
        failed = status == "failed"
        return [DeliveryEvent(
            provider_id=sid, status=status, error_code=(code or raw) if failed else "",
            reason=delivery_error_reason(code) if failed else "",
        )]

    def inbound_events(self, request: HttpRequest) -> list[InboundEvent]:
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
        if not sid:
            return []
        return [InboundEvent(from_number=request.POST.get("From", ""), to_number=request.POST.get("To", ""),
                             body=request.POST.get("Body", ""), provider_id=sid)]

    def inbound_response(self) -> HttpResponse:
        # An empty TwiML answer: Twilio sends nothing back to the patient.
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
