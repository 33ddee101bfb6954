from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_heartbeat(**kwargs) -> None:
    from .services import heartbeat_schedule_ensure

    heartbeat_schedule_ensure()


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Programmeur"

    def ready(self):
        from messaging import dispatch

        from . import checks, signals  # noqa: F401  (signal receivers and system checks)

        # The send-time re-check: dispatch cancels what is no longer true before sending it.
        if checks.stale_reasons not in dispatch.RELEVANCE_CHECKS:
            dispatch.RELEVANCE_CHECKS.append(checks.stale_reasons)
        post_migrate.connect(_ensure_heartbeat, sender=self, dispatch_uid="scheduler-heartbeat-schedule")
