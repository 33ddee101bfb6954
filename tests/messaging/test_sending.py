"""The sending pages (SMS / email windows, result, history, re-send, delete, print, demo inbox),
the demo SMTP server command and sendtestsms."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from messaging.backends import SendError
from messaging.demo import ensure_demo_messaging
from messaging.gateways import locmem
from messaging.models import (
    Channel,
    InboundMessage,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    SandboxEmail,
    SandboxSms,
    SmsTemplate,
)
from tests.factories import (
    AppointmentFactory,
    MinorPatientFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
)
from tests.messaging.sending_helpers import free_port, paris

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the dispatch queued on commit (Q_CLUSTER sync: inline) as a real request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def patient():
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    return PatientFactory(first_name="Emma", last_name="Ablirant", practitioner=prat)


def test_pages_need_the_send_permission(client, patient):
    nobody = UserFactory(username="sans-role")
    client.force_login(nobody)
    for url in [reverse("sending:sms", args=[patient.pk]), reverse("sending:email", args=[patient.pk]),
                reverse("sending:history", args=[patient.pk]), reverse("sending:demo-inbox")]:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("sending:preview", args=[patient.pk]), {"channel": "sms", "body": "x"}).status_code == 403


def test_anonymous_is_sent_to_login(client, patient):
    response = client.get(reverse("sending:sms", args=[patient.pk]))
    assert response.status_code == 302 and "/connexion/" in response["Location"]


def test_sms_window_lists_recipients_with_skip_reasons(assistant_client):
    child = MinorPatientFactory(first_name="Luka")
    page = assistant_client.get(reverse("sending:sms", args=[child.pk])).content.decode()
    assert "Envoi de SMS" in page
    assert "Aucun numéro de portable." in page  # the child
    assert "06.13.68.29.82" in page  # the civil guardian
    assert 'value="civil:+33613682982" id="rcpt-2" checked' in page


def test_preview_returns_the_merged_template(assistant_client, patient):
    ensure_demo_messaging()
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=paris(2031, 10, 2, 11, 0))
    template = SmsTemplate.objects.get(title="Confirmation de rendez-vous")
    response = assistant_client.post(reverse("sending:preview", args=[patient.pk]),
                                     {"channel": "sms", "template": template.pk, "appointment": appt.pk})
    data = response.json()
    assert data["text"] == ("Bonjour,\nLe Dr MOLAIRE Marc a le plaisir de vous rappeler le RDV de Emma ABLIRANT le "
                            "02/10/2031 à 11h00.\nNous vous souhaitons une agréable journée.")
    assert data["segments"]["parts"] == 1 and data["warnings"] == []
    no_appt = assistant_client.post(reverse("sending:preview", args=[patient.pk]), {"channel": "sms", "template": template.pk}).json()
    assert any("@RDV1" in w for w in no_appt["warnings"])


def test_send_sms_from_the_window_and_see_the_result(assistant_client, assistant, patient, sms_outbox, no_quiet_hours, on_commit):
    url = reverse("sending:sms", args=[patient.pk])
    with on_commit():
        response = assistant_client.post(url, {"recipients": ["patient:+33684285560"], "body": "Bonjour @PPREN, à demain.", "token": "t1"})
    mailing = Mailing.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sending:result", args=[mailing.pk])
    assert [s.body for s in sms_outbox] == ["Bonjour Emma, à demain."]
    assert mailing.requested_by == assistant and mailing.origin == MailingOrigin.PATIENT_FILE
    result = assistant_client.get(response["Location"]).content.decode()
    assert "Envoyé" in result and "06.84.28.55.60" in result
    # A double submission of the same form sends nothing more.
    assistant_client.post(url, {"recipients": ["patient:+33684285560"], "body": "Bonjour @PPREN, à demain.", "token": "t1"})
    assert len(sms_outbox) == 1 and Mailing.objects.count() == 1


def test_failure_is_shown_with_its_reason(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    locmem.fail_for["+33684285560"] = SendError("Numéro de téléphone invalide : corrigez le portable dans la fiche.", permanent=True)
    with on_commit():
        response = assistant_client.post(reverse("sending:sms", args=[patient.pk]),
                                         {"recipients": ["patient:+33684285560"], "body": "Test", "token": "t2"})
    response = assistant_client.get(response["Location"])
    page = response.content.decode()
    assert "Échec" in page and "Numéro de téléphone invalide : corrigez le portable dans la fiche." in page


def test_form_errors_are_shown(assistant_client, patient):
    page = assistant_client.post(reverse("sending:sms", args=[patient.pk]), {"body": "", "token": "t3"}).content.decode()
    assert "Choisissez au moins un destinataire." in page and "Le message est vide." in page
    assert Mailing.objects.count() == 0


def test_send_email_from_the_window(assistant_client, patient, settings, on_commit):
    account = ensure_demo_messaging()
    with on_commit():
        response = assistant_client.post(reverse("sending:email", args=[patient.pk]), {
        "recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": account.default_signature_id,
        "subject": "Votre devis, @PPREN", "body_html": "<p>Bonjour @PPREN,</p><script>alert(1)</script><p>Voici votre devis.</p>",
        "token": "e1",
    })
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.subject == "Votre devis, Emma" and sent.to == [patient.email]
    html = sent.alternatives[0][0]
    assert "<script>" not in html and "<p>Bonjour Emma,</p>" in html and "Le secrétariat du cabinet" in html
    assert Message.objects.get().status == MessageStatus.SENT


def test_history_lists_outgoing_and_inbound_and_supports_resend_delete_print(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    with on_commit():
        assistant_client.post(reverse("sending:sms", args=[patient.pk]),
                          {"recipients": ["patient:+33684285560"], "body": "Premier message", "token": "h1"})
    inbound = InboundMessage.objects.create(from_number="+33684285560", body="Merci !", provider_id="SMin", patient=patient)
    inbound.patients.add(patient)
    history_url = reverse("sending:history", args=[patient.pk])
    page = assistant_client.get(history_url).content.decode()
    assert "Premier message" in page and "Merci !" in page and "Reçu" in page
    msg = Message.objects.get()

    with on_commit():
        response = assistant_client.post(reverse("sending:resend", args=[msg.pk]))
    assert response.status_code == 302
    assert [s.body for s in sms_outbox] == ["Premier message", "Premier message"]
    assert Mailing.objects.filter(origin=MailingOrigin.RESEND).count() == 1

    printed = assistant_client.get(reverse("sending:print", args=[msg.pk])).content.decode()
    assert "Premier message" in printed and "data-print" in printed and "js/ui.js" in printed

    before = assistant_client.get(history_url).content.decode().count("Premier message")
    assistant_client.post(reverse("sending:delete", args=[msg.pk]), {"next": history_url})
    msg.refresh_from_db()
    assert msg.hidden
    assert assistant_client.get(reverse("sending:print", args=[msg.pk])).status_code == 404
    page = assistant_client.get(history_url).content.decode()
    assert page.count("Premier message") == before // 2  # the re-sent one only


def test_resend_needs_its_permission(client, patient):
    from django.contrib.auth.models import Permission

    user = UserFactory(username="envoi-seul")
    user.user_permissions.add(Permission.objects.get(codename="send_messages"))
    client.force_login(user)
    mailing = Mailing.objects.create(origin=MailingOrigin.PATIENT_FILE, channel=Channel.SMS)
    msg = Message.objects.create(mailing=mailing, channel=Channel.SMS, patient=patient, recipient_role="patient",
                                 to="+33684285560", body="x", dedupe_key="x")
    assert client.post(reverse("sending:resend", args=[msg.pk])).status_code == 403


def test_demo_inbox_shows_sms_per_number_and_emails(assistant_client):
    SandboxSms.objects.create(to="+33684285560", sender="Cabinet", body="Votre RDV demain", provider_id="SB1")
    SandboxEmail.objects.create(mail_from="a@b", to="emma@patients.test", subject="Confirmation", html="<p>Bonjour</p>", raw="...")
    page = assistant_client.get(reverse("sending:demo-inbox")).content.decode()
    assert "06.84.28.55.60" in page and "Votre RDV demain" in page
    page = assistant_client.get(reverse("sending:demo-inbox") + "?onglet=email").content.decode()
    assert "Confirmation" in page and "srcdoc=\"&lt;p&gt;Bonjour&lt;/p&gt;\"" in page


def test_demo_smtp_server_stores_what_it_receives(transactional_db):
    from aiosmtpd.controller import Controller

    from messaging.management.commands.demosmtp import StoringHandler

    port = free_port()
    controller = Controller(StoringHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        from django.core.mail import EmailMultiAlternatives, get_connection

        connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port)
        email = EmailMultiAlternatives("Bonjour", "Texte", "cabinet@demo.fr", ["emma@patients.test"], connection=connection)
        email.attach_alternative("<p>Texte</p>", "text/html")
        email.attach("plan.pdf", b"%PDF", "application/pdf")
        email.send()
    finally:
        controller.stop()
    stored = SandboxEmail.objects.get()
    assert (stored.to, stored.subject, stored.text.strip(), stored.html.strip()) == ("emma@patients.test", "Bonjour", "Texte", "<p>Texte</p>")
    assert stored.attachments == ["plan.pdf"]


def test_demo_account_points_at_the_demo_smtp_server(settings):
    account = ensure_demo_messaging()
    again = ensure_demo_messaging()
    assert account.pk == again.pk
    assert (account.name, account.smtp_host, account.smtp_port, account.security) == ("Secrétariat", "127.0.0.1", settings.DEMO_SMTP_PORT, "none")
    assert SmsTemplate.objects.filter(category__name="Rendez-vous").count() == 3
    assert "@RDV1" in SmsTemplate.objects.get(title="Confirmation de rendez-vous").body


def test_sendtestsms_goes_through_the_pipeline(sms_outbox, no_quiet_hours):
    out = StringIO()
    call_command("sendtestsms", "06 84 28 55 60", "--text", "Essai", stdout=out)
    assert [s.body for s in sms_outbox] == ["Essai"]
    msg = Message.objects.get()
    assert msg.mailing.origin == MailingOrigin.COMMAND
    assert f"Identifiant passerelle : {msg.provider_id}" in out.getvalue()
    assert "Envoyé" in out.getvalue()


def test_sendtestsms_reports_failures(sms_outbox, no_quiet_hours):
    locmem.fail_with = SendError("Numéro de téléphone invalide.", permanent=True, code="21211")
    with pytest.raises(CommandError, match="Numéro de téléphone invalide"):
        call_command("sendtestsms", "0684285560", stdout=StringIO())
    with pytest.raises(CommandError, match="pas un portable valide"):
        call_command("sendtestsms", "0380320140", stdout=StringIO())


def test_dispatch_schedule_exists_after_migrate():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="messaging.tasks.dispatch_task")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_sms_window_refuses_an_unknown_merge_code(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    """Typed "Bonjour @PNOMM" used to leave as "Bonjour ABLIRANTM"."""
    from django.utils.html import escape

    with on_commit():
        response = assistant_client.post(reverse("sending:sms", args=[patient.pk]), {
            "recipients": ["patient:+33684285560"], "body": "Bonjour @PNOMM", "token": "u1"})
    assert response.status_code == 200
    assert escape("Le champ d'intégration @PNOMM n'existe pas. Vouliez-vous dire @PNOM ?") in response.content.decode()
    assert Mailing.objects.count() == 0 and sms_outbox == []


def test_email_window_refuses_an_unknown_merge_code(assistant_client, patient, on_commit):
    from django.utils.html import escape

    account = ensure_demo_messaging()
    with on_commit():
        response = assistant_client.post(reverse("sending:email", args=[patient.pk]), {
            "recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "",
            "subject": "Bonjour @PPRENN", "body_html": "<p>Bonjour @PNOMM,</p>", "token": "u2",
        })
    assert response.status_code == 200
    page = response.content.decode()
    assert escape("Le champ d'intégration @PPRENN n'existe pas. Vouliez-vous dire @PPREN ?") in page
    assert escape("Le champ d'intégration @PNOMM n'existe pas. Vouliez-vous dire @PNOM ?") in page
    assert Mailing.objects.count() == 0 and mail.outbox == []


def test_sms_window_refuses_more_than_1600_characters(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    from django.utils.html import escape

    with on_commit():
        response = assistant_client.post(reverse("sending:sms", args=[patient.pk]), {
            "recipients": ["patient:+33684285560"], "body": "ê" * 1601, "token": "long1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert escape("Ce message fait 1601 caractères : un SMS ne peut pas dépasser 1 600 caractères") in page
    assert "Ce message fera" in page and "dépasse 160 caractères" not in page
    assert Mailing.objects.count() == 0 and sms_outbox == []


def test_sendtestsms_reports_a_failure_in_the_practices_language(sms_outbox, no_quiet_hours):
    # The command speaks the practice's language; the reason stored in French (with its msgid)
    # is read in that language too.
    from messaging.reasons import Why
    from practice.models import Practice

    practice = Practice.get()
    practice.language = "en"
    practice.save()
    locmem.fail_with = SendError(Why("Numéro de téléphone invalide : corrigez le portable dans la fiche."),
                                 permanent=True, code="21211")
    with pytest.raises(CommandError, match="Invalid phone number") as error:
        call_command("sendtestsms", "0684285560", stdout=StringIO())
    assert "Numéro" not in str(error.value)
    assert Message.objects.get().reason == "Numéro de téléphone invalide : corrigez le portable dans la fiche."
