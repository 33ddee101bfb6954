"""Last-moment checks: is this message still true and still wanted, right now?

Dispatch calls ``verdict_for`` for EVERY message immediately before handing it to a gateway
(not when its batch was claimed: a batch can take minutes to send), whatever the route that
wrote it (single send, resend, mass mailing, campaign, treatment, event message, retry). The
message is read again with what the checks need in ONE query (``load``): its appointment, the
patient and guardians (consent, STOP), the account (paused?) and the practice's quiet hours, all
as they are now: a practice changing its quiet hours, a patient replying STOP, an appointment
moved by a plain ``QuerySet.update`` are all seen by the next message.

A check is a callable ``check(message, now) -> Verdict | None``: cancel the message (with a
reason code and a French reason), make it wait until a time, or None to let it go. Apps
register their own with ``register`` (the scheduler: its reminders, follow-ups and notices),
naming the relations they read so ``load`` joins them too.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Subquery

from messaging.models import Channel, MailingOrigin, Message, RecipientRole

CANCEL, DEFER, FAIL = "cancel", "defer", "fail"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a message instead of sending it now.

    ``action``: CANCEL (no longer true or wanted), DEFER (wait until ``until``) or FAIL (it can
    never leave as it is). ``code`` is a stable code (stored in ``error_code``), ``reason`` the
    French text staff read. ``then`` runs once the cancel is recorded (the scheduler queues the
    reminder of a moved appointment again, with its new time)."""

    action: str
    code: str
    reason: str
    until: dt.datetime | None = None
    then: Callable[[], object] | None = None

    @classmethod
    def cancel(cls, code: str, reason: str, then: Callable[[], object] | None = None) -> Verdict:
        return cls(CANCEL, code, reason, then=then)

    @classmethod
    def defer(cls, code: str, reason: str, until: dt.datetime) -> Verdict:
        return cls(DEFER, code, reason, until=until)

    @classmethod
    def fail(cls, code: str, reason: str) -> Verdict:
        return cls(FAIL, code, reason)


Check = Callable[[Message, dt.datetime], "Verdict | None"]

# The relations the checks read, joined by ``load``.
RELATED: set[str] = {"mailing", "account", "appointment", "patient__civil_guardian", "patient__financial_guardian"}
# Values the checks read computed by the database in the same query: name -> a callable
# returning the expression (built at each load: it may depend on settings read then).
ANNOTATIONS: dict[str, Callable[[], object]] = {}
CHECKS: list[Check] = []


def register(check: Check, *, related: tuple[str, ...] = (), annotations: dict | None = None) -> None:
    """Add ``check`` (idempotent), the relations it reads and the values it has the database
    compute (``annotations``: name -> callable returning an expression) with the message."""
    if check not in CHECKS:
        CHECKS.append(check)
    RELATED.update(related)
    ANNOTATIONS.update(annotations or {})


def load(message_id: int) -> Message | None:
    """The message as it is now, with everything the checks read, in one query (None when the
    row is gone). The practice's quiet hours, time zone and SMS sender ride along as
    ``practice_*`` attributes: never from a cache, so a change applies to the next message."""
    from practice.models import Practice

    practice = Practice.objects.filter(pk=1)
    return (
        Message.objects.select_related(*sorted(RELATED))
        .annotate(
            practice_quiet_start=Subquery(practice.values("quiet_start")[:1]),
            practice_quiet_end=Subquery(practice.values("quiet_end")[:1]),
            practice_time_zone=Subquery(practice.values("time_zone")[:1]),
            practice_sms_sender=Subquery(practice.values("sms_sender_name")[:1]),
            **{name: build() for name, build in ANNOTATIONS.items()},
        )
        .filter(pk=message_id)
        .first()
    )


def verdict_for(message: Message, now: dt.datetime) -> Verdict | None:
    """The first reason not to send ``message`` now: a cancel or failure wins over a wait (a
    cancelled appointment's reminder held by quiet hours is cancelled, not held)."""
    wait: Verdict | None = None
    for check in CHECKS:
        verdict = check(message, now)
        if verdict is None:
            continue
        if verdict.action != DEFER:
            return verdict
        wait = wait or verdict
    return wait


# ---------------------------------------------------------------------------------------------
# Built-in checks
# ---------------------------------------------------------------------------------------------

APPOINTMENT_CHANGED_REASON = (
    "Le rendez-vous a été déplacé / annulé après la préparation du message : message non envoyé."
)
# Mailings whose messages the scheduler judges itself (scheduler.checks knows each one's
# purpose: a "cancelled appointment" notice is about a cancelled appointment).
SCHEDULER_ORIGINS = (MailingOrigin.TREATMENT, MailingOrigin.EVENT)


