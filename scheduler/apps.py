from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy


def _ensure_heartbeat(**kwargs) -> None:
    from .services import heartbeat_schedule_ensure

    heartbeat_schedule_ensure()


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = gettext_lazy("Programmeur")

    def ready(self):
        from messaging import send_checks

        from . import checks, family, signals  # noqa: F401  (signal receivers and system checks)

        # The last-moment check: dispatch cancels what is no longer true before sending it; one
        # SMS listing a family's appointments is merged again without those that no longer hold.
        send_checks.register(checks.send_check, related=("tracking__run__treatment",))
        send_checks.register(family.group_check, related=("tracking__run__treatment",))
        post_migrate.connect(_ensure_heartbeat, sender=self, dispatch_uid="scheduler-heartbeat-schedule")
