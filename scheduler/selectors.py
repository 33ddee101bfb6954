"""Reads of the programmeur pages: the list with next and last runs, the trace of a run, and the
scheduler's health."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from messaging.models import Message

from .formats import clock
from .models import EventMessageSetting, Heartbeat, RunStatus, Treatment, TreatmentRun

# The heartbeat task runs every minute and the scheduler ticks about every 30 s: three minutes
# without a beat means no cluster is running.
HEARTBEAT_STALE = dt.timedelta(minutes=3)


@dataclass
class TreatmentRow:
    treatment: Treatment
    next_run: dt.datetime | None
    last_run: TreatmentRun | None


def treatment_rows() -> list[TreatmentRow]:
    """Every treatment with its next run (practice time) and its latest run: two queries."""
    from .services import treatment_next_run

    treatments = list(Treatment.objects.select_related("sms_template", "email_template").order_by("hour", "title"))
    latest: dict[int, TreatmentRun] = {}
    for run in TreatmentRun.objects.filter(treatment__in=treatments).order_by("treatment_id", "-run_date", "-id"):
        latest.setdefault(run.treatment_id, run)
    return [TreatmentRow(t, treatment_next_run(t), latest.get(t.pk)) for t in treatments]


def run_messages(run: TreatmentRun) -> QuerySet[Message]:
    """The run's messages, each with its tracking (a catch-up reminder says why) and the
    appointments of one SMS listing a family's (three queries)."""
    from django.db.models import Prefetch

    from messaging.models import CoveredAppointment

    covers = CoveredAppointment.objects.select_related("appointment__patient").order_by("appointment_start", "pk")
    return (
        Message.objects.filter(tracking__run=run)
        .select_related("patient", "appointment", "tracking")
        .prefetch_related(Prefetch("covers", queryset=covers))
        .order_by("recipient_name", "pk")
    )


@dataclass
class Health:
    running: bool
    last_beat: dt.datetime | None
    host: str
    clusters: int
    problem: str


def scheduler_health(*, now: dt.datetime | None = None) -> Health:
    """Whether a django-q2 cluster is alive: its heartbeat task wrote less than three minutes
    ago (works with every broker); plus the clusters' own statistics when the broker shares them
    across processes (Redis)."""
    from django_q.status import Stat

    from .checks import time_zone_problem

    now = now or timezone.now()
    beat = Heartbeat.objects.filter(pk=1).first()
    try:
        clusters = len(Stat.get_all())
    except Exception:  # noqa: BLE001 - a broker that is down must not break the page
        clusters = 0
    running = beat is not None and now - beat.beat_at < HEARTBEAT_STALE
    return Health(
        running=running,
        last_beat=beat.beat_at if beat else None,
        host=beat.host if beat else "",
        clusters=clusters,
        problem=time_zone_problem(),
    )


# How far back a run that did not happen is still worth flagging (and running by hand).
MISSED_LOOKBACK_DAYS = 7
# The scheduler ticks every 30 s and may be busy with another treatment: a run is missed only
# once this has passed after its time without a run row.
MISSED_GRACE = dt.timedelta(minutes=10)
# A run row left "en attente" (its worker was killed before it committed) this long after its
# time did not happen either; django-q2 hands a lost task out again well before that.
MISSED_STUCK = dt.timedelta(hours=1)


@dataclass
class MissedRun:
    treatment: Treatment
    run_date: dt.date
    due_at: dt.datetime  # aware, practice time zone

    @property
    def label(self) -> str:
        return gettext("exécution manquée le %(day)s à %(time)s") % {"day": f"{self.due_at:%d/%m}",
                                                                       "time": clock(self.due_at)}


def missed_runs(*, now: dt.datetime | None = None, treatment: Treatment | None = None) -> list[MissedRun]:
    """The runs of the active treatments (or of ``treatment`` alone) that were due in the last
    ``MISSED_LOOKBACK_DAYS`` days and did not happen, oldest first: a day its schedule runs on
    (``Treatment.runs_on``, the rule its django-q2 cron narrows), at its hour on the practice's
    wall clock (the same hour on both daylight-saving days), after the treatment was switched
    on, more than ``MISSED_GRACE`` ago, without a run row for that date (``TreatmentRun`` is
    unique per treatment and date, so any run, scheduled or by hand, clears it). Two queries."""
    from .services import practice_tz

    now = now or timezone.now()
    tz = practice_tz()
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=MISSED_LOOKBACK_DAYS)
    if treatment is not None:
        treatments = [treatment] if treatment.active else []
    else:
        treatments = list(Treatment.objects.filter(active=True).order_by("hour", "title"))
    if not treatments:
        return []
    rows = {
        (tid, day): status
        for tid, day, status in TreatmentRun.objects.filter(treatment__in=treatments, run_date__gte=first).values_list(
            "treatment_id", "run_date", "status"
        )
    }
    missed = []
    for t in treatments:
        since = t.active_since or t.created_at
        day = max(first, t.start_date)
        while day <= today:
            if t.runs_on(day):
                # Built on the wall clock, then compared in UTC: 18h00 is 16h00 UTC in summer and
                # 17h00 UTC in winter. Through UTC and back also moves a time that does not exist
                # (02h30 on the spring change) to the instant it stands for.
                due = dt.datetime.combine(day, t.hour, tzinfo=tz).astimezone(dt.UTC)
                status = rows.get((t.pk, day))
                lost = status is None or (status == RunStatus.PENDING and now - due > MISSED_STUCK)
                if lost and (since is None or due >= since) and now - due > MISSED_GRACE:
                    missed.append(MissedRun(t, day, due.astimezone(tz)))
            day += dt.timedelta(days=1)
    missed.sort(key=lambda m: (m.due_at, m.treatment.title))
    return missed


def event_settings() -> QuerySet[EventMessageSetting]:
    return EventMessageSetting.objects.select_related("nature", "sms_template", "email_template")
