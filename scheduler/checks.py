"""Is a queued message still true? The re-check made at send time.

A reminder written at 07:00 about a 15:00 appointment must not leave at 08:00 (after the quiet
hours) if the appointment was moved, cancelled or marked present in between; a "missed
appointment" message must never reach a patient who came. ``send_check`` is registered with
``messaging.send_checks``: dispatch asks it about each message immediately before handing it to
the gateway, and cancels it with the reason (a reminder whose appointment moved inside the run's
window is queued again with the new time, even when the move was written without ``save()``).
The Appointment signals (``scheduler.signals``) cancel them as soon as the appointment is saved,
with ``stale_reasons``. Both use the same rules, here.

Also: ``check_time_zones``, a Django system check: the cron schedules are evaluated in the
cluster's time zone, which must be the practice's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from django.core import checks
from django.utils.translation import gettext, gettext_noop

from messaging.merge import practice_tz
from messaging.models import MailingOrigin, Message
from messaging.reasons import Why
from messaging.send_checks import Verdict, moment_params
from patients.models import Appointment, AppointmentState

from .models import TrackedMessage, TrackedPurpose, TreatmentKind

CANCELLED_STATES = {AppointmentState.CANCELLED, AppointmentState.POSTPONED, AppointmentState.EXCUSED}


def _state_label(value: str):
    return AppointmentState(value).label if value in AppointmentState.values else value


def _reason(track: TrackedMessage, appointment_id: int | None, appt: Appointment | None,
            came_after: set[int], booked_after: set[int]) -> Why | str:
    """Why the tracked message must not leave (a ``messaging.reasons.Why``), or ""."""
    purpose = track.purpose
    if purpose == TrackedPurpose.PATIENT or track.appointment_start is None:
        return ""
    if appt is None:
        return Why(gettext_noop("Le rendez-vous a été supprimé depuis l'écriture du message."))
    if purpose in (TrackedPurpose.REMINDER, TrackedPurpose.BOOKED, TrackedPurpose.MOVED):
        expected = expected_states(track)
        if appt.state not in expected:
            if appt.state == AppointmentState.PRESENT:
                return Why(gettext_noop("Le patient est déjà venu (rendez-vous marqué présent)."))
            return Why(gettext_noop("Le rendez-vous est maintenant « %(state)s »."), state=_state_label(appt.state))
        if appt.start != track.appointment_start:
            return Why(gettext_noop("Le rendez-vous a été déplacé au %(date)s à %(time)s."),
                       **moment_params(appt.start, practice_tz()))
        return ""
    if purpose == TrackedPurpose.MISSED:
        if appt.state != AppointmentState.MISSED:
            if appt.state == AppointmentState.PRESENT:
                return Why(gettext_noop("Le patient est venu : le rendez-vous n'est plus manqué."))
            return Why(gettext_noop("Le rendez-vous n'est plus marqué manqué (« %(state)s »)."),
                       state=_state_label(appt.state))
        criteria = (track.run.treatment.criteria or {}) if track.run_id else {}
        if criteria.get("exclude_came_since") and appt.pk in came_after:
            return Why(gettext_noop("Le patient est venu au cabinet depuis le rendez-vous manqué."))
        if criteria.get("exclude_with_next_appointment") and appt.pk in booked_after:
            return Why(gettext_noop("Le patient a pris un prochain rendez-vous."))
        return ""
    if purpose == TrackedPurpose.CANCELLED:
        if appt.state not in CANCELLED_STATES:
            return Why(gettext_noop("Le rendez-vous n'est plus annulé (« %(state)s »)."), state=_state_label(appt.state))
        return ""
    return ""


def expected_states(track: TrackedMessage) -> set[str]:
    """The appointment states a reminder or notice is still true for: "à venir", or the states
    its treatment searches."""
    expected = {AppointmentState.FUTURE.value}
    if track.run_id and track.run.treatment.kind == TreatmentKind.APPOINTMENTS:
        expected = set((track.run.treatment.criteria or {}).get("states") or expected)
    return expected


STARTED_REASON = Why(gettext_noop("Le rendez-vous a déjà commencé : rappel sans objet, non envoyé."))


TRACKED_ORIGINS = frozenset({MailingOrigin.TREATMENT, MailingOrigin.EVENT})  # see runner / events


def _may_be_tracked(message: Message) -> bool:
    mailing = message._state.fields_cache.get("mailing")
    return mailing is None or mailing.origin in TRACKED_ORIGINS


def stale_reasons(messages: Sequence[Message]) -> dict[int, str]:
    """{message id: why it must not leave} for those of ``messages`` that are no longer true.
    Messages the scheduler did not write are never named. Four queries whatever the number."""
    # Only the scheduler's mailings have tracked messages: a batch of a mass mailing (its
    # mailing loaded, as dispatch loads it) asks nothing.
    ids = [m.pk for m in messages if _may_be_tracked(m)]
    if not ids:
        return {}
    tracks = {
        t.message_id: t
        for t in TrackedMessage.objects.filter(message_id__in=ids).select_related("run__treatment")
    }
    if not tracks:
        return {}
    appt_of = {m.pk: m.appointment_id for m in messages if m.pk in tracks}
    appts = Appointment.objects.only("pk", "start", "state", "patient_id").in_bulk(
        {a for a in appt_of.values() if a}
    )
    missed = [appts[a] for mid, a in appt_of.items() if a in appts and tracks[mid].purpose == TrackedPurpose.MISSED]
    came_after, booked_after = _later_visits(missed)
    out: dict[int, str] = {}
    for mid, track in tracks.items():
        appointment_id = appt_of.get(mid)
        reason = _reason(track, appointment_id, appts.get(appointment_id), came_after, booked_after)
        if reason:
            out[mid] = reason
    return out


def _later_visits(missed: Sequence[Appointment]) -> tuple[set[int], set[int]]:
    """(missed appointments the patient came after, those followed by a booked one)."""
    came_after: set[int] = set()
    booked_after: set[int] = set()
    if not missed:
        return came_after, booked_after
    later = Appointment.objects.filter(
        patient_id__in={a.patient_id for a in missed},
        state__in=[AppointmentState.PRESENT, AppointmentState.FUTURE],
    ).values_list("patient_id", "state", "start")
    by_patient: dict[int, list[tuple[str, object]]] = {}
    for patient_id, state, start in later:
        by_patient.setdefault(patient_id, []).append((state, start))
    for a in missed:
        for state, start in by_patient.get(a.patient_id, []):
            if start > a.start:
                (came_after if state == AppointmentState.PRESENT else booked_after).add(a.pk)
    return came_after, booked_after


def send_check(message: Message, now) -> Verdict | None:
    """The last-moment check of one of the scheduler's messages (see module doc), read from the
    relations ``messaging.send_checks.load_batch`` loaded (``tracking__run__treatment``): no query
    but for a missed-appointment follow-up (later visits) and a re-queue."""
    if message.mailing.origin not in TRACKED_ORIGINS:
        return None
    try:
        track = message.tracking
    except TrackedMessage.DoesNotExist:
        return None
    if getattr(message, "group_size", 0):
        return None  # one SMS listing several appointments: scheduler.family.group_check
    appt = message.appointment
    came_after, booked_after = (
        _later_visits([appt]) if appt is not None and track.purpose == TrackedPurpose.MISSED else (set(), set())
    )
    reason = _reason(track, message.appointment_id, appt, came_after, booked_after)
    if not reason:
        if track.purpose == TrackedPurpose.REMINDER and appt is not None and appt.start <= now:
            # Held by the quiet hours past the appointment's start (booked late at night for
            # early the next morning): a reminder after the fact is no reminder.
            return Verdict.cancel("started", STARTED_REASON)
        return None
    then = None
    if (track.purpose == TrackedPurpose.REMINDER and track.run_id and appt is not None
            and appt.state == AppointmentState.FUTURE and appt.start != track.appointment_start):
        from .runner import reminder_requeue

        then = partial(reminder_requeue, appointment=appt, runs=[track.run])
    return Verdict.cancel("stale", reason, then=then)


def still_relevant(message: Message) -> tuple[bool, str]:
    """(True, "") when ``message`` may leave; (False, reason) when it must be cancelled."""
    reason = stale_reasons([message]).get(message.pk, "")
    return (not reason, reason)


@checks.register(checks.Tags.database)
def check_time_zones(app_configs=None, **kwargs):
    """Run by ``manage.py check --database default`` (and shown on the programmeur page)."""
    from django.db import DatabaseError

    try:
        problem = time_zone_problem()
    except DatabaseError:
        return []
    if problem:
        return [checks.Warning(problem, hint=gettext("Réglez TIME_ZONE sur le fuseau du cabinet."), id="scheduler.W001")]
    return []


def time_zone_problem() -> str:
    """A sentence when the cluster's time zone is not the practice's, else "" (active language: the
    page's user on the programmeur page, LANGUAGE_CODE for ``manage.py check``)."""
    from django.conf import settings

    from practice.models import Practice

    practice_tz = Practice.get().time_zone
    cluster_tz = settings.Q_CLUSTER.get("time_zone") or settings.TIME_ZONE
    if practice_tz and practice_tz != cluster_tz:
        return gettext(
            "Le cabinet est réglé sur le fuseau %(practice)s mais le programmeur sur %(cluster)s : "
            "les traitements ne partiraient pas à l'heure locale du cabinet."
        ) % {"practice": practice_tz, "cluster": cluster_tz}
    return ""
