"""Demo data for sending (called by seed_demo): an email account on the demo SMTP server and a
"Rendez-vous" category with SMS and email types, so a new user sees both channels arrive."""

from __future__ import annotations

from django.conf import settings

from messaging.models import (
    EmailAccount,
    EmailTemplate,
    FreeField,
    Purpose,
    RecipientRole,
    Signature,
    SmsTemplate,
    SmtpSecurity,
    TemplateCategory,
)

SMS_TYPES = {
    "Confirmation de rendez-vous": "Bonjour,\nLe @PRAT a le plaisir de vous rappeler le RDV de @PPREN @PNOM le @RDV1.\n"
    "Nous vous souhaitons une agréable journée.",
    "Rappel de rendez-vous (veille)": "Rappel : RDV de @PPREN @PNOM demain @RDV1 avec le @PRAT. En cas "
    "d'empechement, merci de prevenir le cabinet.",
    "Rendez-vous manqué": "Bonjour, @PPREN @PNOM n'a pas pu venir a son RDV du @RDV1. Merci de rappeler le cabinet "
    "pour convenir d'un nouveau rendez-vous.",
}

EMAIL_TYPES = {
    "Confirmation de rendez-vous": (
        "Confirmation de votre rendez-vous du @RDV1",
        "<p>Bonjour,</p><p>Le @PRAT a le plaisir de vous confirmer le rendez-vous de <strong>@PPREN @PNOM</strong> "
        "le <strong>@RDV1</strong>.</p><p>Nous vous souhaitons une agréable journée.</p>",
    ),
    "Rendez-vous manqué": (
        "Rendez-vous manqué du @RDV1",
        "<p>Bonjour,</p><p>@PPREN @PNOM n'a pas pu venir à son rendez-vous du @RDV1.</p>"
        "<p>Merci de contacter le cabinet pour convenir d'un nouveau rendez-vous.</p>",
    ),
}


CORRESPONDENT_TYPE = (
    "Votre patient(e) @PPREN @PNOM",
    "<p>@LIBRE_01 @CORNOM,</p><p>Nous avons reçu en consultation votre patient(e) <strong>@PPREN @PNOM</strong>. "
    "Nous vous tiendrons informé(e) de la suite des soins.</p><p>Bien confraternellement,</p>",
)


def ensure_demo_messaging() -> EmailAccount:
    """Create (idempotently) the demo account "Secrétariat" on the demo SMTP server
    (127.0.0.1:DEMO_SMTP_PORT, no security), its signature, and the "Rendez-vous" category with a
    few SMS and email types. Returns the account."""
    signature, _ = Signature.objects.get_or_create(
        label="Secrétariat",
        defaults={"body_html": "<p>Le secrétariat du cabinet<br>@CABNOM – @CABTEL</p>", "placement": "footer"},
    )
    account, _ = EmailAccount.objects.update_or_create(
        name="Secrétariat",
        defaults={
            "email": "secretariat@cabinet-demo.fr",
            "display_name": "Secrétariat du cabinet",
            "smtp_host": "127.0.0.1",
            "smtp_port": settings.DEMO_SMTP_PORT,
            "security": SmtpSecurity.NONE,
            "username": "",
            "password": "",
            "default_signature": signature,
            "active": True,
        },
    )
    # Reminders: one per appointment and channel, whatever the route (messaging.purpose).
    category, _ = TemplateCategory.objects.get_or_create(
        name="Rendez-vous", defaults={"position": 1, "purpose": Purpose.REMINDER}
    )
    for title, body in SMS_TYPES.items():
        SmsTemplate.objects.get_or_create(category=category, title=title, defaults={"body": body})
    for label, (subject, body_html) in EMAIL_TYPES.items():
        EmailTemplate.objects.get_or_create(
            category=category,
            label=label,
            defaults={"account": account, "signature": signature, "subject": subject, "body_html": body_html},
        )
    # Written to the patient's correspondents (their relationship with the practitioner fills
    # @LIBRE_01): offered and preselected in the send window, mass mailings and treatments.
    colleagues, _ = TemplateCategory.objects.get_or_create(name="Correspondants", defaults={"position": 2})
    FreeField.objects.get_or_create(number=1, defaults={
        "label": "Salutation", "ami": "Cher ami", "amie": "Chère amie", "confrere": "Cher confrère",
        "consoeur": "Chère consœur"})
    subject, body_html = CORRESPONDENT_TYPE
    EmailTemplate.objects.get_or_create(
        category=colleagues, label="Compte rendu au correspondant",
        defaults={"account": account, "signature": signature, "subject": subject, "body_html": body_html,
                  "recipient_role": RecipientRole.CORRESPONDENT},
    )
    return account
