"""The treatment Tester estimates what its SMS would cost and names the recipients whose name's
accent makes their SMS longer (issue 14, "Cost before sending")."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message, SmsTemplate
from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory
from tests.scheduler.conftest import make_treatment

pytestmark = pytest.mark.django_db

BODY = ("Bonjour @PPREN, le cabinet du Dr Molaire vous rappelle votre rendez-vous du @RDV1. "
        "Appelez-nous en cas d'absence.")


def text_of(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).replace("\u00a0", " ").split())


@pytest.fixture
def treatment(category):
    template = SmsTemplate.objects.create(category=category, title="Rappel prénom", body=BODY)
    return make_treatment(title="Rappel J+1", send_sms=True, sms_template=template)


def appointments(practitioner):
    start = timezone.make_aware(dt.datetime(2025, 11, 22, 10, 0))
    for first, mobile in (("Emma", "+33684285560"), ("Anaïs", "+33611223344")):
        AppointmentFactory(patient=PatientFactory(first_name=first, last_name="Adam", mobile=mobile),
                           practitioner=practitioner, start=start)


def test_tester_estimates_the_cost_and_warns_about_the_accent(assistant_client, treatment, practitioner):
    practice = Practice.get()
    practice.sms_prices = {"locmem": "0.05"}
    practice.save()
    appointments(practitioner)
    page = text_of(assistant_client.get(reverse("scheduler:test", args=[treatment.pk]), {"date": "2025-11-21"})
                   .content.decode())
    assert "≈ 0,15 € pour 3 SMS (0,05 € la partie de SMS, 2 messages)" in page
    assert "ADAM Anaïs (2 SMS au lieu de 1)" in page
    assert "2 SMS · ≈ 0,10 €" in page and "1 SMS · ≈ 0,05 €" in page
    assert not Message.objects.exists()


def test_tester_with_names_in_gsm7(assistant_client, treatment, practitioner):
    practice = Practice.get()
    practice.sms_prices = {"locmem": "0.05"}
    practice.sms_gsm_names = True
    practice.save()
    appointments(practitioner)
    page = text_of(assistant_client.get(reverse("scheduler:test", args=[treatment.pk]), {"date": "2025-11-21"})
                   .content.decode())
    assert "Bonjour Anais, le cabinet" in page and "≈ 0,10 € pour 2 SMS" in page and "au lieu de" not in page
