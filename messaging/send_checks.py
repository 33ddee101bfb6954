"""Last-moment checks: is this message still true and still wanted, right now?

Dispatch calls ``verdict_for`` for EVERY message immediately before handing it to a gateway
(not when its batch was claimed: a batch can take minutes to send), whatever the route that
wrote it (single send, resend, mass mailing, campaign, treatment, event message, retry). The
message's batch is claimed with what the checks read (``load_batch``), and just before each
message leaves, what may have changed is read again in ONE query (``Refresher``, in the round trip
that hands the message over): its appointment,
the patient and guardians (consent, STOP), the account (paused?) and the practice's quiet hours,
all as they are now: a practice changing its quiet hours, a patient replying STOP, an appointment
moved by a plain ``QuerySet.update`` are all seen by the next message.

A check is a callable ``check(message, now) -> Verdict | None``: cancel the message (with a
reason code and a reason, a ``messaging.reasons.Why``), make it wait until a time, or None to let it go. Apps
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
from django.utils.dateparse import parse_datetime, parse_time
from django.utils.translation import gettext_noop

from messaging.models import Channel, MailingOrigin, Message, RecipientRole
from messaging.reasons import Clock, Why
from practice.bulk import Read

CANCEL, DEFER, FAIL = "cancel", "defer", "fail"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a message instead of sending it now.

    ``action``: CANCEL (no longer true or wanted), DEFER (wait until ``until``) or FAIL (it can
    never leave as it is). ``code`` is a stable code (stored in ``error_code``), ``reason`` what staff read
    (a ``messaging.reasons.Why``, shown in the reader's language; it is the French text). ``then`` runs once the cancel is recorded (the scheduler queues the
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

# The relations the checks read, joined by ``load_batch``.
RELATED: set[str] = {"mailing", "account", "appointment", "patient__civil_guardian", "patient__financial_guardian"}
# Values the checks read computed by the database in the same query: name -> a callable
# returning the expression (built once per dispatch run: it may depend on settings read then).
ANNOTATIONS: dict[str, Callable[[], object]] = {}
# For which messages each of them is read (name -> predicate on the loaded message; by default
# for every message): the others get None without the database computing it.
ANNOTATED_WHEN: dict[str, Callable[[Message], bool]] = {}
CHECKS: list[Check] = []


def register(check: Check, *, related: tuple[str, ...] = (), annotations: dict | None = None,
             annotate_when: Callable[[Message], bool] | None = None) -> None:
    """Add ``check`` (idempotent), the relations it reads and the values it has the database
    compute (``annotations``: name -> callable returning an expression) with the message, for
    the messages ``annotate_when`` accepts (all by default; the others get None)."""
    if check not in CHECKS:
        CHECKS.append(check)
    RELATED.update(related)
    ANNOTATIONS.update(annotations or {})
    if annotate_when is not None:
        ANNOTATED_WHEN.update(dict.fromkeys(annotations or {}, annotate_when))


def load_batch(queryset, *, shared: tuple[str, ...] = ()):
    """``queryset`` of messages with every relation the checks read loaded (but those in
    ``shared``, which the caller attaches itself): dispatch claims its batch with it. What may
    change before each message leaves is read again by ``Refresher``.

    Foreign keys are joined (``select_related``, one query); a relation reached through a
    reverse one-to-one (the scheduler's ``tracking__run__treatment``) is fetched by
    ``prefetch_related`` instead (one more query per batch, two more when some messages have
    one), cached the same way (None when the message has none): with its three tables in the
    join, PostgreSQL took six times as long to plan the claim of every batch (6.4 against 1.0
    ms, docs/performance.md)."""
    wanted = sorted(RELATED - set(shared))
    fetched = [path for path in wanted if _through_reverse(path)]
    joined = [path for path in wanted if path not in fetched]
    return queryset.select_related(*joined).prefetch_related(*fetched)


def _through_reverse(path: str) -> bool:
    """Whether the relation ``path`` (from Message) crosses a reverse relation."""
    model = Message
    for name in path.split("__"):
        field = model._meta.get_field(name)
        if field.auto_created and not field.concrete:
            return True
        model = field.related_model
    return False


def _as_datetime(value):
    """An aware datetime from a raw row: PostgreSQL gives one, SQLite a naive one or its ISO
    text, in UTC."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _as_time(value):
    if value is None or isinstance(value, dt.time):
        return value
    return parse_time(str(value))


class Refresher:
    """Reads again, immediately before a message leaves, everything about it that may have
    changed since its batch was loaded: its own state, its appointment, the consents and mobile
    of the patient and of the guardian it is addressed to, its account's pause, the practice's
    quiet hours for an SMS (never from a cache: a change applies to the next message), and what
    registered checks have the database compute. Only what applies to the message is joined (an
    email has no quiet hours; a message to the patient does not read the guardians). ONE query per
    message, read in the same round trip as its hand-over (``lifecycle.hand_over_next``) and
    compiled once per run and shape (``practice.bulk.Together``: Django compiling the same query
    for each message cost more than running it)."""

    _PERSON = ("sms_consent", "email_consent", "mobile")
    _APPOINTMENT = ("appointment__id", "appointment__start", "appointment__state")
    _GUARDIAN = {RecipientRole.CIVIL_GUARDIAN: "civil_guardian", RecipientRole.FINANCIAL_GUARDIAN: "financial_guardian"}
    PRACTICE = ("quiet_start", "quiet_end", "time_zone", "sms_sender_name")

    def __init__(self):
        from practice.models import Practice

        practice = Practice.objects.filter(pk=1)
        self.annotations = {f"practice_{f}": Subquery(practice.values(f)[:1]) for f in self.PRACTICE}
        # What registered checks have the database compute with the message (ANNOTATIONS), built
        # once per run (an expression may count a period back from now).
        self.extra = {name: build() for name, build in ANNOTATIONS.items()}

    def shape(self, m: Message) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
        """What to read for ``m``: its fields, whether the practice's (SMS), which annotations."""
        fields = ["status", "claimed_by"]
        if m.appointment_id:
            fields += self._APPOINTMENT
        if m.channel == Channel.EMAIL and m.account_id:
            fields.append("account__probe_at")
        if m.patient_id:
            fields += (f"patient__{f}" for f in self._PERSON)
            guardian = self._GUARDIAN.get(m.recipient_role)
            if guardian and getattr(m.patient, f"{guardian}_id"):
                fields += (f"patient__{guardian}__{f}" for f in self._PERSON)
        extra = tuple(name for name in self.extra if ANNOTATED_WHEN.get(name, bool)(m))
        return tuple(fields), m.channel == Channel.SMS, extra

    def _query(self, *, pk: int, shape: tuple):
        fields, practice, extra = shape
        annotations = {**(self.annotations if practice else {}), **{name: self.extra[name] for name in extra}}
        return Message.objects.filter(pk=pk).annotate(**annotations).order_by().values_list(*fields, *annotations)

    def read(self, m: Message) -> Read:
        """The read of ``m`` (a ``practice.bulk.Read``): give its row to ``apply``."""
        return (self._query, {"pk": m.pk, "shape": self.shape(m)})

    def refresh(self, m: Message) -> bool:
        """Read ``m`` again on its own (no hand-over with it) and ``apply`` it."""
        build, values = self.read(m)
        rows = list(build(**values)[:1])
        return self.apply(m, tuple(rows[0]) if rows else None)

    def apply(self, m: Message, row: tuple | None, read: Read | None = None) -> bool:
        """Update ``m`` (and its loaded relations) in memory from ``row`` (what ``read``, its
        ``read(m)``, gave; the shape it read is not computed again); False when the row is
        gone."""
        if row is None:
            return False
        fields, practice, extra = read[1]["shape"] if read is not None else self.shape(m)
        names = (*fields, *(self.annotations if practice else ()), *extra)
        values = dict(zip(names, row, strict=True))
        for name in self.extra:
            setattr(m, name, values.get(name))
        m.status, m.claimed_by = values["status"], values["claimed_by"]
        appointment = m._state.fields_cache.get("appointment")
        if "appointment__id" in values:
            if values["appointment__id"] is None:  # deleted since
                m._state.fields_cache["appointment"] = None
            elif appointment is not None:
                appointment.start = _as_datetime(values["appointment__start"])
                appointment.state = values["appointment__state"]
        if "account__probe_at" in values:
            m.account.probe_at = _as_datetime(values["account__probe_at"])
        for path in ("", *(f"__{guardian}" for guardian in self._GUARDIAN.values())):
            if f"patient{path}__mobile" not in values:  # not read for this message
                continue
            person = m.patient if not path else getattr(m.patient, path[2:])
            for f in self._PERSON:
                value = values[f"patient{path}__{f}"]
                setattr(person, f, bool(value) if f.endswith("consent") else value)
        if practice:
            m.practice_quiet_start = _as_time(values["practice_quiet_start"])
            m.practice_quiet_end = _as_time(values["practice_quiet_end"])
            m.practice_time_zone = values["practice_time_zone"]
            m.practice_sms_sender = values["practice_sms_sender_name"]
        return True


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

APPOINTMENT_CHANGED_REASON = Why(gettext_noop(
    "Le rendez-vous a été déplacé / annulé après la préparation du message : message non envoyé."
))
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
    is the one holding the message's role for its patient, as their file stands now; an SMS to a
    number their file no longer holds is refused too (``Reason.NUMBER_CHANGED``)."""
    from messaging.policy import (
        Reason,
        consent_reason,
        correspondent_consent_reason,
        number_stop_reason,
        role_person,
    )

    if message.patient is not None and message.recipient_role == RecipientRole.CORRESPONDENT:
        return correspondent_consent_reason(message.patient, message.channel, message.to)
    if message.patient is None or message.recipient_role not in (
        RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN
    ):
        # A number typed or pasted (a campaign's list, a test SMS): no person's consent flag
        # holds its STOP, the reply itself does.
        return number_stop_reason(message.to) if message.channel == Channel.SMS else None
    person, _ = role_person(message.patient, message.recipient_role)
    reason = consent_reason(person, message.channel)
    if reason is None and message.channel == Channel.SMS and person is not None and message.to != str(person.mobile or ""):
        # Written to a number the file no longer holds: it may be someone else's now, so it
        # does not leave; that number's own STOP, the only record of its refusal (no consent
        # flag changed), is named first. One query, only in that case.
        return number_stop_reason(message.to) or Reason.NUMBER_CHANGED
    return reason


def consent_check(message: Message, now: dt.datetime) -> Verdict | None:
    reason = consent_refusal(message)
    if reason is None:
        return None
    return Verdict.cancel(reason.value, Why(gettext_noop("%(reason)s Message non envoyé."), reason=reason.label))


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


def moment_params(moment: dt.datetime, tz: dt.tzinfo) -> dict:
    """``date`` and ``time`` of ``moment`` in the practice's time zone, for a reason ("le
    %(date)s à %(time)s"): the date reads the same in both languages, the time follows the
    reader's (``messaging.reasons.Clock``)."""
    local = moment.astimezone(tz)
    return {"date": f"{local:%d/%m/%Y}", "time": Clock(local)}


def quiet_reason(until: dt.datetime, tz: dt.tzinfo) -> Why:
    return Why(gettext_noop("Heures de silence du cabinet : envoi prévu le %(date)s à %(time)s."),
               **moment_params(until, tz))


def released_now(message: Message) -> bool:
    """Staff chose to send ``message`` now (``lifecycle.send_now``) and this is still the attempt
    they asked for: due at the moment they clicked. A retry after a transient error (or a wait
    for a paused account) is due later, at a time nobody chose, and is held by the quiet hours
    like any other SMS; who asked stays recorded."""
    return (message.send_now_at is not None and message.not_before is not None
            and message.not_before <= message.send_now_at)


def quiet_hours_check(message: Message, now: dt.datetime) -> Verdict | None:
    """An SMS inside the practice's quiet hours, as they are set now, waits for their end,
    unless staff chose to send it now (``released_now``)."""
    from messaging.lifecycle import WaitReason

    if message.channel != Channel.SMS or released_now(message):
        return None
    tz = practice_tz(getattr(message, "practice_time_zone", None))
    until = quiet_until(now, start=getattr(message, "practice_quiet_start", None),
                        end=getattr(message, "practice_quiet_end", None), tz=tz)
    if until is None:
        return None
    return Verdict.defer(WaitReason.QUIET, quiet_reason(until, tz), until)


def paused_reason(account, until: dt.datetime) -> Why:
    return Why(gettext_noop("Compte email « %(account)s » injoignable : envoi en pause, nouvel essai à %(time)s "
                            "(aucune tentative n'est perdue)."),
               account=account.name, time=Clock(until.astimezone(practice_tz(None))))


def account_check(message: Message, now: dt.datetime) -> Verdict | None:
    """An email needs an account, one that is not paused (unreachable) now."""
    from messaging.lifecycle import WaitReason

    if message.channel != Channel.EMAIL:
        return None
    account = message.account
    if account is None:
        return Verdict.fail("no-account", Why(gettext_noop("Aucun compte email d'envoi.")))
    if account.probe_at is not None and account.probe_at > now:
        return Verdict.defer(WaitReason.PAUSED, paused_reason(account, account.probe_at), account.probe_at)
    return None


def channel_check(message: Message, now: dt.datetime) -> Verdict | None:
    if message.channel not in (Channel.SMS, Channel.EMAIL):
        return Verdict.fail("channel", Why(gettext_noop("Canal non pris en charge par l'envoi automatique.")))
    return None


for _check in (channel_check, appointment_check, consent_check, account_check, quiet_hours_check):
    register(_check)
