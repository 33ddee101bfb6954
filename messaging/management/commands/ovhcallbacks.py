"""`manage.py ovhcallbacks [--show]`: give OVH the practice's callback URLs (delivery receipts
and replies) on the SMS account, with the official API (``PUT /sms/{serviceName}``). OVH does
not sign its callbacks: each URL carries OVH_CALLBACK_TOKEN."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy
from ovh import exceptions as ovh_errors

from messaging.gateways.ovh import SmsBackend
from messaging.gateways.ovh.webhooks import callback_urls
from practice.i18n import PracticeLanguageCommand


class Command(PracticeLanguageCommand):
    help = gettext_lazy("Déclare chez OVH les adresses de retour des SMS (accusés de réception et réponses des patients).")

    def add_arguments(self, parser):
        parser.add_argument("--show", action="store_true", help=gettext("Afficher les adresses sans les déclarer chez OVH."))

    def handle(self, *args, show: bool, **options):
        urls = callback_urls()
        if not urls:
            raise CommandError(
                gettext("Renseignez PUBLIC_BASE_URL et OVH_CALLBACK_TOKEN avant de déclarer les adresses de retour."))
        self.stdout.write(gettext("Accusés de réception : %(url)s") % {"url": urls["status"]})
        self.stdout.write(gettext("Réponses des patients : %(url)s") % {"url": urls["inbound"]})
        if show:
            return
        try:
            backend = SmsBackend()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        with backend:
            try:
                backend.client.put(f"/sms/{backend.service_name}", callBack=urls["status"],
                                   smsResponse={"responseType": "cgi", "cgiUrl": urls["inbound"]})
            except ovh_errors.APIError as exc:
                raise CommandError(gettext("OVH a refusé la déclaration des adresses : %(error)s") % {"error": exc}) from exc
        self.stdout.write(gettext("Adresses déclarées sur le compte SMS OVH %(account)s.") % {"account": backend.service_name})
