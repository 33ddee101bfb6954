"""Print the exact message a patient would receive from a template, and its warnings.

    python manage.py rendertemplate 12 --patient 1024            # SMS type 12
    python manage.py rendertemplate 3 --patient 1024 --email      # email type 3
    python manage.py rendertemplate 3 --patient 1024 --email --appointment 981

The message goes to standard output, the warnings to standard error, through the same code as
the preview of the settings pages (messaging.services.template_preview).
"""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from messaging import services
from messaging.models import EmailTemplate, SmsTemplate
from patients.models import Patient
from practice.i18n import PracticeLanguageCommand


class Command(PracticeLanguageCommand):
    help = gettext_lazy("Affiche le message exact qu'un patient recevrait d'un SMS type (ou d'un email type avec --email).")

    def add_arguments(self, parser):
        parser.add_argument("template_id", type=int,
                            help=gettext("Identifiant du SMS type (ou de l'email type avec --email)."))
        parser.add_argument("--patient", required=True, help=gettext("Numéro de dossier du patient."))
        parser.add_argument("--email", action="store_true", help=gettext("Le modèle est un email type."))
        parser.add_argument("--appointment", type=int, help=gettext("Rendez-vous concerné (par défaut : le prochain)."))
        parser.add_argument("--html", action="store_true", help=gettext("Email : affiche aussi la version HTML."))

    def handle(self, *args, template_id, patient, email, appointment, html, **options):
        model = EmailTemplate if email else SmsTemplate
        try:
            template = model.objects.get(pk=template_id)
        except model.DoesNotExist:
            if email:
                error = gettext("Aucun email type n'a l'identifiant %(id)s.")
            else:
                error = gettext("Aucun SMS type n'a l'identifiant %(id)s.")
            raise CommandError(error % {"id": template_id}) from None
        try:
            person = Patient.objects.get(file_number=patient)
        except Patient.DoesNotExist:
            raise CommandError(gettext("Aucun patient n'a le numéro de dossier %(number)s.") % {"number": patient}) from None
        if appointment is not None:
            chosen = person.appointments.filter(pk=appointment).first()
            if chosen is None:
                raise CommandError(
                    gettext("Le rendez-vous %(id)s n'est pas un rendez-vous de ce patient.") % {"id": appointment})
        else:
            chosen = services.next_appointment(patient=person)

        preview = services.template_preview(template=template, patient=person, appointment=chosen)
        composed = preview.composed
        if preview.is_email:
            self.stdout.write(gettext("Objet : %(subject)s") % {"subject": composed.subject} + f"\n\n{composed.text}")
            for attachment in preview.attachments:
                self.stdout.write(gettext("Pièce jointe : %(name)s") % {"name": attachment.filename})
            if html:
                self.stdout.write(f"\n--- HTML ---\n{composed.html}")
        else:
            seg = composed.segments
            self.stdout.write(composed.text)
            self.stderr.write(
                ngettext("%(n)d caractère", "%(n)d caractères", seg.length) % {"n": seg.length}
                + f", {seg.encoding}, {seg.parts} SMS"
            )
        for warning in preview.warnings:
            self.stderr.write(gettext("Avertissement : %(warning)s") % {"warning": warning})
