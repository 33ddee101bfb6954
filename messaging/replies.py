"""Replies to our SMS: what a patient's answer says, and what it changes.

An SMS type may ask for an answer ("Répondez OUI pour confirmer, NON pour annuler",
``SmsTemplate.asks_reply``, frozen on the mailing). Every SMS received goes through
``messaging.webhooks.record_inbound`` (the gateways' webhooks and the demo's "Répondre en tant
que patient" alike), which records it once per gateway id and calls ``handle_inbound``:

* ``interpret`` reads the text (pure: no database): confirm, cancel, STOP or other. What
  people really write counts ("Oui merci", "ok c'est noté", "d'accord", "je ne pourrai pas
  venir", with or without accents, punctuation or emoji); anything doubtful ("oui mais
  j'aurai du retard", a question) is "other", for a person to read in the inbox;
* the answer is matched to the LAST SMS that asked this number for an answer (the patients and
  guardians holding the number), and through it to the appointment(s) it was about
  (``appointments_answered_by``): only appointments still to come, at the time the SMS quoted;
* confirm: the appointment is "confirmé" (``Appointment.confirmed_at``, a line in its
  history) and, when the practice chose it, an acknowledgement leaves through the normal outbox
  once ("Merci, votre RDV du 07/12 à 10h10 est confirmé.", held by quiet hours like any SMS);
  later reminders and the email fallback of that appointment are not sent
  (``confirmed_check``, ``mark_confirmed``: Reason.CONFIRMED_BY_SMS);
* cancel: "annulation demandée" (``cancel_requested_at``, a line in the history) and the
  answer stays in the inbox for staff to cancel or move it, or the appointment is cancelled at
  once when its nature says so (``Nature.cancel_on_reply``);
* STOP: consent withdrawn by ``record_inbound`` as before; other: the inbox.

An answer about no appointment (no SMS asked this number, the appointment has passed, moved or
been cancelled since) changes nothing and goes to the inbox.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence

from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from patients.models import Appointment, AppointmentEvent, AppointmentEventKind, AppointmentState, CancelledBy

from .models import Channel, InboundMessage, MailingOrigin, Message, MessageStatus, Purpose, ReplyKind
from .reasons import Clock, Why

# ---------------------------------------------------------------------------------------------
# What the text says (pure)
# ---------------------------------------------------------------------------------------------

# Emoji that answer by themselves; the others are ignored.
_EMOJI_WORDS = {"👍": " oui ", "👌": " oui ", "✅": " oui ", "✔": " oui ", "❌": " non ", "👎": " non "}
_APOSTROPHES = str.maketrans({c: " " for c in "'’‘`´ʼ"})
# Word sequences (accents removed, lower case), longest first where one contains another.
_CONFIRM = (
    "pas de soucis", "pas de souci", "pas de probleme", "sans probleme", "sans souci", "ca marche",
    "c est note", "c est bon", "bien note", "bien recu", "je confirme", "serai presente", "serai present",
    "serai la", "d accord", "daccord", "dacc", "confirmee", "confirme", "confirmer", "parfait", "entendu",
    "okay", "okey", "oui", "yes", "ok", "note",
)
_CANCEL = (
    "pourrai pas", "pourrais pas", "pourra pas", "pourrons pas", "peux pas", "peut pas", "viendrai pas",
    "viendra pas", "serai pas", "empechement", "empechee", "empeche", "indisponible", "annulation",
    "annuler", "annulez", "annule", "non",
)
# With a confirmation, any of these makes it doubtful: a condition, a delay, a negation.
_DOUBT = frozenset({
    "mais", "sauf", "retard", "decaler", "reporter", "changer", "deplacer", "plutot", "autre", "ou", "pas", "ne",
    "n", "jamais", "si",
})
# A confirmation is a short answer; a long text that says "oui" somewhere is for a person.
_MAX_CONFIRM_WORDS = 12


def _words(text: str) -> list[str]:
    for emoji, word in _EMOJI_WORDS.items():
        text = text.replace(emoji, word)
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = []
    for word in re.findall(r"[a-z0-9]+", plain):
        word = re.sub(r"(.)\1{2,}", r"\1", word)  # "ouiii", "okkk"
        if re.fullmatch(r"o+u+i+", word):
            word = "oui"
        elif re.fullmatch(r"o+k+", word):
            word = "ok"
        words.append(word)
    return words


def _take(text: str, phrases: Sequence[str]) -> tuple[bool, str]:
    """Whether ``text`` (words between single spaces, padded) holds one of ``phrases``, and the
    text without them."""
    found = False
    for phrase in phrases:
        needle = f" {phrase} "
        while needle in text:
            found = True
            text = text.replace(needle, " ")
    return found, text


def interpret(body: str) -> str:
    """What an SMS received says: a ``ReplyKind`` value (confirm, cancel, stop, other).

    STOP first (the words ``messaging.webhooks.is_stop`` knows). Then a cancellation ("non",
    "annuler", "je ne pourrai pas venir"...) unless it also confirms ("oui ou non ?": other). A
    confirmation ("oui", "ok c'est noté", "d'accord", "je confirme", 👍...) only when short, not
    a question and free of any condition or negation ("oui mais j'aurai du retard": other)."""
    from .webhooks import is_stop

    if is_stop(body or ""):
        return ReplyKind.STOP
    words = _words(body or "")
    if not words:
        return ReplyKind.OTHER
    text = f" {' '.join(words)} "
    confirms, rest = _take(text, _CONFIRM)
    cancels, _ = _take(text, _CANCEL)
    if cancels:
        return ReplyKind.OTHER if confirms else ReplyKind.CANCEL
    if not confirms or len(words) > _MAX_CONFIRM_WORDS or "?" in body:
        return ReplyKind.OTHER
    if _DOUBT & set(rest.split()):
        return ReplyKind.OTHER
    return ReplyKind.CONFIRM


# ---------------------------------------------------------------------------------------------
# What an answer is about
# ---------------------------------------------------------------------------------------------


def appointments_answered_by(message: Message) -> list[Appointment]:
    """The appointments a reply to ``message`` answers: the one it is about, or every one of
    the day's appointments it listed when it was one SMS to a family's number
    (``CoveredAppointment``), in the order of their start. [] for a message about none. An
    appointment deleted since is left out. One query (two for a message about one appointment
    not loaded with it). Each appointment carries ``written_start``: its start as the message
    quoted it (None when unknown)."""
    covered = []
    if message.pk is not None:
        for c in message.covers.select_related("appointment").order_by("appointment__start", "appointment_id"):
            if c.appointment is not None:
                c.appointment.written_start = c.appointment_start
                covered.append(c.appointment)
    if covered:
        return covered
    if not message.appointment_id:
        return []
    appointment = message.appointment
    appointment.written_start = message.appointment_start
    return [appointment]


# The statuses of an SMS that may have reached the patient (an answer can only follow those).
_REACHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)


def asking_message(inbound: InboundMessage) -> Message | None:
    """The last SMS that asked ``inbound``'s number for an answer, sent to a patient (or a
    guardian of a patient) the number belongs to; None when there is none, or when staff have
    answered this number from Réponses since (the answer is then theirs to read). Two queries at
    most, on the patients' messages and this number's (indexes), never on the whole outbox."""
    through = InboundMessage.patients.through
    asked = (
        Message.objects.filter(
            patient_id__in=through.objects.filter(inboundmessage_id=inbound.pk).values("patient_id"),
            channel=Channel.SMS, to=inbound.from_number, mailing__asks_reply=True, status__in=_REACHED,
        )
        .select_related("appointment__nature")
        .order_by("-created_at", "-pk")
        .first()
    )
    # Once staff have written to this number from Réponses ("pouvez-vous venir à 9h ?"), a
    # "oui" answers them, not the old reminder: it goes to Réponses for staff to read.
    if asked is not None and Message.objects.filter(
        channel=Channel.SMS, to=inbound.from_number, mailing__origin=MailingOrigin.ANSWER,
        status__in=_REACHED, created_at__gt=asked.created_at,
    ).exists():
        return None
    return asked


def _answerable(appointments: list[Appointment], now: dt.datetime) -> list[Appointment]:
    """Those an answer may still change: to come, neither cancelled nor postponed, at the time
    the message quoted (an answer about the old time of a moved appointment is for staff)."""
    return [
        a for a in appointments
        if a.state == AppointmentState.FUTURE and a.start > now
        and (getattr(a, "written_start", None) is None or a.written_start == a.start)
    ]


# ---------------------------------------------------------------------------------------------
# Handling one SMS received
# ---------------------------------------------------------------------------------------------


def handle_inbound(inbound: InboundMessage, *, now: dt.datetime | None = None) -> list[Appointment]:
    """Read ``inbound`` once (``record_inbound`` calls it in the transaction that records it)
    and apply it: see the module's doc. Records ``kind``, ``answers`` and
    ``handled_automatically`` on it. Returns the appointments it changed. A constant number of
    queries (about eight for a confirmation)."""
    now = now or timezone.now()
    kind = ReplyKind.STOP if inbound.is_stop else interpret(inbound.body)
    asked = asking_message(inbound) if kind != ReplyKind.STOP else None
    changed: list[Appointment] = []
    if asked is not None and kind in (ReplyKind.CONFIRM, ReplyKind.CANCEL):
        appointments = _answerable(appointments_answered_by(asked), now)
        if kind == ReplyKind.CONFIRM:
            changed = _confirm(appointments, inbound, now)
        else:
            changed = _cancel(appointments, inbound, now)
    # A confirmation applied is done; a cancellation asks staff to act (the inbox alerts them),
    # even when the nature cancelled it at once; STOP is done by record_inbound.
    handled = kind == ReplyKind.STOP or (kind == ReplyKind.CONFIRM and bool(changed))
    InboundMessage.objects.filter(pk=inbound.pk).update(
        kind=kind, answers=asked, handled_automatically=handled
    )
    inbound.kind, inbound.answers, inbound.handled_automatically = kind, asked, handled
    return changed


def _events(appointments, kind: str, inbound: InboundMessage, now: dt.datetime) -> None:
    AppointmentEvent.objects.bulk_create(
        AppointmentEvent(appointment=a, kind=kind, at=now, text=inbound.body, inbound=inbound) for a in appointments
    )


def _confirm(appointments: list[Appointment], inbound: InboundMessage, now: dt.datetime) -> list[Appointment]:
    if not appointments:
        return []
    from django.db.models import Value
    from django.db.models.functions import Coalesce

    ids = [a.pk for a in appointments]
    # A second "oui" keeps the first time: the reminders were stopped then.
    Appointment.objects.filter(pk__in=ids).update(
        confirmed_at=Coalesce(F("confirmed_at"), Value(now)), cancel_requested_at=None
    )
    _events(appointments, AppointmentEventKind.CONFIRMED, inbound, now)
    for a in appointments:
        a.confirmed_at, a.cancel_requested_at = a.confirmed_at or now, None
    from practice.models import Practice

    if Practice.objects.filter(pk=1, sms_reply_ack=True).exists():
        acknowledge(appointments, inbound)
    return appointments


def _cancel(appointments: list[Appointment], inbound: InboundMessage, now: dt.datetime) -> list[Appointment]:
    from django.core.exceptions import ValidationError

    from patients.services import appointment_cancel

    if not appointments:
        return []
    cancelled, requested = [], []
    for a in appointments:
        a.cancel_requested_at = now
        if a.nature is not None and a.nature.cancel_on_reply:
            try:
                # Through the service (saved with the mark): the scheduler cancels the
                # appointment's pending reminders.
                appointment_cancel(appointment=a, cancelled_by=CancelledBy.PATIENT)
            except ValidationError:
                pass  # refused by the appointment's rules: staff decide, as for any nature
            else:
                cancelled.append(a)
                continue
        requested.append(a)
    if requested:
        Appointment.objects.filter(pk__in=[a.pk for a in requested]).update(cancel_requested_at=now)
        _events(requested, AppointmentEventKind.CANCEL_REQUESTED, inbound, now)
    _events(cancelled, AppointmentEventKind.CANCELLED, inbound, now)
    return appointments


# ---------------------------------------------------------------------------------------------
# The acknowledgement
# ---------------------------------------------------------------------------------------------


def ack_text(appointments: Sequence[Appointment]) -> str:
    """"Merci, votre RDV du 07/12 à 10h10 est confirmé." (several: "vos RDV du 09/12 à 14h00
    et du 09/12 à 14h30 sont confirmés."), in the practice's language like the rest of what it
    sends patients ("Thank you, your appointment on 07/12 at 10:10 is confirmed.")."""
    from patients.templatetags.fr_format import heure
    from practice.i18n import practice_language

    moments = [timezone.localtime(a.start) for a in appointments]
    with translation.override(practice_language()):
        dates = [gettext("du %(day)s à %(time)s") % {"day": f"{m:%d/%m}", "time": heure(m)} for m in moments]
        if len(dates) == 1:
            return gettext("Merci, votre RDV %(when)s est confirmé.") % {"when": dates[0]}
        return gettext("Merci, vos RDV %(when)s et %(last)s sont confirmés.") % {
            "when": ", ".join(dates[:-1]), "last": dates[-1]}


def acknowledge(appointments: Sequence[Appointment], inbound: InboundMessage):
    """Queue the acknowledgement of a confirmation to the number that sent it, through the
    normal outbox (consent, quiet hours and the last-moment checks apply). Once per
    appointment and time: a second "oui" writes nothing (the mailing's idempotency key)."""
    from .inbox import reply_recipient
    from .outbox import mailing_create

    key = "reply-ack:" + ",".join(
        f"{a.pk}@{int(a.start.timestamp())}" for a in sorted(appointments, key=lambda a: a.pk)
    )
    first = appointments[0]
    # The patient or guardian who holds the number, as the policy sees them (a bare number
    # would only be refused after a STOP): consent withdrawn on the file skips the SMS here,
    # and dispatch checks it again at the last moment.
    recipient = reply_recipient(inbound)
    from practice.i18n import practice_language

    # Nobody's page: the label is read later by anyone, in the practice's language (as the
    # programmeur's), even when the demo inbox's "reply as the patient" runs in a staff request.
    with translation.override(practice_language()):
        label = gettext("Accusé de confirmation par SMS")
    return mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.REPLY, requested_by=None, recipients=[recipient],
        sms_body=ack_text(appointments), appointment=first, idempotency_key=key[:120],
        label=label, purpose=Purpose.OTHER,
    )


# ---------------------------------------------------------------------------------------------
# A confirmed appointment stops the chase
# ---------------------------------------------------------------------------------------------

# The purposes a confirmation makes pointless.
CHASE = frozenset({Purpose.REMINDER, Purpose.CONFIRMATION})


def confirmed_reason(confirmed_at: dt.datetime) -> Why:
    """"RDV confirmé par SMS le 06/12 à 09h14." (a ``messaging.reasons.Why``)."""
    local = timezone.localtime(confirmed_at)
    return Why(gettext_noop("RDV confirmé par SMS le %(date)s à %(time)s."), date=f"{local:%d/%m}", time=Clock(local))


def confirmed_check(message: Message, now: dt.datetime):
    """The last-moment check (``messaging.send_checks``): a reminder (or confirmation request)
    of an appointment the patient has confirmed by SMS since is not sent, on any channel (the
    email fallback too). The confirmation is read fresh with the message (the annotation
    ``appointment_confirmed_at``): no query of its own. A mailing staff chose to send again is
    left alone."""
    from .policy import Reason
    from .send_checks import Verdict

    if message.purpose not in CHASE or not message.appointment_id or message.mailing.send_again:
        return None
    if getattr(message, "group_size", 0):
        # One SMS listing a family's appointments: a confirmed one is taken out and the SMS
        # merged again for the others (scheduler.family.group_check), not cancelled for all.
        return None
    confirmed_at = getattr(message, "appointment_confirmed_at", None)
    if confirmed_at is None:
        return None
    from .send_checks import _as_datetime

    return Verdict.cancel(Reason.CONFIRMED_BY_SMS.value, confirmed_reason(_as_datetime(confirmed_at)))


def mark_confirmed(recipients, *, purpose: str) -> list:
    """``recipients`` (policy.Recipient) with those whose appointment the patient confirmed by
    SMS marked not sent, with the reason (what the treatment's Tester shows and its run
    records). One query, none for a purpose a confirmation does not stop."""
    from .policy import Reason

    recipients = list(recipients)
    if purpose not in CHASE:
        return recipients
    ids = {r.appointment.pk for r in recipients if r.appointment is not None and r.sendable}
    if not ids:
        return recipients
    confirmed = dict(Appointment.objects.filter(pk__in=ids, confirmed_at__isnull=False)
                     .values_list("pk", "confirmed_at"))
    if not confirmed:
        return recipients
    return [
        r.left_out(Reason.CONFIRMED_BY_SMS, confirmed_reason(confirmed[r.appointment.pk]))
        if r.sendable and r.appointment is not None and r.appointment.pk in confirmed else r
        for r in recipients
    ]


def _reply_senders_expression():
    from django.db.models import Subquery

    from practice.models import Practice

    return Subquery(Practice.objects.filter(pk=1).values("sms_reply_senders")[:1])


def reply_sender(senders, backend) -> str:
    """The reply sender the practice set for ``backend``'s gateway ("" for none), from
    ``Practice.sms_reply_senders`` as read with the message (a dict, or its JSON text from a
    raw row)."""
    import json

    if isinstance(senders, str):
        try:
            senders = json.loads(senders)
        except ValueError:
            senders = {}
    if not isinstance(senders, dict) or backend is None:
        return ""
    return str(senders.get(getattr(backend, "name", "") or "", "") or "")


def register_checks() -> None:
    """Called once at start-up (messaging.apps): the check, and the practice's reply senders
    read fresh with each message (dispatch sends an SMS that asks for an answer from them)."""
    from . import send_checks

    send_checks.register(
        confirmed_check, annotations={
            "appointment_confirmed_at": lambda: F("appointment__confirmed_at"),
            "practice_sms_reply_senders": _reply_senders_expression,
        }
    )


__all__ = [
    "acknowledge", "appointments_answered_by", "asking_message", "confirmed_check", "handle_inbound", "interpret",
    "mark_confirmed", "register_checks", "reply_sender",
]
