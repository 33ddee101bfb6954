"""django-q2 entry points: thin wrappers around messaging.dispatch."""

from __future__ import annotations

from messaging.dispatch import dispatch_pending

SCHEDULE_NAME = "Envoi des messages en attente"


def dispatch_task(mailing_id: int | None = None) -> dict:
    """Send the due messages (of one mailing, or all of them); return the counts."""
    return dispatch_pending(mailing_id=mailing_id).as_dict()


def ensure_dispatch_schedule(**kwargs) -> None:
    """The every-minute schedule that sends deferred rows (quiet hours, quotas, retries) and
    reconciles rows stuck in SENDING. Idempotent: connected to post_migrate."""
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
