"""Findings of the security re-audit (issue 13) that are not in the URL walk, each with the
hostile request that showed it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.models import Channel, Mailing, MailingOrigin, Message, RecipientRole
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(assistant):
    patient = PatientFactory()
    mailing = Mailing.objects.create(origin=MailingOrigin.PATIENT_FILE, channel=Channel.SMS, requested_by=assistant)
    return Message.objects.create(mailing=mailing, channel=Channel.SMS, patient=patient,
                                  recipient_role=RecipientRole.PATIENT, to="+33612345678", body="Bonjour")


@pytest.mark.parametrize("target", ["/\\evil.example/", "//evil.example/", "https://evil.example/",
                                    "/\t/evil.example/"])
def test_a_history_action_never_sends_the_browser_to_another_site(assistant_client, message, target):
    response = assistant_client.post(reverse("sending:delete", args=[message.pk]), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("sending:history", args=[message.patient_id])


def test_a_history_action_goes_back_to_the_page_it_came_from(assistant_client, message):
    back = reverse("sending:history", args=[message.patient_id]) + "?onglet=communication"
    response = assistant_client.post(reverse("sending:delete", args=[message.pk]), {"next": back})
    assert response["Location"] == back


def test_the_demo_inbox_ignores_a_malformed_email_number(assistant_client):
    response = assistant_client.get(reverse("sending:demo-inbox") + "?email=abc&onglet=email")
    assert response.status_code == 200
