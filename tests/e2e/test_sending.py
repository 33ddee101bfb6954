"""Sending from the patient file as staff do it, in headless Chromium: an SMS (sandbox gateway) and
an email (the demo SMTP server on loopback), found in the Communication tab and the demo inbox."""

import datetime as dt
import re

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from playwright.sync_api import expect

from messaging.demo import ensure_demo_messaging
from messaging.management.commands.demosmtp import StoringHandler
from messaging.models import Message, MessageStatus, SandboxEmail, SandboxSms
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory
from tests.messaging.sending_helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_practice(settings):
    from practice.models import Practice

    port = free_port()
    settings.DEMO_SMTP_PORT = port
    settings.SMS_BACKEND = "sandbox"
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    practice = Practice.get()
    practice.sms_sender_name = "DrMolaire"
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)  # the test may run at night
    practice.save()
    ensure_demo_messaging()
    smtp = Controller(StoringHandler(), hostname="127.0.0.1", port=port)
    smtp.start()
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    patient = PatientFactory(last_name="Ablirant", first_name="Emma", practitioner=prat,
                             mobile="+33684285560", email="emma@patients.test")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=2), dt.time(11, 0)))
    AppointmentFactory(patient=patient, practitioner=prat, start=start)
    yield patient, start
    smtp.stop()


def test_send_an_sms_and_an_email_from_the_patient_file(login, live_server, demo_practice):
    patient, start = demo_practice
    when = timezone.localtime(start).strftime("%d/%m/%Y à %Hh%M")
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")

    # SMS: template of the "Rendez-vous" category, merged on the server, then sent.
    page.get_by_role("link", name="SMS", exact=True).click()
    page.wait_for_load_state()  # the window's scripts are attached
    expect(page.get_by_role("heading", name="Envoi de SMS")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Patient", exact=True)).to_be_checked()
    page.get_by_label("Catégorie").select_option(label="Rendez-vous")
    page.get_by_label("Texte type").select_option(label="Confirmation de rendez-vous")
    expected_sms = (f"Bonjour,\nLe Dr MOLAIRE Marc a le plaisir de vous rappeler le RDV de Emma ABLIRANT le {when}.\n"
                    "Nous vous souhaitons une agréable journée.")
    expect(page.locator("#id_body")).to_have_value(expected_sms)
    expect(page.locator("#sms-counter")).to_contain_text("1 SMS")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("heading", name="Résultat de l'envoi")).to_be_visible()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    assert SandboxSms.objects.get().body == expected_sms

    # Email: the email type fills subject and body in the rich editor, the demo account sends it.
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Email", exact=True).click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Envoi d'email")).to_be_visible()
    page.get_by_label("Email type").select_option(label="Confirmation de rendez-vous")
    expect(page.get_by_label("Objet")).to_have_value(f"Confirmation de votre rendez-vous du {when}")
    expect(page.locator(".prose-editor [contenteditable]")).to_contain_text("Emma ABLIRANT")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    received = SandboxEmail.objects.get()
    assert received.to == "emma@patients.test" and received.subject == f"Confirmation de votre rendez-vous du {when}"
    assert "Emma ABLIRANT" in received.html and "Le secrétariat du cabinet" in received.html
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENT}

    # Both in the Communication tab of the patient file.
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("tab", name="Communication").click()
    history = page.locator("#communication-history")
    expect(history).to_contain_text("Confirmation de votre rendez-vous")
    expect(history).to_contain_text("06.84.28.55.60")
    expect(history.get_by_text("Envoyé", exact=True)).to_have_count(2)

    # And both arrived in the demo inbox.
    page.goto(f"{live_server.url}/envois/boite-de-demonstration/")
    expect(page.get_by_role("link", name="06.84.28.55.60")).to_be_visible()
    expect(page.locator(".sms-bubble")).to_have_text(expected_sms)
    page.get_by_role("link", name=re.compile(r"^Emails")).click()
    expect(page.locator("#email-view")).to_contain_text(f"Confirmation de votre rendez-vous du {when}")
    expect(page.frame_locator("#email-view iframe").locator("body")).to_contain_text("Emma ABLIRANT")


def test_resend_and_delete_from_the_communication_tab(login, live_server, demo_practice):
    patient, _ = demo_practice
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/sms/")
    page.locator("#id_body").fill("Votre prothèse est prête.")
    expect(page.locator("#sms-counter")).to_contain_text("UCS-2")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    page.get_by_role("button", name="Renvoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    assert SandboxSms.objects.count() == 2
    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    expect(page.locator("#communication-history tbody tr")).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Supprimer").first.click()
    expect(page.get_by_text("Le message a été supprimé de l'historique.")).to_be_visible()
    expect(page.locator("#communication-history tbody tr")).to_have_count(1)


def test_the_sms_window_sends_the_email_type_to_a_patient_without_mobile(login, live_server, demo_practice):
    from tests.e2e.conftest import screenshot

    patient = PatientFactory(last_name="Sansportable", first_name="Ines", mobile="", email="ines@patients.test")
    # The email type confirms an appointment: the window chooses her next one.
    _, start = demo_practice
    AppointmentFactory(patient=patient, practitioner=demo_practice[0].practitioner, start=start)
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="SMS", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("#recipients")).to_contain_text("Aucun numéro de portable.")
    page.get_by_label("Envoyer par email si pas de portable").check()
    page.get_by_label("Email type envoyé à la place").select_option(label="Confirmation de rendez-vous")
    screenshot(page, "sms-window-email-instead")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("heading", name="Résultat de l'envoi")).to_be_visible()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    assert SandboxEmail.objects.get().to == "ines@patients.test" and not SandboxSms.objects.exists()


def test_the_email_window_offers_and_ticks_the_correspondent_the_type_names(login, live_server, demo_practice):
    from messaging.models import EmailTemplate, FreeField, RecipientRole
    from patients.models import CorrespondentLink, PatientCorrespondent
    from tests.e2e.conftest import screenshot
    from tests.factories import CorrespondentFactory

    patient, _ = demo_practice
    FreeField.objects.update_or_create(number=1, defaults={"label": "Salutation", "ami": "Cher ami",
                                                            "confrere": "Cher confrère"})  # the demo has it
    dupuis = CorrespondentFactory()
    CorrespondentLink.objects.create(correspondent=dupuis, practitioner=patient.practitioner, relationship="confrere")
    PatientCorrespondent.objects.create(patient=patient, correspondent=dupuis)
    report = EmailTemplate.objects.get(label="Confirmation de rendez-vous")
    report.pk, report.label = None, "Compte rendu au confrère"
    report.recipient_role = RecipientRole.CORRESPONDENT
    report.subject, report.body_html = "Au sujet de @PPREN @PNOM", "<p>@LIBRE_01 @CORNOM,</p><p>Votre patient.</p>"
    report.save()
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Email", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("#recipients")).to_contain_text("Dr DUPUIS Henri")
    expect(page.get_by_role("checkbox", name="Patient", exact=True)).to_be_checked()
    page.get_by_label("Email type").select_option(label="Compte rendu au confrère")
    expect(page.get_by_role("checkbox", name="Correspondant", exact=True)).to_be_checked()
    expect(page.get_by_role("checkbox", name="Patient", exact=True)).not_to_be_checked()
    expect(page.locator(".prose-editor [contenteditable]")).to_contain_text("Cher confrère DUPUIS,")
    screenshot(page, "email-window-correspondent")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    received = SandboxEmail.objects.get()
    assert received.to == "dr.dupuis@confreres.test" and "Cher confrère DUPUIS," in received.html
