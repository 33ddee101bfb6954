"""The interface in both languages, in headless Chromium (whose own language is English: the
practice's French must win over it). A user who chose English walks the main pages and reads
English; a French user walks the same pages and reads French; on the English pages no French
string of the catalogue is left, and the page chrome (headings, buttons, labels, menus, table
heads) holds no French word."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from practice.models import StaffPreference
from tests.e2e.conftest import screenshot
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PO = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"

# The page chrome: what the interface itself writes, not the data it shows.
CHROME = "h1, h2, h3, h4, h5, button, label, th, legend, option, .nav-link, .dropdown-item, .btn, .nav-tabs a, .form-text, .badge, .alert, .text-muted"
# Words only French chrome uses (never in the English catalogue, never in the test's data).
FRENCH_WORDS = re.compile(
    r"\b(le|la|les|des|du|une|et|pour|avec|aucun|aucune|envoyer|rechercher|enregistrer|annuler|nouveau|"
    r"nouvelle|modifier|supprimer|fiche|rendez-vous|recherche|paramétrage|déconnexion|accueil)\b",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def french_msgids() -> list[str]:
    """The catalogue's French strings that read differently in English and are long enough not to
    be found inside data by chance ("Patients" and "Messages" are the same in both)."""
    po = polib.pofile(str(PO))
    found = []
    for entry in po.translated_entries():
        text = entry.msgid
        if entry.msgstr == text or "%" in text or "{" in text or "<" in text or len(text) < 14:
            continue
        found.append(text)
    return found


@pytest.fixture
def practice_data():
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228", practitioner=prat,
                             mobile="+33684285560", email="alexis@patients.test")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(10, 0)))
    AppointmentFactory(patient=patient, practitioner=prat, start=start)
    return patient


def _walk(live_server, patient) -> list[str]:
    """The pages walked in both languages (paths)."""
    from django.urls import reverse

    return [
        "/",
        "/langue/",
        "/mot-de-passe/",
        reverse("patients:list") + "?q=zimm",
        patient.get_absolute_url(),
        reverse("patients:edit", args=[patient.pk]),
        reverse("patients:planning"),
        reverse("patients:appointment_create"),
        reverse("search:appointments"),
        reverse("search:patients"),
        reverse("sending:sms", args=[patient.pk]),
        reverse("sending:email", args=[patient.pk]),
        reverse("sending:history", args=[patient.pk]),
        reverse("messaging:index"),
        reverse("sending:replies"),
        reverse("mass:list"),
        reverse("campaigns:list"),
        reverse("campaigns:create"),
        reverse("scheduler:index"),
        reverse("scheduler:create"),
        reverse("scheduler:events"),
        reverse("messaging:settings"),
        reverse("messaging:sms_list"),
        reverse("messaging:sms_create"),
        reverse("messaging:email_list"),
        reverse("messaging:email_create"),
        reverse("messaging:categories"),
        reverse("messaging:signatures"),
        reverse("messaging:custom_fields"),
        reverse("messaging:accounts"),
        reverse("messaging:account_create"),
        reverse("messaging:sms_settings"),
        "/page-qui-n-existe-pas/",
    ]


# Data, not chrome: the factory's appointment kind, the template category the migrations create,
# and the email providers' own names.
DATA = {"Nouveau patient", "NP – Nouveau patient", "Rendez-vous", "SFR (et Neuf, Cegetel, Club Internet)", "La Poste"}


def _french_left(page, french_msgids) -> list[str]:
    text = page.locator("body").inner_text()
    leftovers = [msgid for msgid in french_msgids if msgid in text and msgid not in DATA]
    for chrome in page.locator(CHROME).all_inner_texts():
        # A quoted example of what patients write or receive stays French («Répondez OUI…»).
        unquoted = re.sub(r"[«“][^»”]*[»”]", "", chrome)
        if chrome.strip() not in DATA and FRENCH_WORDS.search(unquoted):
            leftovers.append(f"chrome: {chrome.strip()!r}")
    return leftovers


def test_an_english_user_walks_the_main_pages_in_english(login, live_server, practice_data, french_msgids):
    user = UserFactory(username="anna", first_name="Anna", role="Administrateur")
    StaffPreference.objects.create(user=user, language="en")
    page = login(user)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello Anna")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    problems = {}
    for path in _walk(live_server, practice_data):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        screenshot(page, "en" + path.replace("/", "_").replace("?", "_"))
        if left := _french_left(page, french_msgids):
            problems[path] = left
    assert not problems, "French left on English pages:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_a_french_user_walks_the_same_pages_in_french(login, live_server, practice_data):
    user = UserFactory(username="julie", first_name="Julie", role="Administrateur")
    page = login(user)
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Julie")
    for path in _walk(live_server, practice_data):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()


def test_a_user_switches_to_english_from_the_user_menu_and_back(login, live_server):
    user = UserFactory(username="marc", first_name="Marc", role="Assistant(e)")
    page = login(user)
    page.locator("#user-menu").click()
    page.get_by_role("link", name=re.compile("^Langue")).click()
    page.get_by_label("English").check()
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Interface language saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello Marc")
    # Kept with the account: signing out shows the login page in English, signing in again too.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill("marc")
    page.get_by_label("Password").fill("motdepasse-test")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello Marc")
    # The menu opens by script: the heading is there before the page's scripts (a click before
    # them is lost, as for a person who clicks too early; the test would then wait in vain).
    page.wait_for_load_state()
    page.locator("#user-menu").click()
    page.get_by_role("link", name=re.compile("^Language")).click()
    page.get_by_label("Practice language (Français)").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Marc")


def test_the_login_page_switches_language_before_signing_in(page, live_server):
    page.goto(f"{live_server.url}/connexion/")
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_role("button", name="Français").click()
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
