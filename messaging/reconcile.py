"""Settling SMS left "incertain" by asking their gateway.

An SMS is "incertain" (UNKNOWN) when the gateway may have taken it but we never heard back (the
line dropped after the request, a worker died while it was in flight). After a safe delay
(``MESSAGING_RECONCILE_AFTER_MINUTES``: long enough for the gateway to have recorded anything it
accepted), the gateway's own list of sent SMS is searched, once per message:

- found: the SMS left; it becomes SENT with the gateway's id (and DELIVERED / FAILED when the
  gateway already knows), so kept delivery reports apply too;
- not found: it never left; it goes back to PENDING and leaves on the next dispatch. It can
  never be sent twice: the check happens at most once per message (a GatewayCheck row, unique
  per message, is written in the same transaction), so an SMS that becomes "incertain" again
  stays for staff.

A gateway that cannot be asked (console, a class outside messaging/gateways) leaves the rows to
staff; a gateway that does not answer is asked again at the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from messaging.gateways import get_sms_backend
from messaging.gateways.base import DeliveryEvent, GatewayUnavailable
from messaging.lifecycle import apply_delivery_event, settle_unknown
from messaging.models import Channel, GatewayCheck, Message, MessageStatus, PendingDeliveryEvent
from messaging.reasons import Why

logger = logging.getLogger(__name__)

FOUND_REASON = Why(gettext_noop("Vérifié auprès de la passerelle : le SMS était bien parti."))
NOT_FOUND_REASON = Why(gettext_noop(
    "Vérifié auprès de la passerelle : le SMS n'était pas parti ; il est renvoyé automatiquement (une seule fois)."
))
# Kept delivery reports about ids no message ever carried (an SMS sent by hand from the
# gateway's console) are forgotten after this long.
KEEP_REPORTS_DAYS = 30
# The gateway's clock and ours may differ: the search window opens a little before the claim.
CLOCK_MARGIN = dt.timedelta(minutes=5)


@dataclass
class ReconcileResult:
    sent: int = 0
    not_sent: int = 0
    unavailable: int = 0
    skipped: bool = False

    def as_dict(self) -> dict:
        return {"sent": self.sent, "not_sent": self.not_sent, "unavailable": self.unavailable, "skipped": self.skipped}


def reconcile_after() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MESSAGING_RECONCILE_AFTER_MINUTES)


def reconcile_unknown_sms(*, now: dt.datetime | None = None, limit: int = 200) -> ReconcileResult:
    """Ask the configured gateway about each SMS "incertain" for longer than the safe delay and
    never checked, and settle it. Returns the counts."""
    now = now or timezone.now()
    result = ReconcileResult()
    candidates = list(
        Message.objects.filter(channel=Channel.SMS, status=MessageStatus.UNKNOWN, updated_at__lte=now - reconcile_after(),
                               gateway_check__isnull=True)
        .only("pk", "to", "body", "claimed_at", "created_at", "status").order_by("pk")[:limit]
    )
    if not candidates:
        return result
    try:
        backend = get_sms_backend()
    except Exception as exc:  # noqa: BLE001 - a gateway that cannot even be built is asked next time
        logger.warning("Reconciliation skipped: the SMS gateway cannot be used (%s)", exc)
        result.skipped = True
        return result
    with backend:
        for message in candidates:
            since = (message.claimed_at or message.created_at) - CLOCK_MARGIN
            # Ids already recorded on other messages to that number are theirs, not this one's.
            taken = frozenset(
                Message.objects.filter(channel=Channel.SMS, to=message.to).exclude(pk=message.pk)
                .exclude(provider_id="").values_list("provider_id", flat=True)
            )
            try:
                lookup = backend.find_sent(to=message.to, body=message.body, since=since, until=now, exclude=taken)
            except NotImplementedError:
                result.skipped = True
                return result
            except GatewayUnavailable as exc:
                logger.warning("Message %s: gateway lookup failed (%s); asked again next run", message.pk, exc)
                result.unavailable += 1
                continue
            _settle(message, lookup, gateway=backend.name, now=now, result=result)
    return result


def _settle(message: Message, lookup, *, gateway: str, now: dt.datetime, result: ReconcileResult) -> None:
    try:
        with transaction.atomic():
            GatewayCheck.objects.create(
                message=message, gateway=gateway[:20], provider_id=lookup.provider_id[:100],
                outcome=GatewayCheck.Outcome.FOUND if lookup.found else GatewayCheck.Outcome.NOT_FOUND,
            )
            if lookup.found:
                if settle_unknown(message, sent=True, provider_id=lookup.provider_id, reason=FOUND_REASON, now=now):
                    result.sent += 1
            elif settle_unknown(message, sent=False, reason=NOT_FOUND_REASON, now=now):
                result.not_sent += 1
    except IntegrityError:
        # Another run checked it meanwhile: once is the rule.
        return
    if lookup.found and lookup.status in (MessageStatus.DELIVERED, MessageStatus.FAILED):
        apply_delivery_event(DeliveryEvent(provider_id=lookup.provider_id, status=lookup.status,
                                           error_code=lookup.error_code, reason=lookup.reason), gateway=gateway, now=now)


def forget_old_reports(*, now: dt.datetime | None = None) -> int:
    """Delete kept delivery reports older than KEEP_REPORTS_DAYS (their message never came)."""
    now = now or timezone.now()
    deleted, _ = PendingDeliveryEvent.objects.filter(received_at__lt=now - dt.timedelta(days=KEEP_REPORTS_DAYS)).delete()
    return deleted
