"""The patient pages as staff click through them, in headless Chromium."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import AppointmentFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def assistant_user(db):
    return UserFactory(username="julie", first_name="Julie", role="Assistant(e)")


def test_find_a_patient_by_name_and_open_the_file(login, live_server, assistant_user):
    PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228", mobile="+33684285560")
    PatientFactory(last_name="Kisiel", first_name="Luka")
    page = login(assistant_user)
    page.get_by_role("link", name="Patients").click()
    page.get_by_role("searchbox", name="Rechercher un patient").fill("zimm")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_text("1 patient pour « zimm »")).to_be_visible()
    page.get_by_role("link", name="ZIMMER").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ZIMMER Alexis")
    expect(page.get_by_text("N° de dossier 2228")).to_be_visible()
    expect(page.get_by_text("06.84.28.55.60")).to_be_visible()
    page.get_by_role("tab", name="Responsables").click()
    expect(page.get_by_text("Le patient lui-même.").first).to_be_visible()


def test_an_invalid_mobile_number_shows_the_french_error(login, live_server, assistant_user):
    patient = PatientFactory(last_name="Ghienne", first_name="Eireen")
    page = login(assistant_user)
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Modifier la fiche").click()
    # The "Responsables" tab has its own "Portable" fields: stay on the patient's tab.
    mobile = page.get_by_role("tabpanel", name="Patient").get_by_label("Portable", exact=True)
    mobile.fill("03 80 32 01 40")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#id_mobile_error")).to_have_text(
        "03.80.32.01.40 n'est pas un numéro de portable : un portable français commence par 06 ou 07 "
        "(outre-mer : 0690, 0691, 0692, 0693, 0694, 0696, 0697 ou 0639)."
    )
    expect(mobile).to_have_class(re.compile(r"\bis-invalid\b"))
    mobile.fill("06 12")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#id_mobile_error")).to_have_text(
        "Saisissez un numéro de portable valide, par exemple 06 84 28 55 60 ou 0690 12 34 56 ; "
        "un numéro étranger s'écrit au format international, par exemple +44 7911 123456."
    )
    mobile.fill("07 81 23 45 67")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("La fiche de GHIENNE Eireen est enregistrée.")).to_be_visible()
    expect(page.get_by_text("07.81.23.45.67")).to_be_visible()


def test_an_overseas_mobile_is_accepted_and_shown_the_french_way(login, live_server, assistant_user):
    patient = PatientFactory(last_name="Hoarau", first_name="Maëva", email="maeva.hoarau@patients.test")
    page = login(assistant_user)
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Modifier la fiche").click()
    mobile = page.get_by_role("tabpanel", name="Patient").get_by_label("Portable", exact=True)
    mobile.fill("+262 692 12 34 56")  # La Réunion, written internationally
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("La fiche de HOARAU Maëva est enregistrée.")).to_be_visible()
    expect(page.get_by_text("06.92.12.34.56")).to_be_visible()
    page.get_by_role("link", name="Modifier la fiche").click()
    expect(page.get_by_role("tabpanel", name="Patient").get_by_label("Portable", exact=True)).to_have_value(
        "0692 12 34 56"
    )
    patient.refresh_from_db()
    assert patient.mobile == "+262692123456"


def test_an_assistant_opening_the_admin_gets_the_403_page(login, live_server, assistant_user):
    page = login(assistant_user)
    response = page.goto(f"{live_server.url}/admin/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    expect(page.get_by_role("link", name="Retour à l'accueil")).to_be_visible()


def test_create_a_minor_with_a_new_guardian_and_a_correspondent(login, live_server, assistant_user):
    from patients.models import Patient
    from tests.factories import CorrespondentFactory

    CorrespondentFactory(last_name="Dupuis", first_name="Henri")
    page = login(assistant_user)
    page.get_by_role("link", name="Nouveau patient").click()
    page.wait_for_load_state()
    patient_tab = page.get_by_role("tabpanel", name="Patient")
    patient_tab.get_by_label(re.compile(r"^\s*Nom\*?\s*$")).fill("Point")
    patient_tab.get_by_label(re.compile(r"^\s*Prénom\*?\s*$")).fill("Estelle")
    patient_tab.get_by_label("Date de naissance").fill("01/02/2014")

    page.get_by_role("tab", name="Responsables").click()
    responsables = page.get_by_role("tabpanel", name="Responsables")
    new_civil = responsables.locator("[data-guardian-new]").first
    expect(new_civil).to_be_hidden()  # only what the chosen mode needs is shown
    responsables.get_by_label("Un nouveau responsable (saisi ci-dessous)").first.check()
    expect(new_civil).to_be_visible()
    new_civil.get_by_label(re.compile(r"^\s*Nom\*?\s*$")).fill("Point")
    new_civil.get_by_label(re.compile(r"^\s*Prénom\*?\s*$")).fill("Sophie")
    new_civil.get_by_label("Portable").fill("07 81 23 45 67")
    responsables.get_by_label("Le responsable civil").check()

    page.get_by_role("tab", name="Correspondants").click()
    correspondants = page.get_by_role("tabpanel", name="Correspondants")
    correspondants.get_by_role("button", name="Ajouter un correspondant").click()
    correspondants.locator("select").last.select_option(label="Dr DUPUIS Henri")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.get_by_text("La fiche de POINT Estelle est créée")).to_be_visible()
    # The tabs switch by script: a click before the new page's scripts ran is lost.
    page.wait_for_load_state()
    page.get_by_role("tab", name="Responsables").click()
    expect(
        page.get_by_role("tabpanel", name="Responsables").get_by_text("07.81.23.45.67").first
    ).to_be_visible()
    patient = Patient.objects.get(last_name="Point")
    assert patient.birth_date.isoformat() == "2014-02-01"
    assert patient.civil_guardian.first_name == "Sophie"
    assert patient.financial_guardian == patient.civil_guardian
    assert [c.last_name for c in patient.correspondents.all()] == ["Dupuis"]


def test_a_click_anywhere_on_a_patient_row_opens_the_file(login, live_server, assistant_user):
    PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228", birth_date=dt.date(1985, 4, 12))
    page = login(assistant_user)
    page.goto(f"{live_server.url}/patients/?q=zimm")
    expect(page.get_by_text("1 patient pour « zimm »")).to_be_visible()
    page.get_by_role("cell", name="12/04/1985").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ZIMMER Alexis")
    page.go_back()
    page.get_by_role("link", name="2228").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ZIMMER Alexis")


def test_the_appointment_results_fit_a_1400_px_screen(login, live_server, assistant_user):
    """Fifteen columns and a long email: the Email column stays inside the grid, no sideways scroll."""
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(
        start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(9, 0))),
        patient=PatientFactory(
            last_name="Delacroix-Montgolfier",
            first_name="Marie-Bernadette",
            email="marie-bernadette.delacroix-montgolfier@cabinet-exemple.test",
        ),
    )
    page = login(assistant_user)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/recherches/rendez-vous/")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    grid = page.locator("#results").locator("xpath=..")
    assert grid.evaluate("el => el.scrollWidth <= el.clientWidth"), "the grid scrolls sideways"
    email = page.get_by_role("columnheader", name="Email").bounding_box()
    box = grid.bounding_box()
    assert email["x"] + email["width"] <= box["x"] + box["width"] + 1
