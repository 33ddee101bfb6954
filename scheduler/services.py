"""Writes of the programmeur: treatments and their django-q2 schedule, event settings.

Each active treatment has exactly one ``django_q.models.Schedule`` of type CRON (``m h dom * dow``
in the cluster's time zone, ``Q_CLUSTER["time_zone"]``, which is the practice's: a system check
warns when they differ). croniter computes each next run on the local wall clock, so a treatment
set at 07:00 runs at 07:00 on both daylight-saving days. The cron only narrows the days; the task
checks the full rule (start date, public holidays, "the 31st in a 30-day month") with
``Treatment.runs_on`` before doing anything.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from practice.models import Practice

from .models import Heartbeat, Treatment
from .windows import Periodicity, next_run_at

RUN_TASK = "scheduler.tasks.run_treatment"
HEARTBEAT_TASK = "scheduler.tasks.heartbeat"
HEARTBEAT_NAME = "programmeur-battement"


def practice_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(Practice.get().time_zone or settings.TIME_ZONE)


def cluster_tz_name() -> str:
    return settings.Q_CLUSTER.get("time_zone") or settings.TIME_ZONE


def cron_for(treatment: Treatment) -> str:
    """The cron expression of ``treatment``: its hour, on the days its periodicity may run."""
    minute, hour = treatment.hour.minute, treatment.hour.hour
    dom, dow = "*", "*"
    if treatment.periodicity == Periodicity.WORKING_DAYS:
        dow = "1-5"
    elif treatment.periodicity == Periodicity.WEEKDAYS:
        # Python counts Monday = 0, cron Sunday = 0.
        dow = ",".join(str(c) for c in sorted({(d + 1) % 7 for d in treatment.weekdays or []})) or "*"
    elif treatment.periodicity == Periodicity.MONTHLY:
        day = treatment.month_day or 1
        # Days 29-31 do not exist every month: fire on 28-31 and let runs_on pick the right one.
        dom = str(day) if day <= 28 else "28-31"
    return f"{minute} {hour} {dom} * {dow}"


def treatment_next_run(treatment: Treatment, *, after: dt.datetime | None = None) -> dt.datetime | None:
    """The next time ``treatment`` will run (aware, practice time zone), or None if inactive or
    never again."""
    if not treatment.active:
        return None
    return next_run_at(after or timezone.now(), hour=treatment.hour, tz=practice_tz(), runs_on=treatment.runs_on)


def _sync_schedule(treatment: Treatment) -> None:
    if not treatment.active:
        if treatment.schedule_id:
            Schedule.objects.filter(pk=treatment.schedule_id).delete()
            Treatment.objects.filter(pk=treatment.pk).update(schedule=None)
            treatment.schedule = None
        return
    nxt = treatment_next_run(treatment)
    values = {
        "name": f"traitement-{treatment.pk}",
        "func": RUN_TASK,
        "args": repr(treatment.pk),
        "schedule_type": Schedule.CRON,
        "cron": cron_for(treatment),
        "repeats": -1,
        # A treatment that will never run again (start date beyond the horizon) still gets its row,
        # due far ahead, so "one schedule per active treatment" holds.
        "next_run": nxt or timezone.now() + dt.timedelta(days=400),
    }
    schedule = Schedule.objects.filter(pk=treatment.schedule_id).first() if treatment.schedule_id else None
    if schedule is None:
        schedule = Schedule.objects.create(**values)
        Treatment.objects.filter(pk=treatment.pk).update(schedule=schedule)
        treatment.schedule = schedule
    else:
        for name, value in values.items():
            setattr(schedule, name, value)
        schedule.save()


def _note_activation(treatment: Treatment) -> None:
    """Stamp ``active_since`` when ``treatment`` becomes active (new, or inactive in the
    database): the runs due before that moment are not missed ones."""
    if not treatment.active:
        return
    was_active = treatment.pk is not None and Treatment.objects.filter(pk=treatment.pk, active=True).exists()
    if not was_active or treatment.active_since is None:
        treatment.active_since = timezone.now()


@transaction.atomic
def treatment_save(*, treatment: Treatment, criteria: dict | None = None, staff=None, verifiers=None) -> Treatment:
    """Validate and save ``treatment`` (with its criteria JSON and people, when given) and create,
    update or remove its django-q2 schedule to match. Raises ValidationError."""
    if criteria is not None:
        treatment.criteria = criteria
    treatment.full_clean(exclude=["schedule"])
    _note_activation(treatment)
    treatment.save()
    if staff is not None:
        treatment.staff_recipients.set(staff)
    if verifiers is not None:
        treatment.verifiers.set(verifiers)
    _sync_schedule(treatment)
    return treatment


@transaction.atomic
def treatment_set_active(*, treatment: Treatment, active: bool) -> Treatment:
    treatment.active = active
    _note_activation(treatment)
    treatment.save(update_fields=["active", "active_since", "updated_at"])
    _sync_schedule(treatment)
    return treatment


@transaction.atomic
def treatment_delete(*, treatment: Treatment) -> None:
    """Delete ``treatment``, its schedule and its runs (the messages stay in the outbox)."""
    if treatment.schedule_id:
        Schedule.objects.filter(pk=treatment.schedule_id).delete()
    treatment.delete()


def heartbeat_schedule_ensure() -> Schedule:
    """The every-minute heartbeat schedule (created once; called after migrate)."""
    schedule, _ = Schedule.objects.get_or_create(
        name=HEARTBEAT_NAME,
        defaults={"func": HEARTBEAT_TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    return schedule


def heartbeat_record(*, host: str, pid: int) -> None:
    Heartbeat.objects.update_or_create(pk=1, defaults={"beat_at": timezone.now(), "host": host, "pid": pid})
