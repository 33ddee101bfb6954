"""What the browser walk-through of the demo found French on English pages (or English written
the French way), read through the Django test client: each page for a user who chose English,
and the same page still French for the others."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from practice.models import StaffPreference
from tests.factories import AppointmentFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(client):
    """A client signed in as an administrator who chose English."""
    user = UserFactory(username="anna", first_name="Anna", role="Administrateur")
    StaffPreference.objects.create(user=user, language="en")
    client.force_login(user)
    return client


@pytest.fixture
def french():
    """Another client, signed in as an administrator who kept the practice's French."""
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(username="julie", first_name="Julie", role="Administrateur"))
    return client


def text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_email_window_is_titled_and_sized_in_the_users_language(english, french):
    patient = PatientFactory(email="alexis@patients.test")
    page = text(english.get(f"/envois/patient/{patient.pk}/email/"))
    assert re.search(r'<h1[^>]*>Sending an email</h1>', page)
    assert "10 MB per file" in page and 'data-max-label="10 MB"' in page
    page = text(french.get(f"/envois/patient/{patient.pk}/email/"))
    assert re.search(r"<h1[^>]*>Envoi d'email</h1>", page)
    assert "10 Mo au plus par fichier" in page


def test_a_new_campaign_is_named_in_the_users_language(english, french):
    now = timezone.localtime()
    page = text(english.get("/campagnes/nouvelle/"))
    assert f'value="Campaign of {now:%d/%m/%Y}' in page
    page = text(french.get("/campagnes/nouvelle/"))
    assert f'value="Campagne du {now:%d/%m/%Y}' in page


def test_the_search_counter_names_its_rows_in_the_users_language(english, french):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    day = tomorrow.isoformat()
    # The script rewrites the counter from these attributes at each tick: they were French.
    page = text(english.get(f"/recherches/rendez-vous/?date_from={day}&date_to={day}&states=futur"))
    assert 'data-noun="appointment" data-plural="appointments"' in page
    page = text(french.get(f"/recherches/rendez-vous/?date_from={day}&date_to={day}&states=futur"))
    assert 'data-noun="rendez-vous" data-plural="rendez-vous"' in page
    assert 'data-noun="patients" data-plural="patients"' not in text(english.get("/recherches/patients/?q=x"))


def test_euros_and_sizes_are_written_the_readers_way():
    from messaging.cost import Estimate, format_eur
    from practice.middleware import size_label
    from practice.uploads import mb_label

    with translation.override("en"):
        assert format_eur(Decimal("1234.5")) == "€1,234.50"
        assert format_eur(Decimal("0.0725"), price=True) == "€0.0725"
        assert Estimate(price=Decimal("0.08"), messages=1, parts=2).total_text == "≈ €0.16 for 2 SMS"
        assert (mb_label(2.5), mb_label(10), size_label(50_000)) == ("2.5 MB", "10 MB", "49 KB")
    with translation.override("fr"):
        assert format_eur(Decimal("1234.5")) == "1\u202f234,50\u00a0€"
        assert (mb_label(2.5), mb_label(10), size_label(50_000)) == ("2,5 Mo", "10 Mo", "49 Ko")


def test_a_printed_list_says_its_language(english):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    day = tomorrow.isoformat()
    page = text(english.get(f"/recherches/rendez-vous/?date_from={day}&date_to={day}&states=futur&impression=1"))
    assert '<html lang="en">' in page and "<title>Appointment list</title>" in page


def test_the_administration_names_its_sections_in_the_users_language(client):
    # Seen in the walk-through: "CABINET", "MESSAGES (SMS ET EMAILS)", "PATIENTS ET RENDEZ-VOUS",
    # "PROGRAMMEUR" and django-q2's "TÂCHES" headed an English administrator's admin index.
    user = UserFactory(username="root", role="Administrateur", is_superuser=True)
    StaffPreference.objects.create(user=user, language="en")
    client.force_login(user)
    page = text(client.get("/admin/"))
    for heading in ("Practice", "Messages (SMS and emails)", "Patients and appointments", "Scheduler", "Tasks"):
        assert f">{heading}</a>" in page, heading
    for french in ("Patients et rendez-vous", "Messages (SMS et emails)", "Tâches"):
        assert french not in page


def test_the_production_404_page_reads_in_english(english, settings):
    settings.DEBUG = False
    response = english.get("/patients/999999/")
    assert response.status_code == 404
    page = html.unescape(response.content.decode())
    assert '<html lang="en">' in page and "Page introuvable" not in page and 'id="mainnav"' in page
    assert "Page not found" in page and "Back to the home page" in page


def test_the_email_template_form_names_its_recipient_field_in_english(english):
    # Seen in the walk-through: "Destinataire*" on the English "New email template" page.
    page = text(english.get("/messages/parametrage/emails/nouveau/"))
    assert re.search(r'<label[^>]*for="id_recipient_role"[^>]*>\s*Recipient', page)
    assert "Destinataire" not in page
