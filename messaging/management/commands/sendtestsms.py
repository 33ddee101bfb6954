"""`manage.py sendtestsms <mobile> [--text TEXT]`: the SMS twin of Django's sendtestemail, through
the whole pipeline (outbox, dispatch, the configured SMS backend)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, MailingOrigin, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient


class Command(BaseCommand):
    help = "Envoie un SMS de test par la chaîne d'envoi complète et affiche son état final et l'identifiant passerelle."

    def add_arguments(self, parser):
        parser.add_argument("mobile", help="Numéro de portable, par exemple 06 84 28 55 60 ou +33684285560.")
        parser.add_argument("--text", default="", help="Texte du SMS (par défaut : un message de test).")

    def handle(self, *args, mobile: str, text: str, **options):
        from practice.models import Practice

        recipient = number_recipient(number=mobile)
        if not recipient.sendable:
            raise CommandError(recipient.skip_reason)
        body = text or f"Test d'envoi de SMS de {Practice.get().name}."
        mailing = mailing_create(
            channel=Channel.SMS, origin=MailingOrigin.COMMAND, requested_by=None, recipients=[recipient],
            sms_body=body, label="SMS de test", schedule_dispatch=False,
        )
        dispatch_pending(mailing_id=mailing.pk)
        message = mailing.messages.get()
        self.stdout.write(f"Message n°{message.pk} à {recipient.address_display} : {message.get_status_display()}")
        if message.provider_id:
            self.stdout.write(f"Identifiant passerelle : {message.provider_id}")
        if message.reason:
            self.stdout.write(f"Raison : {message.reason}")
        if message.status in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
            raise CommandError(f"Échec de l'envoi : {message.reason}")