def appointment_check(message: Message, now: dt.datetime) -> Verdict | None:
    """A message written about an appointment that has since moved (another start than the one
    snapshotted in ``appointment_start``), been cancelled or postponed, or deleted: its text
    quotes the old appointment. A present, missed or excused appointment keeps its messages (a
    missed-appointment follow-up is about a missed one). The scheduler's own are judged by it."""
    from patients.models import AppointmentState

    if message.appointment_start is None or message.mailing.origin in SCHEDULER_ORIGINS:
        return None
    appt = message.appointment
    if appt is None:  # deleted since (the foreign key was set to NULL)
        return Verdict.cancel("stale", APPOINTMENT_CHANGED_REASON)
    if appt.state in (AppointmentState.PRESENT, AppointmentState.MISSED, AppointmentState.EXCUSED):
        return None
    if appt.state in (AppointmentState.CANCELLED, AppointmentState.POSTPONED):
        return Verdict.cancel("stale", APPOINTMENT_CHANGED_REASON)
    if appt.start != message.appointment_start:
        return Verdict.cancel("stale", APPOINTMENT_CHANGED_REASON)
    return None


def consent_refusal(message: Message):
    """The policy's Reason (messaging.policy.consent_reason: consent withdrawn, STOP replied)
    why ``message``'s recipient must not receive it on its channel now, else None. The person
    is the one holding the message's role for its patient, as their file stands now."""
    from messaging.policy import consent_reason, role_person

    if message.patient is None or message.recipient_role not in (
        RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN
    ):
        return None
    person, _ = role_person(message.patient, message.recipient_role)
    return consent_reason(person, message.channel)


def consent_check(message: Message, now: dt.datetime) -> Verdict | None:
    reason = consent_refusal(message)
    if reason is None:
        return None
    return Verdict.cancel(reason.value, f"{reason.label} Message non envoyé.")


def practice_tz(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def quiet_until(moment: dt.datetime, *, start: dt.time, end: dt.time, tz: dt.tzinfo) -> dt.datetime | None:
    """When SMS may leave again if ``moment`` falls in the quiet hours [start, end) (local time,
    the window may cross midnight), else None. Computed on the local calendar, so a DST night
    still opens at ``end`` local time."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(tz)
    t = local.time()
    if start > end:  # e.g. 20:00 -> 08:00
        if t >= start:
            opening = local.date() + dt.timedelta(days=1)
        elif t < end:
            opening = local.date()
        else:
            return None
    else:  # e.g. 12:00 -> 14:00
        if not (start <= t < end):
            return None
        opening = local.date()
    return dt.datetime.combine(opening, end).replace(tzinfo=tz)


def fmt_moment(moment: dt.datetime, tz: dt.tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%d/%m/%Y} à {local:%H}h{local:%M}"


def quiet_reason(until: dt.datetime, tz: dt.tzinfo) -> str:
    return f"Heures de silence du cabinet : envoi prévu le {fmt_moment(until, tz)}."


def quiet_hours_check(message: Message, now: dt.datetime) -> Verdict | None:
    """An SMS inside the practice's quiet hours, as they are set now, waits for their end."""
    from messaging.lifecycle import WaitReason

    if message.channel != Channel.SMS:
        return None
    tz = practice_tz(getattr(message, "practice_time_zone", None))
    until = quiet_until(now, start=getattr(message, "practice_quiet_start", None),
                        end=getattr(message, "practice_quiet_end", None), tz=tz)
    if until is None:
        return None
    return Verdict.defer(WaitReason.QUIET, quiet_reason(until, tz), until)


def paused_reason(account, until: dt.datetime) -> str:
    local = until.astimezone(practice_tz(None))
    return (
        f"Compte email « {account.name} » injoignable : envoi en pause, nouvel essai à "
        f"{local:%H}h{local:%M} (aucune tentative n'est perdue)."
    )


def account_check(message: Message, now: dt.datetime) -> Verdict | None:
    """An email needs an account, one that is not paused (unreachable) now."""
    from messaging.lifecycle import WaitReason

    if message.channel != Channel.EMAIL:
        return None
    account = message.account
    if account is None:
        return Verdict.fail("no-account", "Aucun compte email d'envoi.")
    if account.probe_at is not None and account.probe_at > now:
        return Verdict.defer(WaitReason.PAUSED, paused_reason(account, account.probe_at), account.probe_at)
    return None


def channel_check(message: Message, now: dt.datetime) -> Verdict | None:
    if message.channel not in (Channel.SMS, Channel.EMAIL):
        return Verdict.fail("channel", "Canal non pris en charge par l'envoi automatique.")
    return None


for _check in (channel_check, appointment_check, consent_check, account_check, quiet_hours_check):
    register(_check)
