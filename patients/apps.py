from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = gettext_lazy("Patients et rendez-vous")
