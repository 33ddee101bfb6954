""""Envoyer par email si pas de portable" in the SMS window of the patient file: the policy's
"email when there is no mobile" (``messaging.policy.ChannelPlan``), through the outbox."""

import pytest
from django.core import mail
from django.urls import reverse

from messaging.demo import ensure_demo_messaging
from messaging.models import Channel, EmailTemplate, Mailing, Message, MessageStatus
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def email_type():
    ensure_demo_messaging()
    return EmailTemplate.objects.get(label="Confirmation de rendez-vous")


def _post(client, patient, **data):
    return client.post(reverse("sending:sms", args=[patient.pk]), {"token": f"t{patient.pk}", **data})


def test_a_patient_without_mobile_gets_the_email_type(assistant_client, email_type, sms_outbox, no_quiet_hours, on_commit):
    patient = PatientFactory(first_name="Ines", last_name="Sansportable", mobile="")
    appointment = AppointmentFactory(patient=patient)  # the email type confirms an appointment
    with on_commit():
        response = _post(assistant_client, patient, email_if_no_mobile="1", email_template=email_type.pk,
                         appointment=appointment.pk)
    mailing = Mailing.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sending:result", args=[mailing.pk])
    [message] = Message.objects.all()
    assert (message.channel, message.to, message.status, message.reason) == (Channel.EMAIL, patient.email, MessageStatus.SENT, "")
    assert mailing.email_template == email_type
    assert [m.to for m in mail.outbox] == [[patient.email]] and sms_outbox == []


def test_the_email_instead_is_blocked_when_its_appointment_is_missing(assistant_client, email_type):
    patient = PatientFactory(first_name="Ines", last_name="Sansportable", mobile="")
    page = _post(assistant_client, patient, email_if_no_mobile="1", email_template=email_type.pk).content.decode()
    assert "données manquantes pour SANSPORTABLE Ines" in page and not Mailing.objects.exists()


def test_a_patient_with_a_mobile_gets_the_sms_only(assistant_client, email_type, sms_outbox, no_quiet_hours, on_commit):
    patient = PatientFactory(first_name="Emma", mobile="+33684285560")
    with on_commit():
        _post(assistant_client, patient, recipients=["patient:+33684285560"], body="Bonjour @PPREN.",
              email_if_no_mobile="1", email_template=email_type.pk)
    [message] = Message.objects.all()
    assert (message.channel, message.status) == (Channel.SMS, MessageStatus.SENT)
    assert [s.body for s in sms_outbox] == ["Bonjour Emma."] and mail.outbox == []


def test_a_mobile_in_the_family_is_not_replaced_by_an_email(assistant_client, email_type):
    # Nothing ticked although the patient has a mobile: the email is not a way around the SMS.
    patient = PatientFactory(mobile="+33684285560")
    page = _post(assistant_client, patient, email_if_no_mobile="1", email_template=email_type.pk).content.decode()
    assert "Un portable est connu dans la famille" in page and not Message.objects.exists()


def test_the_option_needs_an_email_type(assistant_client):
    patient = PatientFactory(mobile="")
    page = _post(assistant_client, patient, email_if_no_mobile="1").content.decode()
    assert "Choisissez l&#x27;email type envoyé aux patients sans portable." in page
    assert "Le message est vide." not in page and not Message.objects.exists()


def test_the_window_offers_the_option(assistant_client, email_type):
    page = assistant_client.get(reverse("sending:sms", args=[PatientFactory().pk])).content.decode()
    assert "Envoyer par email si pas de portable" in page and f'value="{email_type.pk}"' in page
