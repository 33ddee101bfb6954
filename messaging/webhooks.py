"""Gateway webhooks: delivery reports of our SMS, and SMS patients send back (replies, STOP).

One view per kind of event, for every gateway: ``/webhooks/<gateway>/status/`` and
``/webhooks/<gateway>/inbound/``. The gateway's folder checks the request (signature or secret)
and parses it into ``DeliveryEvent`` / ``InboundEvent``; a request it does not recognise as its
own gets a 403, whatever the gateway. Twilio's URLs are those practices already configured.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from messaging.gateways import gateway_class
from messaging.gateways.base import InboundEvent
from messaging.models import InboundMessage
from patients.models import Guardian, Patient
from patients.phones import normalize

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "ARRET", "STOP SMS", "ARRET SMS", "STOPSMS", "STOP ARRET"}


def is_stop(body: str) -> bool:
    """STOP / Arrêt / "stop sms." ...: case, accents and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", body or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    words = " ".join(re.sub(r"[^A-Z0-9]+", " ", plain).split())
    return words in STOP_WORDS


def patients_of_number(number: str) -> list[Patient]:
    """Everyone ``number`` (E.164) belongs to: the patients whose mobile it is and those of whom a
    guardian with that mobile is in charge (a parent's number is on each child's file), by id.
    Two queries, each on an index (the guardians' mobile, then the patients' mobile and guardian
    links): joining the guardians in one OR made PostgreSQL scan every patient (100 ms per SMS
    received at 30,000 patients, make bench)."""
    guardians = list(Guardian.objects.filter(mobile=number).values_list("pk", flat=True))
    condition = Q(mobile=number)
    if guardians:
        condition |= Q(civil_guardian_id__in=guardians) | Q(financial_guardian_id__in=guardians)
    return list(Patient.objects.filter(condition).order_by("pk"))


def record_inbound(*, provider_id: str, from_number: str, to_number: str, body: str) -> InboundMessage:
    """Record an SMS received from ``from_number`` on the history of every patient the number
    belongs to (their own mobile or a guardian's); STOP turns SMS consent off for each patient and
    guardian with that mobile. Then, in the same transaction, ``messaging.replies.handle_inbound``
    reads it (a confirmation, a cancellation: the appointment it answers). Idempotent on
    ``provider_id`` (gateways retry): an SMS already recorded is returned as it is, never read
    twice. The one entry of every SMS received: the gateways' webhooks and the demo's "Répondre
    en tant que patient"."""
    from messaging.replies import handle_inbound

    existing = InboundMessage.objects.filter(provider_id=provider_id).first()
    if existing is not None:
        return existing
    number = normalize(from_number) or from_number
    stop = is_stop(body)
    patients = patients_of_number(number)
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
            # A new row has no links yet: one INSERT (``set`` would read them first).
            through = InboundMessage.patients.through
            through.objects.bulk_create(through(inboundmessage_id=inbound.pk, patient_id=p.pk) for p in patients)
            if stop:
                Patient.objects.filter(mobile=number).update(sms_consent=False, updated_at=timezone.now())
                Guardian.objects.filter(mobile=number).update(sms_consent=False)
            handle_inbound(inbound)
    except IntegrityError:
        return InboundMessage.objects.get(provider_id=provider_id)
    return inbound


def _gateway_webhooks(name: str):
    backend = gateway_class(name)
    if backend is None or backend.webhooks is None:
        raise Http404("Passerelle SMS inconnue.")
    return backend.webhooks


@csrf_exempt
@require_http_methods(["GET", "POST"])
def delivery_status(request: HttpRequest, gateway: str) -> HttpResponse:
    """A gateway's delivery report(s). Each is applied to its message, or kept until the message
    is recorded with that id (messaging.lifecycle): none is dropped."""
    from messaging.lifecycle import apply_delivery_event

    hooks = _gateway_webhooks(gateway)
    if not hooks.verify(request):
        return HttpResponseForbidden("Signature de la passerelle invalide.")
    for event in hooks.delivery_events(request):
        apply_delivery_event(event, gateway=gateway)
    return hooks.delivery_response()


@csrf_exempt
@require_http_methods(["GET", "POST"])
def inbound(request: HttpRequest, gateway: str) -> HttpResponse:
    """SMS received by the practice: recorded on the patients' history; STOP withdraws consent."""
    hooks = _gateway_webhooks(gateway)
    if not hooks.verify(request):
        return HttpResponseForbidden("Signature de la passerelle invalide.")
    events = hooks.inbound_events(request)
    if not events:
        # Answered 200 all the same (a gateway retrying what we cannot read helps nobody), but
        # an administrator must be able to see that replies arrive without what we read.
        params = request.POST if request.method == "POST" and request.POST else request.GET
        logger.warning("Inbound callback of %s without a reply it could read (parameters: %s)", gateway,
                       ", ".join(sorted(k for k in params if k != "token")) or "none")
    for event in events:
        record_inbound_event(event)
    return hooks.inbound_response()


def record_inbound_event(event: InboundEvent) -> InboundMessage:
    return record_inbound(provider_id=event.provider_id, from_number=event.from_number,
                          to_number=event.to_number, body=event.body)
