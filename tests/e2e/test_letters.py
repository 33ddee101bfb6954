"""A letter printed from a mass mailing, found in the patient's Communication tab and printed
again with "Réimprimer", in headless Chromium."""

import datetime as dt
import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from messaging.mass_mailing import SEARCH_PATIENTS, draft_start, mass_letters_pdf
from messaging.models import Channel
from tests.e2e.conftest import screenshot
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_reprint_a_mass_mailing_letter_from_the_patient_file(login, live_server):
    julie = UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)")
    patient = PatientFactory(last_name="Ablirant", first_name="Emma", address1="12 rue des Lilas",
                             postcode="75011", city="Paris")
    draft = draft_start(search=SEARCH_PATIENTS, channel=Channel.LETTER, ids=[patient.pk])
    draft.body = "Bonjour @PPREN,\n\nLe cabinet sera fermé du 1er au 15 août.\n\nBien cordialement."
    mass_letters_pdf(draft=draft, today=dt.date(2026, 3, 10), printed_by=julie)

    page = login(julie)
    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    row = page.locator("#communication-history tr[data-letter]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Courrier")
    expect(row).to_contain_text("Publipostage – Recherche de patients")
    expect(row).to_contain_text("Courrier du 10/03/2026")
    screenshot(page, "communication-courrier")

    with page.expect_download() as download_info:
        row.get_by_role("link", name="Réimprimer").click()
    download = download_info.value
    assert download.suggested_filename.endswith("2026-03-10.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(open(download.path(), "rb").read())).pages)
    assert "Bonjour Emma," in text and "Le cabinet sera fermé du 1er au 15 août." in text
    assert "12 rue des Lilas" in text and "mardi 10 mars 2026" in text
