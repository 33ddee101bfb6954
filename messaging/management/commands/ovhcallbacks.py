"""`manage.py ovhcallbacks [--show]`: give OVH the practice's callback URLs (delivery receipts
and replies) on the SMS account, with the official API (``PUT /sms/{serviceName}``). OVH does
not sign its callbacks: each URL carries OVH_CALLBACK_TOKEN."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from ovh import exceptions as ovh_errors

from messaging.gateways.ovh import SmsBackend
from messaging.gateways.ovh.webhooks import callback_urls


class Command(BaseCommand):
    help = "Déclare chez OVH les adresses de retour des SMS (accusés de réception et réponses des patients)."

    def add_arguments(self, parser):
        parser.add_argument("--show", action="store_true", help="Afficher les adresses sans les déclarer chez OVH.")

    def handle(self, *args, show: bool, **options):
        urls = callback_urls()
        if not urls:
            raise CommandError("Renseignez PUBLIC_BASE_URL et OVH_CALLBACK_TOKEN avant de déclarer les adresses de retour.")
        self.stdout.write(f"Accusés de réception : {urls['status']}")
        self.stdout.write(f"Réponses des patients : {urls['inbound']}")
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
                raise CommandError(f"OVH a refusé la déclaration des adresses : {exc}") from exc
        self.stdout.write(f"Adresses déclarées sur le compte SMS OVH {backend.service_name}.")
