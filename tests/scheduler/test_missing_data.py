"""Treatments and missing merge data: codes a kind can never fill are refused on save; a
message whose required data is missing is listed apart in Tester and left out of the run."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from messaging.models import Message, MessageStatus, SmsTemplate
from scheduler.models import Treatment, TreatmentKind
from scheduler.runner import treatment_preview, treatment_run
from tests.factories import AppointmentFactory, PatientFactory
from tests.scheduler.conftest import make_treatment, paris

pytestmark = pytest.mark.django_db


@pytest.fixture
def birthday_sms(category):
    return SmsTemplate.objects.create(category=category, title="Anniversaire",
                                      body="Joyeux anniversaire @PPREN ! À bientôt le @RDV1 à @RDVHEURE.")


def _text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_programmeur_form_refuses_appointment_codes_in_a_birthday_treatment(admin_client, birthday_sms):
    response = admin_client.post(reverse("scheduler:create") + "?kind=birthdays", {
        "kind": "birthdays", "title": "Anniversaires", "hour": "08:00", "start_date": "2025-01-01",
        "periodicity": "daily", "date_mode": "relative", "offset_from": "0", "offset_to": "0",
        "send_sms": "on", "sms_template": birthday_sms.pk, "active": "on",
    })
    assert response.status_code == 200
    page = _text(response)
    assert ("Le SMS type « Anniversaire » utilise @RDV1 (Date et heure du rendez-vous (02/10/2019 à 11h00)), "
            "@RDVHEURE (Heure du rendez-vous (11h00)) : un traitement « Anniversaires » ne porte sur aucun "
            "rendez-vous, ces champs resteraient vides.") in page
    assert not Treatment.objects.exists()


def test_the_model_refuses_it_too_so_the_admin_does(birthday_sms, admin_client):
    treatment = Treatment(kind=TreatmentKind.RECALL, title="Rappel 6 mois", send_sms=True, sms_template=birthday_sms)
    with pytest.raises(ValidationError) as error:
        treatment.full_clean()
    assert "un traitement « Patients à rappeler » ne porte sur aucun rendez-vous" in str(error.value.message_dict)
    page = admin_client.post(reverse("admin:scheduler_treatment_add"), {
        "kind": "recall", "title": "Rappel 6 mois", "start_date": "2025-01-01", "periodicity": "daily",
        "hour": "08:00", "date_mode": "relative", "offset_from": "0", "offset_to": "0", "send_sms": "on",
        "sms_template": birthday_sms.pk,
    })
    assert page.status_code == 200 and "ne porte sur aucun rendez-vous" in html.unescape(page.content.decode())
    assert not Treatment.objects.exists()


def test_an_appointment_treatment_may_use_them(sms_template):
    make_treatment(title="Rappel", send_sms=True, sms_template=sms_template)  # no error


@pytest.fixture
def address_reminder(category, practitioner):
    template = SmsTemplate.objects.create(category=category, title="Rappel avec adresse",
                                          body="RDV le @RDV1. Votre adresse : @PADR1, @PCPOST @PVILLE")
    return make_treatment(title="Rappel J+1 adresse", send_sms=True, sms_template=template)


def _two_patients(practitioner):
    with_address = PatientFactory(first_name="Emma", last_name="Ablirant", address1="1 rue Haute", postcode="21000",
                                  city="Dijon", mobile="+33684285560")
    without = PatientFactory(first_name="Anaïs", last_name="Adam", address1="", postcode="", city="",
                             mobile="+33611223344")
    for patient in (with_address, without):
        AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10, 0))


def test_tester_lists_missing_data_apart(assistant_client, address_reminder, practitioner):
    _two_patients(practitioner)
    preview = treatment_preview(treatment=address_reminder, run_date=dt.date(2025, 11, 21))
    assert [r.recipient for r in preview.to_send] == ["ABLIRANT Emma"]
    [row] = preview.missing_data
    assert row.recipient == "ADAM Anaïs" and row.missing[0].startswith("@PADR1 (Adresse 1ère ligne du patient)")
    assert preview.not_sent == []
    page = _text(assistant_client.get(reverse("scheduler:test", args=[address_reminder.pk]), {"date": "2025-11-21"}))
    assert "1 laissé de côté pour données manquantes" in page
    assert "Données manquantes : ces messages ne partiraient pas" in page
    assert "@PADR1 (Adresse 1ère ligne du patient) : donnée manquante." in page


def _run(treatment, practitioner, django_capture_on_commit_callbacks):
    from scheduler.models import TreatmentRun

    _two_patients(practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        treatment_run(treatment=treatment, run_date=dt.date(2025, 11, 21))
    return TreatmentRun.objects.get()


def test_the_run_leaves_them_out_with_the_reason(address_reminder, practitioner, sms_outbox,
                                                 django_capture_on_commit_callbacks):
    _run(address_reminder, practitioner, django_capture_on_commit_callbacks)
    skipped = Message.objects.get(recipient_name="ADAM Anaïs")
    assert skipped.status == MessageStatus.SKIPPED and skipped.error_code == "missing-data"
    assert skipped.reason.startswith("Données manquantes : @PADR1")
    assert Message.objects.get(recipient_name="ABLIRANT Emma").status != MessageStatus.SKIPPED


def test_the_trace_lists_them_apart(assistant_client, address_reminder, practitioner, sms_outbox,
                                    django_capture_on_commit_callbacks):
    run = _run(address_reminder, practitioner, django_capture_on_commit_callbacks)
    page = assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    missing = page.split('id="run-missing-data"')[1].split("</table>")[0]
    assert "ADAM Anaïs" in missing and "@PADR1" in missing
    assert "ADAM Anaïs" not in page.split('id="run-messages"')[1].split("</table>")[0]
