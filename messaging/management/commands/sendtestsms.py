"""`manage.py sendtestsms <mobile> [--text TEXT]`: the SMS twin of Django's sendtestemail, through
the whole pipeline (outbox, dispatch, the configured SMS backend)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, MailingOrigin, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient
from practice.i18n import PracticeLanguageCommand


class Command(PracticeLanguageCommand):
    help = gettext_lazy(
        "Envoie un SMS de test par la chaîne d'envoi complète et affiche son état final et l'identifiant passerelle."
    )

    def add_arguments(self, parser):
        parser.add_argument("mobile", help=gettext("Numéro de portable, par exemple 06 84 28 55 60 ou +33684285560."))
        parser.add_argument("--text", default="", help=gettext("Texte du SMS (par défaut : un message de test)."))

    def handle(self, *args, mobile: str, text: str, **options):
        from practice.models import Practice

        recipient = number_recipient(number=mobile)
        if not recipient.sendable:
            raise CommandError(recipient.skip_reason)
        # The default text goes to a phone: the practice's language, as the command speaks.
        body = text or gettext("Test d'envoi de SMS de %(practice)s.") % {"practice": Practice.get().name}
        mailing = mailing_create(
            channel=Channel.SMS, origin=MailingOrigin.COMMAND, requested_by=None, recipients=[recipient],
            sms_body=body, label=gettext("SMS de test"), schedule_dispatch=False,
        )
        dispatch_pending(mailing_id=mailing.pk)
        message = mailing.messages.get()
        self.stdout.write(gettext("Message n°%(pk)s à %(to)s : %(status)s") % {
            "pk": message.pk, "to": recipient.address_display, "status": message.get_status_display()})
        if message.provider_id:
            self.stdout.write(gettext("Identifiant passerelle : %(id)s") % {"id": message.provider_id})
        if message.reason:
            self.stdout.write(gettext("Raison : %(reason)s") % {"reason": message.reason_shown})
        if message.status in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
            raise CommandError(gettext("Échec de l'envoi : %(reason)s") % {"reason": message.reason_shown})
