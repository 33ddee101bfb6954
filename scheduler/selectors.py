"""Reads of the programmeur pages: the list with next and last runs, the trace of a run, and the
scheduler's health."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from messaging.models import Message

from .models import EventMessageSetting, Heartbeat, Treatment, TreatmentRun

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
    return Message.objects.filter(tracking__run=run).select_related("patient", "appointment").order_by(
        "recipient_name", "pk"
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


def event_settings() -> QuerySet[EventMessageSetting]:
    return EventMessageSetting.objects.select_related("nature", "sms_template", "email_template")
