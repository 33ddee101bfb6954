"""Print the exact message a patient would receive from a template, and its warnings.

    python manage.py rendertemplate 12 --patient 1024            # SMS type 12
    python manage.py rendertemplate 3 --patient 1024 --email      # email type 3
    python manage.py rendertemplate 3 --patient 1024 --email --appointment 981

The message goes to standard output, the warnings to standard error, through the same code as
the preview of the settings pages (messaging.services.template_preview).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messaging import services
from messaging.models import EmailTemplate, SmsTemplate
from patients.models import Patient


class Command(BaseCommand):
    help = "Affiche le message exact qu'un patient recevrait d'un SMS type (ou d'un email type avec --email)."

    def add_arguments(self, parser):
        parser.add_argument("template_id", type=int, help="Identifiant du SMS type (ou de l'email type avec --email).")
        parser.add_argument("--patient", required=True, help="Numéro de dossier du patient.")
        parser.add_argument("--email", action="store_true", help="Le modèle est un email type.")
        parser.add_argument("--appointment", type=int, help="Rendez-vous concerné (par défaut : le prochain).")
        parser.add_argument("--html", action="store_true", help="Email : affiche aussi la version HTML.")

    def handle(self, *args, template_id, patient, email, appointment, html, **options):
        model = EmailTemplate if email else SmsTemplate
        try:
            template = model.objects.get(pk=template_id)
        except model.DoesNotExist:
            kind = "email type" if email else "SMS type"
            raise CommandError(f"Aucun {kind} n'a l'identifiant {template_id}.") from None
        try:
            person = Patient.objects.get(file_number=patient)
        except Patient.DoesNotExist:
            raise CommandError(f"Aucun patient n'a le numéro de dossier {patient}.") from None
        if appointment is not None:
            chosen = person.appointments.filter(pk=appointment).first()
            if chosen is None:
                raise CommandError(f"Le rendez-vous {appointment} n'est pas un rendez-vous de ce patient.")
        else:
            chosen = services.next_appointment(patient=person)

        preview = services.template_preview(template=template, patient=person, appointment=chosen)
        composed = preview.composed
        if preview.is_email:
            self.stdout.write(f"Objet : {composed.subject}\n\n{composed.text}")
            for attachment in preview.attachments:
                self.stdout.write(f"Pièce jointe : {attachment.filename}")
            if html:
                self.stdout.write(f"\n--- HTML ---\n{composed.html}")
        else:
            seg = composed.segments
            self.stdout.write(composed.text)
            self.stderr.write(f"{seg.length} caractère(s), {seg.encoding}, {seg.parts} SMS")
        for warning in preview.warnings:
            self.stderr.write(f"Avertissement : {warning}")
