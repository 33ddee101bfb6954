"""One SMS per family and day: a treatment's option "un seul SMS par famille et par jour".

When several appointments of one run fall on the same day and their reminders reach the same
mobile number (a parent and two children on Wednesday afternoon, whether the SMS goes to each
child's guardian or to a number shared on the files), they leave as ONE SMS listing them with the
merge code @RDVLISTE ("Rappel : RDV de Léo à 14h00 et d'Emma à 14h30 le 09/12 avec le Dr
MOLAIRE"). The first appointment of the day leads the message (``Message.appointment``); every
one of them is linked to it (``messaging.models.CoveredAppointment``), so:

* the purpose rule (``messaging.purpose``) counts the message as the reminder of EACH of them:
  a later run, a catch-up reminder or a mass mailing sends none of them a second one;
* Tester and the trace show the grouping (the appointments each message stands for);
* a reply answers all of them (``messaging.replies.appointments_answered_by``);
* the last-moment check (``group_check``) reads each appointment again just before the SMS
  leaves. One cancelled, moved, deleted, started, confirmed by SMS or reminded by another
  message meanwhile is
  taken out and the SMS is merged again for the others (``regroup``): their reminder still
  leaves, and its text stays true. A moved one gets its own reminder with its new time when it
  stays in the run's window (``runner.reminder_requeue``). When none is left, the SMS is
  cancelled with the reasons. The same happens as soon as an appointment is saved
  (``scheduler.signals``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from messaging.merge import format_date, practice_tz
from messaging.models import Channel, CoveredAppointment, Message, MessageStatus
from messaging.policy import Recipient
from messaging.reasons import SEMICOLON, Clock, Why, joined
from patients.models import Appointment, AppointmentState

logger = logging.getLogger(__name__)


def group_by_family(recipients: Sequence[Recipient], tz: dt.tzinfo) -> list[Recipient]:
    """``recipients`` (one SMS batch of a run) with those that share a number and a local day
    merged into one, led by the earliest appointment, standing for the others
    (``Recipient.grouped``). Recipients left out, or without an appointment, are kept as they
    are; the order is kept (a group takes the place of its first member)."""
    groups: dict[tuple[str, dt.date], list[Recipient]] = {}
    for r in recipients:
        if r.sendable and r.appointment is not None and r.address:
            groups.setdefault((r.address, r.appointment.start.astimezone(tz).date()), []).append(r)
    out: list[Recipient] = []
    done: set[tuple[str, dt.date]] = set()
    for r in recipients:
        if not (r.sendable and r.appointment is not None and r.address):
            out.append(r)
            continue
        key = (r.address, r.appointment.start.astimezone(tz).date())
        if key in done:
            continue
        done.add(key)
        members = sorted(groups[key], key=lambda m: (m.appointment.start, m.appointment.pk))
        out.append(members[0].with_grouped(tuple(members[1:])) if len(members) > 1 else members[0])
    return out


# ---------------------------------------------------------------------------------------------
# The last moment
# ---------------------------------------------------------------------------------------------


DROPPED = "Rendez-vous retirés : "


@dataclass
class Regrouped:
    """What ``regroup`` found: the appointments kept, those taken out with why, and the moved
    ones to remind again with their new time."""

    kept: list[Appointment] = field(default_factory=list)
    # "ABLIRANT Emma : rendez-vous déplacé au ...": ``Why`` (shown in the reader's language;
    # their French text is the message's remark).
    dropped: list[Why] = field(default_factory=list)
    moved: list[Appointment] = field(default_factory=list)
    changed: bool = False


def _drop_reason(appt: Appointment | None, start: dt.datetime | None, expected: set[str],
                 now: dt.datetime | None) -> Why | None:
    """Why ``appt`` (written at ``start``) no longer belongs in the SMS (a ``Why``: French text,
    shown in the reader's language), None when it does."""
    if appt is None:
        return Why(gettext_noop("rendez-vous supprimé depuis l'écriture du message"))
    if appt.state not in expected:
        if appt.state == AppointmentState.PRESENT:
            return Why(gettext_noop("patient déjà venu (rendez-vous marqué présent)"))
        label = AppointmentState(appt.state).label if appt.state in AppointmentState.values else appt.state
        return Why(gettext_noop("rendez-vous maintenant « %(state)s »"), state=label)
    if start is not None and appt.start != start:
        # The date as the merge writes it (the same in both languages), the time for the reader.
        local = appt.start.astimezone(practice_tz())
        return Why(gettext_noop("rendez-vous déplacé au %(date)s à %(time)s"), date=format_date(local.date()),
                   time=Clock(local))
    if now is not None and appt.start <= now:
        return Why(gettext_noop("le rendez-vous a déjà commencé"))
    return None


def regroup(message: Message, *, now: dt.datetime | None) -> Regrouped | None:
    """Read again every appointment ``message`` (one SMS listing several) stands for; take out
    those that no longer hold (cancelled, moved, deleted, started, confirmed by SMS, or reminded
    by another message meanwhile) and merge the SMS again for the others, in place, while it has
    not left (PENDING, or SENDING held by the dispatch's claim, before the gateway is called).
    None for a message that lists nothing.
    When none is left ``kept`` is empty: the caller cancels it. ``now``: the dispatch's clock
    (an appointment already started is taken out); None when an appointment is saved (the
    dispatch judges that at the last moment). A few queries, only for grouped messages."""
    from messaging.compose import compose_sms
    from messaging.purpose import earlier_messages
    from messaging.replies import CHASE, confirmed_reason

    from .checks import expected_states

    covers = list(
        CoveredAppointment.objects.filter(message_id=message.pk)
        .select_related("appointment__patient", "appointment__practitioner", "appointment__chair",
                        "appointment__nature")
        .order_by("appointment_start", "pk")
    )
    if not covers:
        return None
    track = getattr(message, "tracking", None)
    expected = expected_states(track) if track is not None else {AppointmentState.FUTURE.value}
    ids = [c.appointment_id for c in covers if c.appointment_id]
    earlier = earlier_messages(appointment_ids=ids, channel=message.channel, purpose=message.purpose, now=now)
    today = timezone.localdate(now) if now is not None else timezone.localdate()
    # A confirmation by SMS stops the chase of its appointment (messaging.replies.confirmed_check).
    chase = message.purpose in CHASE and not message.mailing.send_again
    result = Regrouped()
    gone: list[int] = []
    for c in covers:
        appt = c.appointment
        first = earlier.get(c.appointment_id) if appt is not None else None
        copy = None
        if (first is not None and first.message_id != message.pk and first.appointment_start == c.appointment_start
                and first.mailing_id != message.mailing_id):
            copy = first
        reason = _drop_reason(appt, c.appointment_start, expected, now)
        if not reason and copy is not None:
            reason = copy.text(message.purpose).without_period()
        if not reason and chase and appt.confirmed_at is not None:
            reason = confirmed_reason(appt.confirmed_at).without_period()
        if reason:
            result.dropped.append(Why(gettext_noop("%(who)s : %(reason)s"), who=appt.who, reason=reason)
                                  if appt is not None else reason)
            gone.append(c.pk)
            if appt is not None and appt.state == AppointmentState.FUTURE and appt.start != c.appointment_start:
                result.moved.append(appt)
        else:
            result.kept.append(appt)
    if not gone:
        return result
    result.changed = True
    if not result.kept:
        return result
    lead = result.kept[0]
    mailing = message.mailing
    composed = compose_sms(body=mailing.body_source, patient=lead.patient, appointment=lead,
                           recipient=_reader(message), appointments=result.kept if len(result.kept) > 1 else None,
                           today=today)
    # Still ours to change: PENDING, or held by this dispatch's claim (the last-moment checks run
    # once it is handed over, before it reaches the gateway: the gateway gets the new text).
    claim = {"status": MessageStatus.PENDING} if message.status == MessageStatus.PENDING else {
        "status": MessageStatus.SENDING, "claimed_by": message.claimed_by}
    # Staff read in the message's remark who was taken out and why (every time it happened).
    note = " ; ".join(result.dropped)
    note = f"{message.note} ; {note}" if message.note.startswith(DROPPED) else f"{DROPPED}{note}"
    with transaction.atomic():
        written = Message.objects.filter(pk=message.pk, **claim).update(
            body=composed.text, sms_parts=composed.segments.parts, appointment_id=lead.pk,
            appointment_start=lead.start, note=note[:500],
        )
        if not written:
            result.changed = False
            return result
        CoveredAppointment.objects.filter(pk__in=gone).delete()
        if len(result.kept) == 1:
            CoveredAppointment.objects.filter(message_id=message.pk).delete()
        if track is not None:
            type(track).objects.filter(pk=track.pk).update(appointment_start=lead.start)
            track.appointment_start = lead.start
    message.body, message.sms_parts, message.note = composed.text, composed.segments.parts, note[:500]
    message.appointment_id, message.appointment_start = lead.pk, lead.start
    message._state.fields_cache["appointment"] = lead
    return result


def _reader(message: Message):
    """The person the SMS is addressed to (the merge's @D* codes): unchanged by a regroup."""
    from messaging.policy import role_person

    if message.patient is None:
        return None
    try:
        return role_person(message.patient, message.recipient_role)[0]
    except ValueError:
        return message.patient


def _requeue(message: Message, moved: list[Appointment]) -> None:
    """A reminder with its new time for each appointment taken out because it moved, when it is
    still in the run's window (the same rule as a single reminder's)."""
    from .runner import reminder_requeue

    track = getattr(message, "tracking", None)
    if track is None or not track.run_id or not moved:
        return
    for appt in moved:
        try:
            with transaction.atomic():
                reminder_requeue(appointment=appt, runs=[track.run])
        except Exception:  # noqa: BLE001 - the regroup stands; the follow-up is logged
            logger.exception("Reminder of moved appointment %s not queued again", appt.pk)


def group_check(message: Message, now: dt.datetime):
    """The last-moment check of a message listing several appointments (registered with
    ``messaging.send_checks``, after the scheduler's own): merged again without those that no
    longer hold, cancelled when none is left. None for every other message (no query: the
    number of appointments it lists is read with it, ``group_size``)."""
    from messaging.send_checks import Verdict

    if message.channel != Channel.SMS or not getattr(message, "group_size", 0):
        return None
    found = regroup(message, now=now)
    if found is None or not found.changed:
        return None
    if not found.kept:
        return Verdict.cancel("stale", Why(gettext_noop("Aucun des rendez-vous de ce SMS ne tient plus : %(dropped)s"),
                                           dropped=joined(found.dropped, SEMICOLON)),
                              then=lambda: _requeue(message, found.moved))
    _requeue(message, found.moved)
    return None
