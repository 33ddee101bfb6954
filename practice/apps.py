from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class PracticeConfig(AppConfig):
    default = True
    name = "practice"
    verbose_name = "Cabinet"

    def ready(self):
        from . import checks  # noqa: F401  (registration side effect)
        from .roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="practice.sync_roles")


class PracticeAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "practice.admin_site.PracticeAdminSite"
