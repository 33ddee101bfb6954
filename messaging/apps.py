from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = gettext_lazy("Messages (SMS et emails)")

    def ready(self):
        from . import admin_campaigns, admin_outbox, checks, purpose, send_checks  # noqa: F401  (registration side effects)
        from .tasks import ensure_dispatch_schedule

        # Checked just before each message leaves: the purpose rule (a message held by quiet
        # hours that became a second copy meanwhile is cancelled, naming the first).
        # A copy may also be one SMS listing the appointment among a family's (CoveredAppointment).
        send_checks.register(purpose.duplicate_check, annotations={
            "purpose_first_copy": purpose.first_copy_expression,
            "purpose_first_covered_copy": purpose.first_covered_copy_expression,
        }, annotate_when=purpose.may_be_a_copy)
        # How many appointments a treatment's SMS lists: the family's SMS is judged appointment
        # by appointment (scheduler.family.group_check), not on its first one.
        send_checks.register(purpose.duplicate_check, annotations={"group_size": purpose.group_size_expression},
                             annotate_when=purpose.may_be_grouped)
        # A campaign's message whose recipient withdrew a consent since it was written (news; a
        # family number's other file) is not sent.
        from .campaigns import campaign_check, campaign_refusal_expression, is_campaign_message

        send_checks.register(campaign_check, annotations={"campaign_refusal": campaign_refusal_expression},
                             annotate_when=is_campaign_message)
        # A reminder of an appointment the patient confirmed by SMS since is not sent.
        from .replies import register_checks

        register_checks()

        post_migrate.connect(ensure_dispatch_schedule, sender=self, dispatch_uid="messaging-dispatch-schedule")
        post_save.connect(_practice_saved, sender="practice.Practice", dispatch_uid="messaging-quiet-hours-changed")


def _practice_saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    """SMS held by the quiet hours were given the end of the hours as they were: when the
    practice changes them, they are due again at once and the next dispatch judges them by the
    new hours (deferring again those still inside them)."""
    if raw or created:  # a new practice row has no held messages
        return
    from django.utils import timezone

    from .lifecycle import WaitReason, wake_waiting

    wake_waiting(code=WaitReason.QUIET, now=timezone.now())
