"""The demo practice's treatments, ready and inactive (the seeds' examples): staff see them in
the programmeur, press "Tester", and activate them themselves."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from messaging.demo import ensure_demo_messaging
from messaging.models import EmailAccount, EmailTemplate, SmsTemplate, TemplateCategory

from .models import Treatment, TreatmentKind
from .runner import default_criteria
from .services import treatment_save

# It asks for an answer (SmsTemplate.asks_reply): in the demo, "Répondre en tant que patient"
# with "Oui merci" confirms the appointment on the planning (messaging.replies). One GSM-7 SMS.
REMINDER_SMS = "@CABNOM : rappel de votre RDV du @RDV1 avec le @PRAT. Repondez OUI pour confirmer, NON pour annuler."
# For the option "un seul SMS par famille et par jour" (scheduler.family): @RDVLISTE lists the
# day's appointments of the family ("RDV de Léo à 14h00 et d'Emma à 14h30"); a "OUI" confirms
# them all.
FAMILY_SMS = "@CABNOM, rappel : @RDVLISTE le @RDVDATE avec le @PRAT. Repondez OUI pour confirmer, NON pour annuler."
MISSED_SUBJECT = "Votre rendez-vous manqué du @RDVDATE"
MISSED_BODY = (
    "<p>Bonjour @PCIVIL @PNOM,</p>"
    "<p>Vous aviez rendez-vous le @RDV1 avec le @PRAT et nous ne vous avons pas vu(e).</p>"
    "<p>Merci de nous appeler pour convenir d'un nouveau rendez-vous.</p>"
)
BIRTHDAY_SMS = "Joyeux anniversaire @PPREN ! Toute l'equipe du @CABNOM vous souhaite une belle journee."


def _demo_account() -> EmailAccount:
    """The demo account on the demo SMTP server (manage.py demosmtp), created if missing."""
    return ensure_demo_messaging()


@transaction.atomic
def ensure_demo_treatments() -> list[Treatment]:
    """Create, if missing, "Rappel RDV J+1 (SMS)", "Relance RDV manqués J-1 (email)" and
    "Anniversaires" (inactive), with the SMS and email types they use. Idempotent: existing
    treatments and templates are left as they are."""
    account = _demo_account()  # also creates the sending helper's "Rendez-vous" templates
    rdv, _ = TemplateCategory.objects.get_or_create(name="Rendez-vous")
    birthdays, _ = TemplateCategory.objects.get_or_create(name="Anniversaires")
    reminder_sms, _ = SmsTemplate.objects.get_or_create(
        category=rdv, title="Rappel de rendez-vous", defaults={"body": REMINDER_SMS, "asks_reply": True}
    )
    SmsTemplate.objects.get_or_create(
        category=rdv, title="Rappel famille (un SMS pour plusieurs RDV)", defaults={"body": FAMILY_SMS, "asks_reply": True}
    )
    birthday_sms, _ = SmsTemplate.objects.get_or_create(
        category=birthdays, title="Joyeux anniversaire", defaults={"body": BIRTHDAY_SMS}
    )
    missed_email = EmailTemplate.objects.filter(category=rdv, label="Rendez-vous manqué").first()
    if missed_email is None:
        missed_email = EmailTemplate.objects.create(
            category=rdv, label="Rendez-vous manqué", account=account, subject=MISSED_SUBJECT,
            body_html=MISSED_BODY,
        )
    today = timezone.localdate()
    specs = [
        dict(kind=TreatmentKind.APPOINTMENTS, title="Rappel RDV J+1 (SMS)", hour=dt.time(18, 0), offset_from=1,
             offset_to=1, send_sms=True, sms_template=reminder_sms),
        dict(kind=TreatmentKind.MISSED, title="Relance RDV manqués J-1 (email)", hour=dt.time(12, 0),
             offset_from=-1, offset_to=-1, send_email=True, email_template=missed_email,
             criteria={"exclude_with_next_appointment": True, "exclude_came_since": True}),
        dict(kind=TreatmentKind.BIRTHDAYS, title="Anniversaires", hour=dt.time(9, 0), offset_from=0, offset_to=0,
             send_sms=True, sms_template=birthday_sms),
    ]
    treatments = []
    for spec in specs:
        existing = Treatment.objects.filter(title=spec["title"]).first()
        if existing is not None:
            treatments.append(existing)
            continue
        criteria = {**default_criteria(spec["kind"]), **spec.pop("criteria", {})}
        treatment = Treatment(start_date=today, active=False, **spec)
        treatments.append(treatment_save(treatment=treatment, criteria=criteria))
    return treatments
