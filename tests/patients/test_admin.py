"""The Django admin on demo data: every changelist answers, searches use the indexes, and the
patient list does not issue more queries as the rows grow."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients import demo
from patients.models import Appointment, Guardian, Patient
from practice.models import Practice
from tests.factories import (
    AppointmentFactory,
    GuardianFactory,
    MinorPatientFactory,
    PatientFactory,
    PractitionerFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_data(db):
    demo.seed_demo(patients=80, appointments=400, now=timezone.now())


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_changelist_and_change_page_answers_for_an_administrator(admin_client, admin_user, demo_data):
    assert not admin_user.is_superuser, "the role's permissions are what is tested, not a superuser"
    checked = []
    for model in admin.site._registry:
        response = admin_client.get(_url(model, "changelist"))
        assert response.status_code == 200, (model, response.status_code)
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            response = admin_client.get(_url(model, "change", obj.pk))
            assert response.status_code == 200, (model, response.status_code)
        checked.append(model._meta.model_name)
    expected = {
        "patient",
        "appointment",
        "guardian",
        "family",
        "practitioner",
        "chair",
        "nature",
        "correspondent",
        "correspondentlink",
        "patientcorrespondent",
        "patientimage",
        "practice",
    }
    assert expected <= set(checked)


def test_the_patient_list_issues_the_same_queries_for_10_or_60_patients(
    admin_client, django_assert_max_num_queries
):
    doctors = [PractitionerFactory(initials=f"D{i}") for i in range(3)]

    def add(n):
        for i in range(n):
            if i % 2:
                MinorPatientFactory(practitioner=doctors[i % 3])
            else:
                PatientFactory(practitioner=doctors[i % 3])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(_url(Patient, "changelist"))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    add(10)
    small = queries()
    add(50)
    assert Patient.objects.count() == 60
    with django_assert_max_num_queries(small):
        response = admin_client.get(_url(Patient, "changelist"))
    assert response.context["cl"].result_count == 60


def test_the_appointment_list_queries_do_not_grow_with_rows(admin_client):
    def add(n: int) -> None:
        for i in range(n):
            AppointmentFactory(
                patient=PatientFactory(last_name=f"Nom{i}"), practitioner=PractitionerFactory()
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(_url(Appointment, "changelist"))
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == Appointment.objects.count()  # one page
        return len(ctx.captured_queries)

    add(5)
    before = queries()
    add(40)
    assert queries() <= before


def test_the_patient_search_finds_names_without_accents_file_numbers_and_phones(admin_client):
    helene = PatientFactory(
        last_name="Lefèvre", first_name="Hélène", file_number="4521", mobile="+33684285560"
    )
    PatientFactory(last_name="Martin", first_name="Paul", file_number="77", mobile="+33611223344")
    url = _url(Patient, "changelist")
    for term in ("lefev", "LEFEVRE hel", "4521", "06 84 28 55 60", "06.84.28.55.60"):
        results = list(admin_client.get(url, {"q": term}).context["cl"].result_list)
        assert results == [helene], term


def test_the_patient_list_shows_french_phone_numbers_and_filters_minors(admin_client):
    PatientFactory(last_name="Adulte", mobile="+33684285560")
    child = MinorPatientFactory(last_name="Enfant")
    url = _url(Patient, "changelist")
    assert "06.84.28.55.60" in admin_client.get(url).content.decode()
    minors = list(admin_client.get(url, {"age": "mineur"}).context["cl"].result_list)
    assert minors == [child]
    without_mobile = list(admin_client.get(url, {"portable": "non"}).context["cl"].result_list)
    assert without_mobile == [child]


def test_foreign_keys_to_big_tables_are_autocompletes_not_selects(admin_client):
    patients = [PatientFactory(last_name=f"Nom{i}") for i in range(5)]
    form = admin_client.get(_url(Appointment, "add")).content.decode()
    assert 'class="admin-autocomplete' in form
    assert all(p.display_name not in form for p in patients), "no <option> per patient"

    answer = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "patients", "model_name": "appointment", "field_name": "patient", "term": "nom3"},
    )
    assert answer.status_code == 200
    assert [r["id"] for r in answer.json()["results"]] == [str(patients[3].pk)]

    patient_form = admin_client.get(_url(Patient, "change", patients[0].pk)).content.decode()
    assert patient_form.count('class="admin-autocomplete') >= 3  # family and both guardians


def test_the_patient_page_shows_correspondents_images_and_appointments_inline(admin_client, demo_data):
    patient = Patient.objects.filter(appointments__isnull=False).first()
    page = admin_client.get(_url(Patient, "change", patient.pk))
    prefixes = {formset.formset.prefix for formset in page.context["inline_admin_formsets"]}
    assert {"correspondent_links", "images", "appointments"} <= prefixes
    appointment = patient.appointments.order_by("-start").first()
    assert _url(Appointment, "change", appointment.pk) in page.content.decode()


def test_the_guardian_page_lists_the_wards(admin_client):
    guardian = GuardianFactory(last_name="Parent")
    child = MinorPatientFactory(civil_guardian=guardian, first_name="Léon")
    page = admin_client.get(_url(Guardian, "change", guardian.pk)).content.decode()
    assert "Léon" in page and _url(Patient, "change", child.pk) in page
    found = list(
        admin_client.get(_url(Guardian, "changelist"), {"q": "06 13 68 29 82"}).context["cl"].result_list
    )
    assert found == [guardian]


def test_the_practice_is_a_single_row_that_cannot_be_added_twice_nor_deleted(admin_client):
    practice = Practice.get()
    changelist = admin_client.get(_url(Practice, "changelist")).content.decode()
    assert _url(Practice, "add") not in changelist
    assert admin_client.get(_url(Practice, "add")).status_code == 403
    assert admin_client.get(_url(Practice, "delete", practice.pk)).status_code == 403
    response = admin_client.post(
        _url(Practice, "change", practice.pk),
        {
            "name": "Cabinet des Lilas",
            "address1": "",
            "address2": "",
            "postcode": "75020",
            "city": "Paris",
            "phone": "01 43 12 34 56",
            "email": "",
            "website": "",
            "time_zone": "Europe/Paris",
            "sms_sender_name": "Lilas",
            "sms_default_patient": "on",
            "quiet_start": "20:00",
            "quiet_end": "08:00",
        },
    )
    assert response.status_code == 302
    assert Practice.get().name == "Cabinet des Lilas" and Practice.objects.count() == 1
    assert Practice.get().sms_sender_name == "Lilas"


def test_the_practice_can_be_created_in_the_admin_when_missing(admin_client):
    Practice.objects.all().delete()
    assert admin_client.get(_url(Practice, "add")).status_code == 200


def test_an_assistant_cannot_open_the_admin_changelists(assistant_client):
    assert assistant_client.get(_url(Patient, "changelist")).status_code == 403


def test_the_appointment_search_uses_the_patient_search(admin_client):
    lefevre = PatientFactory(
        last_name="Lefèvre", first_name="Hélène", file_number="4521", mobile="+33684285560"
    )
    other = PatientFactory(last_name="Martin", file_number="77", mobile="+33611223344")
    mine = AppointmentFactory(patient=lefevre)
    AppointmentFactory(patient=other)
    url = _url(Appointment, "changelist")
    for term in ("lefev", "4521", "06 84 28 55 60"):
        assert list(admin_client.get(url, {"q": term}).context["cl"].result_list) == [mine], term
