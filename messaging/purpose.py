"""One message per appointment, purpose and channel within the practice's period.

A message about an appointment carries its purpose (``Message.purpose``): reminder,
confirmation, missed-appointment follow-up, move or cancel notice, other. It comes from the
template's category (single send, mass mailing), the treatment's kind or the event. Whatever the
route, an appointment gets at most one message of each purpose (but "other") on each channel
within ``Practice.purpose_period_days``: a second one is not sent, with a reason that names the
first ("Rappel déjà envoyé le 06/12 à 03h27 par le publipostage n°4"; "déjà prévu" while the
first waits, held by quiet hours for example). Unless staff chose to send it again
(``Mailing.send_again``: a checkbox of the send window and of the mass mailing; "Renvoyer").

The rule is applied where a message is decided, with the same words: the previews (mass mailing,
the treatment's Tester) and the outbox (``mailing_create``) through ``earlier_messages`` (one
query for a whole mailing), and again just before a message leaves (``duplicate_check``, a
last-moment check of ``messaging.send_checks``): a message held by quiet hours that became a second copy
meanwhile is cancelled with the reason naming the first.

A message about the same appointment at another time (moved since) is not a copy: its text
quotes another time. Failed, cancelled and skipped messages never count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_noop

from .models import Channel, CoveredAppointment, MailingOrigin, Message, MessageStatus, Purpose
from .policy import Reason, Recipient
from .reasons import Clock, Why

# The statuses of a message that reached, may have reached or will reach its recipient.
COUNTED = (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED,
           MessageStatus.UNKNOWN)
_WAITING = (MessageStatus.PENDING, MessageStatus.SENDING)
# "Rappel déjà envoyé", "Confirmation déjà envoyée".
_FEMININE = frozenset({Purpose.CONFIRMATION, Purpose.MISSED})


def purpose_of_template(template) -> str:
    """The purpose of a message written from ``template`` (an SMS or email type): its
    category's. "other" without a template."""
    category = getattr(template, "category", None)
    return category.purpose if category is not None else Purpose.OTHER


def period_days() -> int:
    from practice.models import Practice

    return Practice.get().purpose_period_days


@dataclass(frozen=True, slots=True)
class Earlier:
    """The first message of a purpose about an appointment on a channel."""

    message_id: int
    status: str
    at: dt.datetime
    mailing_id: int
    origin: str
    label: str
    appointment_start: dt.datetime | None
    created_at: dt.datetime | None = None  # which of two is the first

    def source(self) -> Why:
        """Who wrote it, in words: "le publipostage n°4"."""
        n = self.mailing_id
        if self.origin == MailingOrigin.TREATMENT and self.label:
            return Why(gettext_noop("le traitement « %(label)s »"), label=self.label)
        return Why({
            MailingOrigin.MASS_MAILING: gettext_noop("le publipostage n°%(n)s"),
            MailingOrigin.TREATMENT: gettext_noop("le traitement (envoi n°%(n)s)"),
            MailingOrigin.PATIENT_FILE: gettext_noop("l'envoi n°%(n)s du dossier patient"),
            MailingOrigin.CAMPAIGN: gettext_noop("la campagne (envoi n°%(n)s)"),
            MailingOrigin.EVENT: gettext_noop("le message d'événement n°%(n)s"),
            MailingOrigin.RESEND: gettext_noop("le renvoi n°%(n)s"),
            MailingOrigin.REPLY: gettext_noop("la réponse automatique n°%(n)s"),
        }.get(self.origin, gettext_noop("l'envoi n°%(n)s")), n=n)

    @property
    def waiting(self) -> bool:
        return self.status in _WAITING

    @property
    def reason(self) -> Reason:
        return Reason.ALREADY_PLANNED if self.waiting else Reason.ALREADY_SENT

    def text(self, purpose: str) -> Why:
        """"Rappel déjà envoyé le 06/12 à 03h27 par le publipostage n°4" (a
        ``messaging.reasons.Why``: shown in the reader's language)."""
        label = Purpose(purpose).label if purpose in Purpose.values else purpose
        if purpose in _FEMININE:
            msgid = (gettext_noop("%(purpose)s déjà prévue le %(date)s à %(time)s par %(source)s.") if self.waiting
                     else gettext_noop("%(purpose)s déjà envoyée le %(date)s à %(time)s par %(source)s."))
        else:
            msgid = (gettext_noop("%(purpose)s déjà prévu le %(date)s à %(time)s par %(source)s.") if self.waiting
                     else gettext_noop("%(purpose)s déjà envoyé le %(date)s à %(time)s par %(source)s."))
        local = timezone.localtime(self.at)
        return Why(msgid, purpose=label, date=f"{local:%d/%m}", time=Clock(local), source=self.source())


