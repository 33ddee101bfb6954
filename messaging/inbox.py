"""The "Réponses" inbox: the SMS patients send back that staff must read themselves.

An inbound SMS is recorded by ``messaging.webhooks.record_inbound`` (every gateway's webhook and
the demo's "Répondre en tant que patient" call it). A STOP is dealt with there (the SMS consent is
withdrawn); every other one waits here until a member of staff marks it handled (who, when; they
may undo it). Staff answer it through the ordinary outbox (``messaging.outbox.mailing_create``):
the recipient policy, STOP, quiet hours and the last-moment checks apply as to any SMS.

Selectors read, services write; the views (``messaging.views_replies``) stay thin.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from messaging.models import (
    Channel,
    InboundMessage,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    RecipientRole,
    ReplyKind,
)
from messaging.outbox import mailing_create
from messaging.policy import (
    Reason,
    Recipient,
    consent_reason,
    number_recipient,
    number_stop_reason,
    recipients_for,
)
from patients.models import Patient
from patients.phones import format_fr
from patients.phones import normalize as normalize_phone

# Outgoing statuses of an SMS the patient may have read, for "the last SMS sent to this number".
_REACHED = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN]

# The filter of the page: the replies still to handle, or every one.
STATE_TO_HANDLE = "a-traiter"
STATE_ALL = "toutes"
STATES = {STATE_TO_HANDLE: gettext_lazy("Non traitées"), STATE_ALL: gettext_lazy("Toutes")}


# ---------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------


def answerable() -> QuerySet[InboundMessage]:
    """Every inbound SMS but STOP: what staff may open, answer and mark handled (a confirmation
    handled by itself included: the patient may have asked something in it too)."""
    return InboundMessage.objects.filter(is_stop=False).exclude(kind=ReplyKind.STOP)


def replies() -> QuerySet[InboundMessage]:
    """Every inbound SMS staff are to read: all but STOP (recorded as a withdrawal of consent
    where it arrives, nothing to answer) and but what ``messaging.replies.handle_inbound``
    handled by itself (a confirmation recorded on its appointments). A cancellation request
    stays: it is marked on the appointment, and staff cancel or move it themselves."""
    return answerable().filter(Q(handled_automatically=False) | Q(kind=ReplyKind.CANCEL))


def replies_to_handle() -> QuerySet[InboundMessage]:
    """The replies nobody has marked handled yet: what the menu counts."""
    return replies().filter(handled_at__isnull=True)


def to_handle_count() -> int:
    """The number of replies to handle: one COUNT query, served by ``inbound_to_handle_idx``."""
    return replies_to_handle().count()


def reply_list(
    *,
    state: str = STATE_TO_HANDLE,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    patient: str = "",
    text: str = "",
) -> QuerySet[InboundMessage]:
    """The replies of the page, newest first: still to handle (``state``) or all; received
    between the local dates ``date_from`` and ``date_to`` (inclusive, either may be None); from a
    patient or guardian whose name, file number or mobile matches ``patient`` (a number typed the
    French way matches the E.164 stored); whose text contains ``text`` (case ignored). Loaded for
    ``describe`` (a constant number of queries for a page)."""
    from patients.selectors import local_day_bounds

    qs = replies() if state == STATE_ALL else replies_to_handle()
    if date_from:
        qs = qs.filter(received_at__gte=local_day_bounds(date_from)[0])
    if date_to:
        qs = qs.filter(received_at__lt=local_day_bounds(date_to)[1])
    patient = (patient or "").strip()
    if patient:
        qs = qs.filter(pk__in=from_whom(patient))
    text = (text or "").strip()
    if text:
        qs = qs.filter(body__icontains=text)
    return with_context(qs).order_by("-received_at", "-id")


def from_whom(query: str) -> QuerySet[InboundMessage]:
    """The inbound SMS (ids) from a patient or guardian whose name contains every word of
    ``query``, from the patient with that file number, or from a number containing it (a number
    typed the French way, "06.76.39.60.23", matches the E.164 stored)."""
    query = query.strip()
    condition = Q()
    for word in query.split():
        condition &= (Q(patients__last_name__icontains=word) | Q(patients__first_name__icontains=word)
                      | Q(patients__civil_guardian__last_name__icontains=word)
                      | Q(patients__financial_guardian__last_name__icontains=word))
    condition |= Q(patients__file_number=query) | Q(from_number__icontains=query)
    number = normalize_phone(query) if sum(c.isdigit() for c in query) >= 6 else None
    if number:
        condition |= Q(from_number=number)
    return InboundMessage.objects.filter(condition).values("pk")


def with_context(qs: QuerySet[InboundMessage]) -> QuerySet[InboundMessage]:
    """``qs`` loaded with what ``describe`` reads: the patients of the number with their
    guardians, who handled it, the SMS it answers (``answers``, when the reply was matched to an
    SMS that asked for an answer) and the id of the last SMS the practice sent to the number
    before it came (``last_sent_id``, for the others)."""
    last_sent = (
        Message.objects.filter(channel=Channel.SMS, to=OuterRef("from_number"), status__in=_REACHED,
                               created_at__lte=OuterRef("received_at"))
        .order_by("-created_at", "-id").values("pk")[:1]
    )
    patients = Patient.objects.select_related("civil_guardian", "financial_guardian").order_by("pk")
    return (
        qs.select_related("handled_by", "answers__appointment")
        .prefetch_related(Prefetch("patients", queryset=patients))
        .annotate(last_sent_id=Subquery(last_sent))
    )


@dataclass(frozen=True)
class Sender:
    """Who sent a reply, for staff: the patient, a guardian (with the patients they answer
    for), or nobody known (``known`` False: "Numéro inconnu")."""

    name: str
    role: str  # a RecipientRole value, "" when unknown
    number: str
    patients: tuple[Patient, ...]

    @property
    def known(self) -> bool:
        return bool(self.patients)

    @property
    def number_display(self) -> str:
        return format_fr(self.number) or self.number

    @property
    def role_label(self) -> str:
        if not self.known:
            return ""
        if self.role == RecipientRole.PATIENT:
            return "Patient"
        names = ", ".join(p.display_name for p in self.patients)
        return f"Responsable de {names}"


def sender_of(inbound: InboundMessage) -> Sender:
    """Who ``inbound`` came from, read from the patients recorded with it (loaded by
    ``with_context``: no query). The patient whose own mobile it is comes first; else the
    guardian who holds it; a number no file holds any more reads as the first patient it was
    recorded for."""
    number = inbound.from_number
    patients = tuple(inbound.patients.all())
    if not patients:
        return Sender(gettext("Numéro inconnu"), "", number, ())
    for patient in patients:
        if str(patient.mobile or "") == number:
            return Sender(patient.display_name, RecipientRole.PATIENT, number, (patient,))
    for patient in patients:
        for guardian in (patient.civil_guardian, patient.financial_guardian):
            if guardian is not None and str(guardian.mobile or "") == number:
                children = tuple(p for p in patients if number in (
                    str(getattr(p.civil_guardian, "mobile", "") or ""),
                    str(getattr(p.financial_guardian, "mobile", "") or "")))
                role = (RecipientRole.CIVIL_GUARDIAN if guardian == patient.civil_guardian
                        else RecipientRole.FINANCIAL_GUARDIAN)
                return Sender(guardian.display_name, role, number, children)
    return Sender(patients[0].display_name, RecipientRole.PATIENT, number, patients)


@dataclass(frozen=True)
class Row:
    """One reply as the page shows it."""

    inbound: InboundMessage
    sender: Sender
    answered: Message | None  # the SMS it answers, when known
    matched: bool = False  # ``answered`` is the SMS that asked for this answer, not just the last one sent


def describe(inbounds) -> list[Row]:
    """``inbounds`` (loaded by ``with_context``) with their sender and the SMS each answers:
    the one that asked for the answer (``answers``), else the last SMS the practice sent to the
    number before it came. At most one query for the page."""
    inbounds = list(inbounds)
    ids = {i.last_sent_id for i in inbounds if i.answers_id is None and getattr(i, "last_sent_id", None)}
    sent = Message.objects.in_bulk(ids) if ids else {}
    return [
        Row(i, sender_of(i), i.answers, True) if i.answers_id is not None
        else Row(i, sender_of(i), sent.get(getattr(i, "last_sent_id", None)))
        for i in inbounds
    ]


def reply_recipient(inbound: InboundMessage) -> Recipient:
    """Who an answer to ``inbound`` goes to, as the recipient policy sees them now: the patient
    or guardian whose mobile sent it (with the reason when they must not get an SMS: consent
    withdrawn, STOP), or the bare number when no file holds it (refused after a STOP from that
    number). Reads the patients' files fresh."""
    number = inbound.from_number
    patients = Patient.objects.select_related("civil_guardian", "financial_guardian").filter(
        pk__in=inbound.patients.values("pk")).order_by("pk")
    found: list[Recipient] = []
    for patient in patients:
        for r in recipients_for(patient=patient, channel=Channel.SMS):
            if r.address == number and not (r.is_patient_self and r.role != RecipientRole.PATIENT):
                found.append(r)
    # The patient's own mobile first, then a guardian's.
    found.sort(key=lambda r: r.role != RecipientRole.PATIENT)
    if found:
        chosen = next((r for r in found if r.sendable), found[0])
        if chosen.reason == Reason.NO_SMS_CONSENT and consent_reason(chosen.person, Channel.SMS) == Reason.STOP:
            # Staff should know why: the person answered STOP (not a refusal noted on the file).
            chosen = chosen.left_out(Reason.STOP)
        return chosen
    recipient = number_recipient(number=number)
    if recipient.sendable and number_stop_reason(number) is not None:
        recipient = recipient.left_out(Reason.STOP)
    return recipient


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def reply_mark_handled(*, inbound: InboundMessage, user) -> bool:
    """Mark ``inbound`` handled by ``user`` now. False when someone had already marked it (their
    name and time are kept): a conditional UPDATE, so two people clicking at once record one."""
    done = InboundMessage.objects.filter(pk=inbound.pk, handled_at__isnull=True).update(
        handled_at=timezone.now(), handled_by=user)
    inbound.refresh_from_db(fields=["handled_at", "handled_by"])
    return bool(done)


def reply_mark_unhandled(*, inbound: InboundMessage) -> None:
    """Put ``inbound`` back among the replies to handle (undo)."""
    InboundMessage.objects.filter(pk=inbound.pk).update(handled_at=None, handled_by=None)
    inbound.refresh_from_db(fields=["handled_at", "handled_by"])


def reply_send(*, inbound: InboundMessage, body: str, user, token: str) -> Mailing:
    """Answer ``inbound`` by SMS through the outbox: one Mailing (origin "Réponse à un SMS
    reçu") with one message to ``reply_recipient(inbound)``. The same ``token`` (one per form
    shown) never writes twice. Raises ValueError with the reason (active language) when the answer must
    not be sent (empty text, STOP or consent withdrawn, no valid mobile): nothing is written
    then."""
    recipient = reply_recipient(inbound)
    if not recipient.sendable:
        raise ValueError(gettext("Réponse impossible : %(reason)s") % {"reason": recipient.skip_reason})
    return mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.ANSWER, requested_by=user, recipients=[recipient],
        sms_body=body, idempotency_key=f"reply:{inbound.pk}:{token}"[:120],
        label=(gettext("Réponse à %(name)s") % {"name": recipient.name})[:200],
    )
