from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messages (SMS et emails)"

    def ready(self):
        from . import admin_campaigns, admin_outbox, checks, dispatch, policy, purpose  # noqa: F401  (registration side effects)
        from .tasks import ensure_dispatch_schedule

        # Checked just before each message leaves: consent and STOP read fresh, and the purpose
        # rule (a message held by quiet hours that became a second copy meanwhile).
        for check in (policy.consent_reasons, purpose.duplicate_reasons):
            if check not in dispatch.RELEVANCE_CHECKS:
                dispatch.RELEVANCE_CHECKS.append(check)

        post_migrate.connect(ensure_dispatch_schedule, sender=self, dispatch_uid="messaging-dispatch-schedule")