def _rows(qs) -> Iterable[tuple]:
    return qs.values_list(
        "pk", "appointment_id", "purpose", "channel", "status", "created_at", "sent_at", "appointment_start",
        "mailing_id", "mailing__origin", "mailing__label",
    )


def _earlier(row) -> Earlier:
    pk, _appt, _purpose, _channel, status, created_at, sent_at, start, mailing_id, origin, label = row
    return Earlier(pk, status, sent_at or created_at, mailing_id, origin, label, start, created_at)


def earlier_messages(*, appointment_ids: Iterable[int], channel: str, purpose: str,
                     now: dt.datetime | None = None) -> dict[int, Earlier]:
    """appointment id -> the first message of ``purpose`` on ``channel`` about it within the
    practice's period (waiting or sent). Nothing for "other". One query whatever the number
    (the index ``message_purpose_idx``)."""
    ids = {i for i in appointment_ids if i}
    if purpose == Purpose.OTHER or not ids:
        return {}
    since = (now or timezone.now()) - dt.timedelta(days=period_days())
    qs = Message.objects.filter(
        appointment_id__in=ids, purpose=purpose, channel=channel, status__in=COUNTED, created_at__gte=since,
    ).order_by("created_at", "pk")
    found: dict[int, Earlier] = {}
    for row in _rows(qs):
        found.setdefault(row[1], _earlier(row))
    # A message listing several appointments (one SMS to a family's number) is the message of
    # each of them: a second query, on the link table, rather than an OR across two tables
    # that would keep the database from using either index.
    covered = CoveredAppointment.objects.filter(
        appointment_id__in=ids, message__purpose=purpose, message__channel=channel,
        message__status__in=COUNTED, message__created_at__gte=since,
    ).values_list(
        "message_id", "appointment_id", "message__status", "message__created_at", "message__sent_at",
        "appointment_start", "message__mailing_id", "message__mailing__origin", "message__mailing__label",
    )
    for pk, appointment_id, status, created_at, sent_at, start, mailing_id, origin, label in covered:
        first = found.get(appointment_id)
        if first is None or (created_at, pk) < (first.created_at, first.message_id):
            found[appointment_id] = Earlier(pk, status, sent_at or created_at, mailing_id, origin, label, start,
                                            created_at)
    return found


def copy_of(earlier: dict[int, Earlier], appointment) -> Earlier | None:
    """The earlier message ``appointment`` (as it stands now) already has, or None. One
    about another time (the appointment moved since) is not a copy."""
    if appointment is None:
        return None
    first = earlier.get(appointment.pk)
    if first is None or (first.appointment_start is not None and first.appointment_start != appointment.start):
        return None
    return first


def mark_copies(recipients: Sequence[Recipient], *, channel: str, purpose: str) -> list[Recipient]:
    """``recipients`` with those whose appointment already had a message of ``purpose`` on
    ``channel`` marked not sent, with the reason naming the first (the previews' view of what
    the outbox will do). One query."""
    earlier = earlier_messages(
        appointment_ids=[r.appointment.pk for r in recipients if r.appointment is not None],
        channel=channel, purpose=purpose,
    )
    if not earlier:
        return list(recipients)
    out = []
    for r in recipients:
        first = copy_of(earlier, r.appointment) if r.sendable else None
        out.append(r.left_out(first.reason, first.text(purpose)) if first is not None else r)
    return out


