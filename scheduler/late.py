"""Late bookings and moves into a treatment's window: the reminder is caught up.

The J+1 reminder runs at 18h00 for tomorrow's appointments; an appointment booked at 19h00 for
tomorrow (or moved into tomorrow) was not there when the run searched. It still gets its
reminder, from that run (``catch_up``):

* at once when the practice's decent hours allow (dispatch holds an SMS written during the
  quiet hours until their end, as every other SMS);
* never after the appointment has started: an appointment that starts before the quiet hours
  end gets none (the run's trace says why), and a reminder still held when the appointment
  starts is cancelled at the last moment (``scheduler.checks.send_check``);
* only once: the purpose rule (``messaging.purpose``) sees the run's own reminder, a re-queued
  one, a family's SMS or a mass mailing about the same appointment and time, and the mailing's
  idempotency key (``...:rattrapage:rdv<id>@<start>``) makes a second catch-up impossible.

The run is the latest one DONE whose window holds the appointment's day, of each active
treatment searching appointments, and the appointment must match that treatment's criteria
(practitioners, natures, states...), searched with the same function as the run. The message is
linked to that run (``TrackedMessage.catch_up`` says why it was written late): Tester and the
run's trace show it.

Two ways in: ``scheduler.signals`` when an appointment is saved (booked, moved, or back to "à
venir"), and ``sweep`` every minute (``scheduler.tasks.heartbeat``) for appointments written
without ``save()`` (an import, ``bulk_create``) since the run.

What a catch-up writes (why, on the message; a left-out appointment, in the run's trace) is in the
practice's language, as the run's own texts, even when a page's save triggered it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from messaging.models import Channel, MailingOrigin, Message, Purpose
from messaging.policy import audience
from messaging.purpose import copy_of, earlier_messages
from messaging.send_checks import quiet_until
from patients.models import Appointment, AppointmentState
from patients.selectors import appointment_search
from practice.i18n import practice_speaking
from practice.models import Practice

from .formats import clock, moment_label
from .models import RunStatus, TrackedMessage, TrackedPurpose, Treatment, TreatmentKind, TreatmentRun

logger = logging.getLogger(__name__)

BOOKED, MOVED, REOPENED = "booked", "moved", "reopened"


def _hhmm(moment: dt.datetime, tz) -> str:
    """ "09/12 à 19h02" / "09/12 at 19:02"."""
    local = moment.astimezone(tz)
    return gettext("%(date)s à %(time)s") % {"date": f"{local:%d/%m}", "time": clock(local)}


def catch_up_reason(*, why: str, appointment: Appointment, run: TreatmentRun, at: dt.datetime, tz) -> str:
    """ "Rendez-vous pris le 09/12 à 19h02, après l'exécution du 09/12 à 18h00." (active language)"""
    if run.started_at:
        after = gettext("après l'exécution du %(moment)s") % {"moment": _hhmm(run.started_at, tz)}
    else:
        after = gettext("après l'exécution")
    values = {"at": _hhmm(at, tz), "after": after, "start": moment_label(appointment.start, tz)}
    if why == MOVED:
        return gettext("Rendez-vous déplacé au %(start)s le %(at)s, %(after)s.") % values
    if why == REOPENED:
        return gettext("Rendez-vous de nouveau « à venir » le %(at)s, %(after)s.") % values
    return gettext("Rendez-vous pris le %(at)s, %(after)s.") % values


def _too_early(opening: dt.datetime, tz) -> str:
    return gettext("Il commence avant la fin des heures de silence (%(time)s) : pas de rappel.") % {
        "time": clock(opening, tz)}


def _runs_holding(day: dt.date) -> list[TreatmentRun]:
    """The latest DONE run, per active treatment searching appointments to remind, whose window
    holds ``day`` (one query)."""
    runs = (
        TreatmentRun.objects.filter(
            treatment__active=True, treatment__kind=TreatmentKind.APPOINTMENTS, status=RunStatus.DONE,
            window_start__lte=day, window_end__gte=day,
        )
        .filter(Q(treatment__send_sms=True) | Q(treatment__send_email=True) | Q(treatment__email_when_no_mobile=True))
        .select_related("treatment", "treatment__sms_template", "treatment__email_template",
                        "treatment__email_template__account")
        .order_by("treatment_id", "-run_date")
    )
    latest: dict[int, TreatmentRun] = {}
    for run in runs:
        latest.setdefault(run.treatment_id, run)
    return list(latest.values())


def _matches(treatment: Treatment, run: TreatmentRun, appointment: Appointment) -> bool:
    """Whether the run's own search would have found ``appointment`` (its criteria, its window)."""
    from .runner import appointment_criteria

    criteria = appointment_criteria(treatment, run.window)
    criteria = dataclasses.replace(criteria, exclude_with_next_appointment=False, exclude_came_since=False)
    return appointment_search(criteria=criteria).filter(pk=appointment.pk).exists()


