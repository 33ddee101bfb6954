"""The send window of the patient file before anything leaves: it blocks a message whose
required merge data is missing (unless staff keep it), and honours the email type's
"Confirmation avant envoi" with the final merged message."""

import pytest
from django.core import mail
from django.urls import reverse
from django.utils.html import escape

from messaging.demo import ensure_demo_messaging
from messaging.models import EmailTemplate, Mailing, Message, MessageStatus
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory
from tests.messaging import sending_helpers
from tests.messaging.sending_helpers import paris

pytestmark = pytest.mark.django_db
no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

REMINDER = "Bonjour,\nLe @PRAT a le plaisir de vous rappeler le RDV de @PPREN @PNOM le @RDV1."


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def patient():
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    return PatientFactory(first_name="Anaïs", last_name="Adam", practitioner=prat, email="anais@patients.test")


def _sms(client, patient, **data):
    return client.post(reverse("sending:sms", args=[patient.pk]),
                       {"recipients": ["patient:+33684285560"], "body": REMINDER, "token": "w1", **data})


def test_sms_without_an_appointment_is_blocked_with_the_reason(assistant_client, patient, sms_outbox):
    response = _sms(assistant_client, patient)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Message non envoyé : données manquantes pour ADAM Anaïs" in page
    assert escape("@RDV1 (Date et heure du rendez-vous (02/10/2019 à 11h00)) : aucun rendez-vous choisi.") in page
    assert 'name="keep_missing"' in page  # the way to keep it explicitly
    assert Mailing.objects.count() == 0 and sms_outbox == []


def test_sms_kept_explicitly_leaves_with_a_note(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    with on_commit():
        response = _sms(assistant_client, patient, keep_missing="1")
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT and message.body.endswith("ADAM le .")
    assert "Envoyé malgré des données manquantes (@RDV1)" in message.note
    assert message.missing_kept  # what a retry of its failure keeps
    assert len(sms_outbox) == 1


def test_sms_with_the_appointment_chosen_leaves(assistant_client, patient, sms_outbox, no_quiet_hours, on_commit):
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=paris(2031, 10, 2, 11, 0))
    with on_commit():
        response = _sms(assistant_client, patient, appointment=appt.pk)
    assert response.status_code == 302
    assert sms_outbox[0].body.endswith("ADAM le 02/10/2031 à 11h00.")


def test_email_subject_without_appointment_is_blocked(assistant_client, patient):
    account = ensure_demo_messaging()
    response = assistant_client.post(reverse("sending:email", args=[patient.pk]), {
        "recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "",
        "subject": "Confirmation de votre rendez-vous du @RDV1", "body_html": "<p>Bonjour @PPREN</p>", "token": "e1",
    })
    assert response.status_code == 200
    assert "données manquantes pour ADAM Anaïs" in response.content.decode()
    assert Mailing.objects.count() == 0


def _confirming_template(account):
    template = EmailTemplate.objects.get(label="Confirmation de rendez-vous")
    template.confirm_before_send = True
    template.save()
    return template


def test_confirmation_before_send_shows_the_final_message_then_sends_once_confirmed(
        assistant_client, patient, settings, on_commit):
    account = ensure_demo_messaging()
    template = _confirming_template(account)
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=paris(2031, 10, 2, 11, 0))
    data = {"recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "",
            "template": template.pk, "appointment": appt.pk, "subject": template.subject,
            "body_html": template.body_html, "token": "c1"}
    url = reverse("sending:email", args=[patient.pk])
    response = assistant_client.post(url, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Confirmation avant envoi" in page
    assert "Objet : Confirmation de votre rendez-vous du 02/10/2031 à 11h00" in page
    assert Mailing.objects.count() == 0 and mail.outbox == []
    digest = response.context["form"].confirmation_digest
    # Changed after being shown: shown again, not sent.
    changed = {**data, "subject": template.subject + " (modifié)", "confirmed": digest}
    response = assistant_client.post(url, changed)
    assert response.status_code == 200 and "(modifié)" in response.content.decode()
    assert Mailing.objects.count() == 0
    with on_commit():
        response = assistant_client.post(url, {**data, "confirmed": digest})
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.subject == "Confirmation de votre rendez-vous du 02/10/2031 à 11h00"


def test_an_email_type_without_the_option_sends_straight_away(assistant_client, patient, on_commit):
    account = ensure_demo_messaging()
    template = EmailTemplate.objects.get(label="Confirmation de rendez-vous")
    assert not template.confirm_before_send
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=paris(2031, 10, 2, 11, 0))
    with on_commit():
        response = assistant_client.post(reverse("sending:email", args=[patient.pk]), {
            "recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "",
            "template": template.pk, "appointment": appt.pk, "subject": template.subject,
            "body_html": template.body_html, "token": "c2"})
    assert response.status_code == 302 and len(mail.outbox) == 1


def test_a_text_merged_in_the_window_keeps_its_blanks_known(assistant_client, patient, sms_outbox):
    """The window merges the template in the browser: the text sent has no code left, only the
    blank. The merge's signed note of what it left empty blocks it all the same."""
    from messaging.models import SmsTemplate

    ensure_demo_messaging()
    template = SmsTemplate.objects.get(title="Confirmation de rendez-vous")
    merged = assistant_client.post(reverse("sending:preview", args=[patient.pk]),
                                   {"channel": "sms", "template": template.pk, "appointment": ""}).json()
    assert "@RDV1" not in merged["text"] and merged["text"].endswith("ADAM le .\nNous vous souhaitons une agréable journée.")
    response = _sms(assistant_client, patient, body=merged["text"], template=template.pk,
                    merge_check=merged["merge_check"])
    assert response.status_code == 200 and "aucun rendez-vous choisi" in response.content.decode()
    assert Mailing.objects.count() == 0
    # A note forged or made for another patient says nothing.
    other = PatientFactory(first_name="Other", last_name="Patient", mobile="+33611223344")
    note = assistant_client.post(reverse("sending:preview", args=[other.pk]),
                                 {"channel": "sms", "template": template.pk}).json()["merge_check"]
    for forged in (note, merged["merge_check"][:-2] + "xx"):
        response = _sms(assistant_client, patient, body=merged["text"], merge_check=forged, token=f"f{forged[-3:]}")
        assert response.status_code == 302


@pytest.fixture
def english_client(client):
    from practice.models import StaffPreference
    from tests.factories import UserFactory

    user = UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user=user, language="en")
    client.force_login(user)
    return client


def test_the_missing_data_and_confirmation_blocks_read_in_english(english_client, patient):
    # Seen in the browser walk-through: these two blocks of the send window were written in
    # French in the template itself ("Objet :", "Confirmer l'envoi"...) for every reader.
    response = _sms(english_client, patient)
    page = response.content.decode()
    assert "Missing data: this message will not leave as it is." in page
    assert "(the fields concerned will stay empty)" in page and "Données manquantes" not in page
    account = ensure_demo_messaging()
    template = _confirming_template(account)
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=paris(2031, 10, 2, 11, 0))
    response = english_client.post(reverse("sending:email", args=[patient.pk]), {
        "recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "", "template": template.pk,
        "appointment": appt.pk, "subject": template.subject, "body_html": template.body_html, "token": "c2"})
    page = response.content.decode()
    assert "Confirmation before sending: here is the message as it will leave" in page
    assert "Subject: Confirmation de votre rendez-vous du 02/10/2031 à 11h00" in page  # the practice's text
    assert f"To ADAM Anaïs (Patient) – {patient.email}" in page and ">Confirm the sending</button>" in page
    assert "Objet :" not in page and "Confirmer l" not in page