def first_copy_expression():
    """The id of the first message ``duplicate_check`` would name, computed by the database in
    the query that reads the message again before it leaves (``send_checks.Refresher``): no
    query of its own."""
    from django.db.models import OuterRef, Q, Subquery

    since = timezone.now() - dt.timedelta(days=period_days())
    others = (
        Message.objects.filter(
            appointment_id=OuterRef("appointment_id"), purpose=OuterRef("purpose"), channel=OuterRef("channel"),
            appointment_start=OuterRef("appointment_start"), status__in=COUNTED, created_at__gte=since,
        )
        .exclude(mailing_id=OuterRef("mailing_id"))
        # Out already, or waiting and written first (of two copies the first written leaves:
        # two workers holding one each cancel the same one).
        .filter(~Q(status__in=_WAITING) | Q(pk__lt=OuterRef("pk")))
        .order_by("created_at", "pk")
        .values("pk")[:1]
    )
    return Subquery(others)


def may_be_a_copy(message: Message) -> bool:
    """Whether ``duplicate_check`` judges ``message`` (and so needs ``first_copy_expression``):
    about an appointment, with a purpose, from a mailing staff did not choose to send again."""
    return bool(message.appointment_id) and message.purpose != Purpose.OTHER and not message.mailing.send_again


def first_covered_copy_expression():
    """Like ``first_copy_expression``, for a copy that is one SMS listing the appointment among
    others (``CoveredAppointment``): through the link table's index, no query of its own."""
    from django.db.models import OuterRef, Q, Subquery

    since = timezone.now() - dt.timedelta(days=period_days())
    others = (
        CoveredAppointment.objects.filter(
            appointment_id=OuterRef("appointment_id"), appointment_start=OuterRef("appointment_start"),
            message__purpose=OuterRef("purpose"), message__channel=OuterRef("channel"),
            message__status__in=COUNTED, message__created_at__gte=since,
        )
        .exclude(message__mailing_id=OuterRef("mailing_id"))
        .filter(~Q(message__status__in=_WAITING) | Q(message_id__lt=OuterRef("pk")))
        .order_by("message__created_at", "message_id")
        .values("message_id")[:1]
    )
    return Subquery(others)


def group_size_expression():
    """How many appointments a message lists (0 but for one SMS to a family's number), computed
    with the message in the query that reads it again before it leaves."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    counted = (
        CoveredAppointment.objects.filter(message_id=OuterRef("pk")).order_by()
        .values("message_id").annotate(n=Count("pk")).values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def may_be_grouped(message: Message) -> bool:
    """Whether ``message`` may list several appointments (and so needs ``group_size``): only a
    treatment's SMS does (one SMS per family and day, scheduler.family)."""
    return message.channel == Channel.SMS and message.mailing.origin == MailingOrigin.TREATMENT


def duplicate_check(message: Message, now: dt.datetime):
    """The last-moment check (``messaging.send_checks``): cancel ``message`` when its
    appointment already had a message of the same purpose on the same channel, about the same
    time, from another mailing, within the practice's period (``first_copy_expression``), with the reason
    naming it. A message without appointment or purpose, and a mailing staff chose to send
    again, are left alone. A query only when there is a copy to name."""
    from messaging.send_checks import Verdict

    if not may_be_a_copy(message):
        return None
    if getattr(message, "group_size", 0):
        # One SMS listing several appointments: each of them is checked, and the SMS merged
        # again without a copy, by scheduler.family.group_check.
        return None
    candidates = [i for i in (getattr(message, "purpose_first_copy", None),
                              getattr(message, "purpose_first_covered_copy", None)) if i is not None]
    if not candidates:
        return None
    first_id = min(candidates)
    row = _rows(Message.objects.filter(pk=first_id)).first()
    if row is None:
        return None
    first = _earlier(row)
    return Verdict.cancel(first.reason.value, first.text(message.purpose))