@practice_speaking
def catch_up(*, appointment: Appointment, why: str, now: dt.datetime | None = None) -> list:
    """Queue the reminder ``appointment`` missed because it was booked or moved (``why``) into
    the window of a run already done; returns the mailings written. Nothing when it is not
    "à venir", has started, has no patient file, already had its reminder for this time, or
    matches no such run. An appointment starting before the quiet hours end is recorded in the
    run's trace as left out, with the reason."""
    from messaging.outbox import mailing_create

    from .runner import Batch, LeftOut, channel_plan, mailing_key, message_purpose, track_mailing
    from .services import practice_tz

    now = now or timezone.now()
    if appointment.patient_id is None or appointment.state != AppointmentState.FUTURE or appointment.start <= now:
        return []
    tz = practice_tz()
    runs = _runs_holding(appointment.start.astimezone(tz).date())
    if not runs:
        return []
    appointment = Appointment.objects.select_related(
        "patient", "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian",
        "practitioner", "chair", "nature",
    ).get(pk=appointment.pk)
    practice = Practice.get()
    # Read fresh, not from the practice's 60-second cache (the dispatch reads them so too).
    quiet_start, quiet_end = Practice.objects.filter(pk=practice.pk).values_list("quiet_start", "quiet_end").first()
    mailings = []
    stamp = appointment.start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M")
    for run in runs:
        treatment = run.treatment
        if run.started_at is not None and appointment.created_at < run.started_at and why == BOOKED:
            continue  # there when the run searched: the run decided about it
        if not _matches(treatment, run, appointment):
            continue
        found = audience(appointment.patient, plan=channel_plan(treatment, practice), appointment=appointment)
        batches = [
            Batch(Channel.SMS, "sms", treatment.sms_template, found.sms),
            Batch(Channel.EMAIL, "email", treatment.email_template, found.email),
            Batch(Channel.EMAIL, "email-sans-portable", treatment.email_template, found.email_no_mobile),
        ]
        purpose = message_purpose(treatment.kind)
        reason = catch_up_reason(why=why, appointment=appointment, run=run, at=now, tz=tz)
        for batch in batches:
            if not batch.recipients or batch.template is None:
                continue
            earlier = earlier_messages(appointment_ids=[appointment.pk], channel=batch.channel, purpose=purpose,
                                       now=now)
            if copy_of(earlier, appointment) is not None:
                continue  # reminded already for this time (the run, a re-queue, a mass mailing)
            key = mailing_key(treatment.pk, run.run_date, f"{batch.key}:rattrapage:rdv{appointment.pk}@{stamp}")
            opening = quiet_until(now, start=quiet_start, end=quiet_end, tz=tz)
            if batch.channel == Channel.SMS and opening is not None and opening >= appointment.start:
                _leave_out(run, appointment, f"{reason} {_too_early(opening, tz)}", LeftOut,
                           tail=_too_early(opening, tz))
                continue
            mailing = mailing_create(
                channel=batch.channel,
                origin=MailingOrigin.TREATMENT,
                requested_by=None,
                recipients=batch.recipients,
                template=batch.template,
                idempotency_key=key,
                label=gettext("%(title)s – rattrapage") % {"title": treatment.title},
                today=run.run_date,
                purpose=purpose,
            )
            run.mailings.add(mailing)
            track_mailing(mailing=mailing, purpose=TrackedPurpose.REMINDER, run=run)
            TrackedMessage.objects.filter(message__mailing=mailing, catch_up="").update(catch_up=reason[:255])
            mailings.append(mailing)
    return mailings


def _leave_out(run: TreatmentRun, appointment: Appointment, reason: str, left_out_class, *, tail: str) -> None:
    """Record in the run's trace an appointment caught up too late to be reminded (once: an entry
    for it ending with ``tail`` is there already)."""
    from .runner import Target

    name = Target(appointment.patient, appointment).label
    with transaction.atomic():
        locked = TreatmentRun.objects.select_for_update().get(pk=run.pk)
        entries = list(locked.left_out or [])
        if any(e.get("name") == name and e.get("reason", "").endswith(tail) for e in entries):
            return
        entries.append(dataclasses.asdict(left_out_class(name, reason)))
        TreatmentRun.objects.filter(pk=run.pk).update(left_out=entries)
        run.left_out = entries


def sweep(*, now: dt.datetime | None = None) -> int:
    """Catch up the appointments written without ``save()`` (no signal: an import, a
    ``bulk_create``) into the window of a run since it ran, and those saved into it while it
    was running (their signal found no finished run). Returns how many mailings were
    written. Called every minute; a query per active run, a few per appointment caught up."""
    from .services import practice_tz

    now = now or timezone.now()
    today = now.astimezone(practice_tz()).date()
    runs = (
        TreatmentRun.objects.filter(treatment__active=True, treatment__kind=TreatmentKind.APPOINTMENTS,
                                    status=RunStatus.DONE, window_end__gte=today, started_at__isnull=False)
        .select_related("treatment")
    )
    written = 0
    seen: set[int] = set()
    for run in runs:
        # Booked since the run started, or saved since (moved in while the run was still
        # running: its search had read the old day, and the save's signal found no finished run).
        fresh = Appointment.objects.filter(
            Q(created_at__gt=run.started_at) | Q(updated_at__gt=run.started_at),
            state=AppointmentState.FUTURE, patient__isnull=False, start__gt=now,
            start__gte=run.window.bounds(practice_tz())[0], start__lt=run.window.bounds(practice_tz())[1],
        ).exclude(messages__purpose=Purpose.REMINDER).exclude(pk__in=seen)
        for appointment in fresh:
            seen.add(appointment.pk)
            why = BOOKED if appointment.created_at > run.started_at else MOVED
            try:
                with transaction.atomic():
                    written += len(catch_up(appointment=appointment, why=why, now=now))
            except Exception:  # noqa: BLE001 - one appointment must not stop the others
                logger.exception("Catch-up reminder of appointment %s failed", appointment.pk)
    return written


def catch_up_messages(run: TreatmentRun):
    """The catch-up reminders of ``run`` (written after it, with their reason): for Tester."""
    return (
        Message.objects.filter(tracking__run=run).exclude(tracking__catch_up="")
        .select_related("tracking", "patient", "appointment").order_by("created_at", "pk")
    )
