"""django-q2 entry points: thin wrappers around messaging.dispatch."""

from __future__ import annotations

from django.db import transaction

from messaging.dispatch import dispatch_pending

SCHEDULE_NAME = "Envoi des messages en attente"
RECONCILE_SCHEDULE_NAME = "Vérification des SMS incertains"


def dispatch_task(mailing_id: int | None = None) -> dict:
    """Send the due messages (of one mailing, or all of them) for at most the dispatch time box
    (well inside the task timeout); return the counts. A run stopped by its time box has given
    back what it did not send and queues its continuation, after commit."""
    result = dispatch_pending(mailing_id=mailing_id)
    if result.timed_out:
        transaction.on_commit(lambda: queue_continuation(mailing_id))
    return result.as_dict()


def queue_continuation(mailing_id: int | None) -> None:
    from django_q.tasks import async_task

    name = f"envoi-{mailing_id}-suite" if mailing_id is not None else "envoi-suite"
    async_task("messaging.tasks.dispatch_task", mailing_id=mailing_id, task_name=name)


def reconcile_task() -> dict:
    """Settle the SMS left "incertain" with their gateway; forget kept reports nobody claimed;
    remove the files chosen in a send window and never sent (a window left open or abandoned:
    without this they stayed until someone attached the next file)."""
    from messaging.attachments import uploads_purge_unused
    from messaging.reconcile import forget_old_reports, reconcile_unknown_sms

    counts = reconcile_unknown_sms().as_dict()
    counts["forgotten_reports"] = forget_old_reports()
    counts["purged_uploads"] = uploads_purge_unused()
    return counts


def ensure_dispatch_schedule(**kwargs) -> None:
    """The every-minute schedule that sends deferred rows (quiet hours, quotas, retries), probes
    paused accounts and settles the claims of dead workers, and the five-minute one that settles
    "incertain" SMS with their gateway. Idempotent: connected to post_migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "messaging.tasks.dispatch_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=RECONCILE_SCHEDULE_NAME,
        defaults={
            "func": "messaging.tasks.reconcile_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "repeats": -1,
        },
    )
