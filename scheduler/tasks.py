"""django-q2 entry points of the programmeur: thin, they load and call the runner. Their results
(kept by django-q2, shown in the admin) speak the practice's language, as the runs do."""

from __future__ import annotations

import os
import socket

from django.utils import timezone
from django.utils.translation import ngettext

from practice.i18n import practice_speaking

from .models import RunTrigger, Treatment


@practice_speaking
def run_treatment(treatment_id: int) -> str:
    """Run ``treatment_id`` for the practice's local date of now (its schedule fired). Does
    nothing for an inactive or deleted treatment or on a day its periodicity skips (public
    holiday, the 31st in a 30-day month, before its start date)."""
    from .runner import treatment_run
    from .services import practice_tz

    treatment = Treatment.objects.filter(pk=treatment_id).first()
    if treatment is None or not treatment.active:
        return "inactive"
    run_date = timezone.now().astimezone(practice_tz()).date()
    if not treatment.runs_on(run_date):
        return f"not scheduled on {run_date.isoformat()}"
    run = treatment_run(treatment=treatment, run_date=run_date, trigger=RunTrigger.SCHEDULE)
    return f"{run.get_status_display()} ({run_date.isoformat()})"


def report_run(run_id: int) -> str:
    from .reports import run_report_when_settled

    return run_report_when_settled(run_id=run_id)


@practice_speaking
def heartbeat() -> str:
    """Proof of life of the cluster, read by the programmeur page; then, every minute, the
    reminders of appointments written without ``save()`` into a run's window since the run
    (``scheduler.late.sweep``: the saved ones are caught up at once by the signal)."""
    from .late import sweep
    from .services import heartbeat_record

    heartbeat_record(host=socket.gethostname(), pid=os.getpid())
    count = sweep()
    return ngettext("%(n)d rappel de rattrapage", "%(n)d rappels de rattrapage", count) % {"n": count}
