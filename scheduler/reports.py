"""The trace of a run, emailed to the treatment's verifiers ("Vérificateurs"): after each run
when they asked for it, otherwise only when the run failed or some of its messages did.

The trace is written in the practice's language (``practice.i18n.practice_speaking``): it goes to
the verifiers whatever language each of them reads the pages in, with nobody present.

A run's messages leave after the run (dispatch, quiet hours): the report waits until none is
PENDING or SENDING, by re-scheduling itself with a one-off django-q2 schedule.
"""

from __future__ import annotations

import datetime as dt

from django.core.mail import send_mail
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext

from messaging.models import Message, MessageStatus
from practice.i18n import practice_speaking

from .formats import day_label
from .models import RunStatus, TreatmentRun

REPORT_TASK = "scheduler.tasks.report_run"
SETTLE_DELAY = dt.timedelta(minutes=10)


def run_report_when_settled(*, run_id: int, now: dt.datetime | None = None) -> str:
    """Refresh the run's counts; email the trace if it is settled and due, or schedule another
    look. Returns "sent", "not needed", "waiting" or "already sent"."""
    from .runner import run_refresh_counts

    now = now or timezone.now()
    run = TreatmentRun.objects.select_related("treatment").filter(pk=run_id).first()
    if run is None:
        return "not needed"
    run_refresh_counts(run)
    if run.reported_at is not None:
        return "already sent"
    verifiers = [u for u in run.treatment.verifiers.all() if u.email]
    if not verifiers:
        return "not needed"
    if run.waiting:
        # Failures are only known once every message has had its chance (quiet hours, retries).
        latest = Message.objects.filter(tracking__run=run, status=MessageStatus.PENDING).aggregate(
            t=Max("not_before")
        )["t"]
        _schedule_look(run_id, max(latest or now, now) + SETTLE_DELAY)
        return "waiting"
    if not (run.treatment.verifiers_always or run.has_failures):
        return "not needed"
    # Claim the report so two looks never send it twice.
    if TreatmentRun.objects.filter(pk=run.pk, reported_at__isnull=True).update(reported_at=now) != 1:
        return "already sent"
    run_report_send(run=run, recipients=[u.email for u in verifiers])
    return "sent"


def _schedule_look(run_id: int, when: dt.datetime) -> None:
    from django_q.models import Schedule

    name = f"trace-{run_id}"
    Schedule.objects.filter(name=name).delete()
    Schedule.objects.create(
        name=name, func=REPORT_TASK, args=repr(run_id), schedule_type=Schedule.ONCE, repeats=-1, next_run=when
    )


@practice_speaking
def run_report_send(*, run: TreatmentRun, recipients: list[str]) -> None:
    """The trace as a plain-text email to ``recipients`` (staff, through the site's mail
    settings: it is not a patient message)."""
    messages = list(
        Message.objects.filter(tracking__run=run).order_by("recipient_name", "pk").only(
            "recipient_name", "to", "channel", "status", "reason", "reason_i18n"
        )
    )
    try:
        path = reverse("scheduler:run", args=[run.pk])
    except NoReverseMatch:
        path = ""
    failed = run.status == RunStatus.FAILED or run.failed
    values = {"title": run.treatment.title, "day": day_label(run.run_date)}
    if failed:
        subject = gettext("[Programmeur] %(title)s du %(day)s : échecs à vérifier") % values
    else:
        subject = gettext("[Programmeur] %(title)s du %(day)s : exécuté") % values
    body = render_to_string("scheduler/run_report.txt", {"run": run, "messages": messages, "path": path})
    send_mail(subject, body, None, recipients)
