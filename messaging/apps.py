from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messages (SMS et emails)"

    def ready(self):
        from . import admin_campaigns, admin_outbox, checks  # noqa: F401  (registration side effects)
        from .tasks import ensure_dispatch_schedule

        post_migrate.connect(ensure_dispatch_schedule, sender=self, dispatch_uid="messaging-dispatch-schedule")
