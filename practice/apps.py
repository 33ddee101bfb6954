from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy


class PracticeConfig(AppConfig):
    default = True
    name = "practice"
    verbose_name = gettext_lazy("Cabinet")

    def ready(self):
        from django.db.models.signals import pre_save
        from django_q.models import Schedule
        from django_q.signals import pre_enqueue

        from . import checks  # noqa: F401  (registration side effect)
        from .q_guard import guard_enqueue, guard_schedule_save
        from .roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="practice.sync_roles")
        # Only the project's own task functions may be scheduled or queued (see q_guard).
        pre_save.connect(guard_schedule_save, sender=Schedule, dispatch_uid="practice.guard_schedule_save")
        pre_enqueue.connect(guard_enqueue, dispatch_uid="practice.guard_enqueue")


class PracticeAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "practice.admin_site.PracticeAdminSite"
