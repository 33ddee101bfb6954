"""The Django admin on demo data: every changelist answers, searches use the indexes, and the
patient list does not issue more queries as the rows grow."""

from __future__ import annotations

import datetime as dt

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


@pytest.fixture
def programmeur_and_campaign_data(demo_data, admin_user):
    """A row of every scheduler and campaign model, so that their change pages are opened too."""
    from messaging.campaigns import campaign_create, saved_message_save
    from messaging.models import SearchDefault, SmsTemplate
    from scheduler.demo import ensure_demo_treatments
    from scheduler.models import EventMessageSetting, TrackedMessage
    from scheduler.runner import treatment_run
    from scheduler.services import heartbeat_record

    reminder = ensure_demo_treatments()[0]
    AppointmentFactory(
        start=timezone.now() + dt.timedelta(days=1), patient=PatientFactory(mobile="+33684285560")
    )
    treatment_run(treatment=reminder, run_date=timezone.localdate())
    assert TrackedMessage.objects.exists()
    sms = SmsTemplate.objects.order_by("pk").first()
    EventMessageSetting.objects.create(event="booked", channel="sms", sms_template=sms)
    heartbeat_record(host="serveur", pid=1)
    campaign_create(
        name="Fermeture d'août", channel="sms", kind="soins", body="Le cabinet ferme en août.",
        created_by=admin_user, pasted="06 12 34 56 78",
    )
    saved_message_save(name="Fermeture", channel="sms", body="Le cabinet ferme en août.")
    SearchDefault.objects.create(search="rendez-vous", channel="sms", sms_template=sms)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_changelist_and_change_page_answers_for_an_administrator(
    admin_client, admin_user, demo_data, programmeur_and_campaign_data
):
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
        # The programmeur and the campaigns (issue 2: every model in the admin).
        "treatment",
        "treatmentrun",
        "trackedmessage",
        "eventmessagesetting",
        "heartbeat",
        "campaign",
        "campaignrecipient",
        "savedmessage",
        "searchdefault",
    }
    assert expected <= set(checked)
    registered = {model._meta.model_name: model for model in admin.site._registry}
    for name in expected:
        assert registered[name]._default_manager.exists(), f"no {name} row: its change page was not opened"
    from django.apps import apps

    for app in ("patients", "messaging", "scheduler", "practice"):
        for model in apps.get_app_config(app).get_models():
            inline_only = model._meta.model_name == "attachmentrule"  # edited inside its email type
            assert model in admin.site._registry or inline_only, f"{model.__name__} is not in the admin"


def test_the_run_trace_and_tracked_messages_are_read_only(admin_client, programmeur_and_campaign_data):
    from scheduler.models import TrackedMessage, TreatmentRun

    for model in (TreatmentRun, TrackedMessage):
        obj = model.objects.order_by("pk").first()
        page = admin_client.get(_url(model, "change", obj.pk))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403
        assert admin_client.get(_url(model, "delete", obj.pk)).status_code == 403
        assert admin_client.get(_url(model, "add")).status_code == 403
    run = TreatmentRun.objects.first()
    assert reverse("scheduler:run", args=[run.pk]) in admin_client.get(_url(TreatmentRun, "changelist")).content.decode()


def test_a_treatment_saved_in_the_admin_gets_its_schedule(admin_client, programmeur_and_campaign_data):
    from django_q.models import Schedule

    from scheduler.models import Treatment

    treatment = Treatment.objects.get(title="Rappel RDV J+1 (SMS)")
    page = admin_client.get(_url(Treatment, "change", treatment.pk))
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value is False:
            continue
        if isinstance(value, list):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    data["weekdays"] = "[]"
    data["active"] = "on"
    response = admin_client.post(_url(Treatment, "change", treatment.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    treatment.refresh_from_db()
    assert treatment.active and Schedule.objects.filter(pk=treatment.schedule_id, func__contains="run_treatment").exists()


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
            "purpose_period_days": "5",
        },
    )
    assert response.status_code == 302
    assert Practice.get().name == "Cabinet des Lilas" and Practice.objects.count() == 1
    assert Practice.get().purpose_period_days == 5
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
