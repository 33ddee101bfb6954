"""Twilio webhooks: delivery status of our SMS, and SMS patients send back (replies, STOP).

Both are signed by Twilio (``X-Twilio-Signature``) with the account's auth token over the exact
URL Twilio called. Behind a proxy the request's Host is not that URL, so it is rebuilt from
``PUBLIC_BASE_URL`` (the address given to Twilio) plus the path and query string.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging.backends.sms.twilio import delivery_error_reason
from messaging.models import InboundMessage, Message, MessageStatus
from patients.models import Guardian, Patient
from patients.phones import normalize

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Higher rank = further along. A callback never moves a message to a lower rank, and the final
# ranks (delivered / failed) never change again.
_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.FAILED: 3,
}
_TWILIO_STATUS = {
    "accepted": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
}

STOP_WORDS = {"STOP", "ARRET", "STOP SMS", "ARRET SMS", "STOPSMS", "STOP ARRET"}


def public_url(request: HttpRequest) -> str:
    return (settings.PUBLIC_BASE_URL or "").rstrip("/") + request.get_full_path()


def _signature_ok(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or not settings.PUBLIC_BASE_URL:
        return False
    return RequestValidator(token).validate(public_url(request), request.POST, signature)


def is_stop(body: str) -> bool:
    """STOP / Arrêt / "stop sms." ...: case, accents and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", body or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    words = " ".join(re.sub(r"[^A-Z0-9]+", " ", plain).split())
    return words in STOP_WORDS


def apply_status(*, provider_id: str, twilio_status: str, error_code: str = "") -> bool:
    """Move the message with ``provider_id`` forward to ``twilio_status``. Returns whether a row
    changed (False for unknown ids, repeated or late callbacks)."""
    target = _TWILIO_STATUS.get((twilio_status or "").lower())
    if target is None or not provider_id:
        return False
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(provider_id=provider_id).first()
        if message is None:
            return False
        if _RANK.get(message.status, 3) >= _RANK[target]:
            return False
        now = timezone.now()
        message.status = target
        fields = ["status", "updated_at"]
        if target == MessageStatus.DELIVERED:
            message.delivered_at, message.reason, message.error_code = now, "", ""
            fields += ["delivered_at", "reason", "error_code"]
        elif target == MessageStatus.FAILED:
            message.reason = delivery_error_reason(error_code)
            message.error_code = (error_code or twilio_status)[:40]
            fields += ["reason", "error_code"]
        elif target == MessageStatus.SENT and message.sent_at is None:
            message.sent_at = now
            fields.append("sent_at")
        message.save(update_fields=fields)
    return True


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _signature_ok(request):
        return HttpResponseForbidden("Signature Twilio invalide.")
    apply_status(
        provider_id=request.POST.get("MessageSid", ""),
        twilio_status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    # Unknown ids are acknowledged too: Twilio would otherwise retry a message we never had.
    return HttpResponse(status=200)


def record_inbound(*, provider_id: str, from_number: str, to_number: str, body: str) -> InboundMessage:
    """Record an SMS received from ``from_number`` on the history of every patient the number
    belongs to (their own mobile or a guardian's); STOP turns SMS consent off for each patient and
    guardian with that mobile. Idempotent on ``provider_id`` (Twilio retries)."""
    existing = InboundMessage.objects.filter(provider_id=provider_id).first()
    if existing is not None:
        return existing
    number = normalize(from_number) or from_number
    stop = is_stop(body)
    patients = list(
        Patient.objects.filter(
            Q(mobile=number) | Q(civil_guardian__mobile=number) | Q(financial_guardian__mobile=number)
        ).distinct().order_by("pk")
    )
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                from_number=number[:32],
                to_number=(to_number or "")[:32],
                body=body,
                provider_id=provider_id[:100],
                patient=patients[0] if patients else None,
                is_stop=stop,
            )
            inbound.patients.set(patients)
            if stop:
                Patient.objects.filter(mobile=number).update(sms_consent=False, updated_at=timezone.now())
                Guardian.objects.filter(mobile=number).update(sms_consent=False)
    except IntegrityError:
        return InboundMessage.objects.get(provider_id=provider_id)
    return inbound


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _signature_ok(request):
        return HttpResponseForbidden("Signature Twilio invalide.")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    if sid:
        record_inbound(
            provider_id=sid,
            from_number=request.POST.get("From", ""),
            to_number=request.POST.get("To", ""),
            body=request.POST.get("Body", ""),
        )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
