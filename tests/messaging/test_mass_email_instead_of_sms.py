""""Envoyer par email si pas de portable" in an SMS mass mailing: the policy's "email when there
is no mobile" (``messaging.policy.ChannelPlan``), through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from messaging.demo import ensure_demo_messaging
from messaging.models import Channel, EmailTemplate, Mailing, Message, MessageStatus
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _draft(client, appointments) -> str:
    response = client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "sms",
                                                   "ids": [a.pk for a in appointments]})
    return response.url.split("/")[-3]


def test_the_patient_without_mobile_gets_the_email_the_other_the_sms(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    ensure_demo_messaging()
    email_type = EmailTemplate.objects.get(label="Confirmation de rendez-vous")
    with_mobile = AppointmentFactory(start=tomorrow_at(9), patient=PatientFactory(first_name="Emma"))
    without = AppointmentFactory(start=tomorrow_at(10), patient=PatientFactory(first_name="Ines", mobile=""))
    key = _draft(assistant_client, [with_mobile, without])
    page = assistant_client.get(reverse("mass:message", args=[key])).content.decode()
    assert "Envoyer par email si pas de portable" in page
    response = assistant_client.post(reverse("mass:message", args=[key]), {
        "body": "RDV demain, @PPREN.", "email_if_no_mobile": "1", "no_mobile_template": email_type.pk})
    assert response.url == reverse("mass:recipients", args=[key])
    preview = assistant_client.get(response.url).content.decode()
    assert "RDV demain, Emma." in preview and "Confirmation de votre rendez-vous" in preview
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("mass:send", args=[key]))
        assistant_client.post(reverse("mass:send", args=[key]))  # the double click
    sent = {(m.channel, m.to, m.status) for m in Message.objects.all()}
    assert sent == {(Channel.SMS, "+33684285560", MessageStatus.SENT),
                    (Channel.EMAIL, "ines@patients.test", MessageStatus.SENT)}
    assert [s.body for s in sms_outbox] == ["RDV demain, Emma."]
    assert [m.to for m in mail.outbox] == [["ines@patients.test"]]
    assert Mailing.objects.filter(channel=Channel.EMAIL, email_template=email_type).count() == 1


def test_the_option_needs_an_email_type(assistant_client):
    key = _draft(assistant_client, [AppointmentFactory(start=tomorrow_at(9))])
    page = assistant_client.post(reverse("mass:message", args=[key]),
                                 {"body": "RDV demain.", "email_if_no_mobile": "1"}).content.decode()
    assert "Choisissez l&#x27;email type envoyé aux patients sans portable." in page
