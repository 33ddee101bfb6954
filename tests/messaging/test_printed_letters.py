"""Letters printed from a mass mailing or a treatment run: one history line per patient letter,
listed in the patient's Communication tab, and reprinted from the stored text."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from messaging.mass_mailing import SEARCH_PATIENTS, draft_start, mass_letters_pdf
from messaging.models import Channel, EmailTemplate, LetterOrigin, PrintedLetter, TemplateCategory
from scheduler.models import TreatmentKind
from scheduler.runner import treatment_run
from tests.factories import PatientFactory, UserFactory
from tests.messaging.sending_helpers import make_account
from tests.scheduler.conftest import make_treatment

pytestmark = pytest.mark.django_db
LETTER_DAY = dt.date(2026, 3, 10)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def letter_patients():
    return [
        PatientFactory(first_name=f"Lettre{n}", last_name="Postal", address1=f"{n} rue des Lilas",
                       postcode="75011", city="Paris")
        for n in range(3)
    ]


def mass_draft(patients, body="Bonjour @PPREN,\n\nLe cabinet sera fermé en août.\n\nBien cordialement."):
    draft = draft_start(search=SEARCH_PATIENTS, channel=Channel.LETTER, ids=[p.pk for p in patients])
    draft.body = body
    return draft


def test_printing_a_mass_mailing_records_one_letter_per_patient_once(assistant):
    patients = letter_patients()
    nowhere = PatientFactory(first_name="SansAdresse")
    draft = mass_draft([*patients, nowhere])

    mass_letters_pdf(draft=draft, today=LETTER_DAY, printed_by=assistant)
    # The printer jammed: the same letters printed again are the same letters, not new ones.
    mass_letters_pdf(draft=draft, today=LETTER_DAY, printed_by=assistant)

    letters = PrintedLetter.objects.order_by("patient_id")
    assert [letter.patient_id for letter in letters] == [p.pk for p in patients]  # no address: no letter
    first = letters[0]
    assert first.origin == LetterOrigin.MASS_MAILING
    assert first.text == "Bonjour Lettre0,\n\nLe cabinet sera fermé en août.\n\nBien cordialement."
    assert first.address_lines == ["0 rue des Lilas", "75011 Paris"]
    assert (first.letter_date, first.printed_by) == (LETTER_DAY, assistant)

    # An edited text is another letter.
    draft.body = "Bonjour @PPREN, nouvelle version."
    mass_letters_pdf(draft=draft, today=LETTER_DAY, printed_by=assistant)
    assert PrintedLetter.objects.count() == 6


def test_recording_the_letters_costs_the_same_queries_for_many_patients(django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    few = mass_draft(letter_patients()[:1])
    with CaptureQueriesContext(connection) as few_ctx:
        mass_letters_pdf(draft=few, today=LETTER_DAY)
    many = mass_draft([
        PatientFactory(first_name=f"Autre{n}", address1="2 rue Haute", postcode="69001", city="Lyon") for n in range(8)
    ])
    with django_assert_max_num_queries(len(few_ctx.captured_queries)):
        mass_letters_pdf(draft=many, today=LETTER_DAY)
    assert PrintedLetter.objects.count() == 9


def letter_treatment():
    category = TemplateCategory.objects.get_or_create(name="Divers")[0]
    template = EmailTemplate.objects.create(
        category=category, label="Anniversaire", account=make_account(), subject="Joyeux anniversaire @PPREN",
        body_html="<p>Bonjour @PPREN,</p><p>Tout le cabinet vous souhaite un bel anniversaire.</p>",
    )
    return make_treatment(kind=TreatmentKind.BIRTHDAYS, title="Anniversaires (courrier)", offset_from=0, offset_to=0,
                          send_letter=True, letter_template=template)


def test_a_treatment_run_records_its_letters_once_and_a_reprint_has_the_same_text(
    django_capture_on_commit_callbacks
):
    run_date = dt.date(2025, 11, 21)
    born = PatientFactory(first_name="Emma", last_name="Ablirant", birth_date=dt.date(1990, 11, 21),
                          address1="3 rue Neuve", postcode="13001", city="Marseille")
    treatment = letter_treatment()
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=treatment, run_date=run_date)
        treatment_run(treatment=treatment, run_date=run_date)  # done already: nothing again

    letter = PrintedLetter.objects.get()
    assert (letter.patient_id, letter.origin, letter.letter_date) == (born.pk, LetterOrigin.TREATMENT, run_date)
    assert letter.origin_label == "Anniversaires (courrier) du 21/11/2025"
    assert letter.template_name == "Anniversaire"
    assert letter.subject == "Joyeux anniversaire Emma"
    assert "Tout le cabinet vous souhaite un bel anniversaire." in letter.text

    from messaging.letters import reprint_pdf

    original = treatment.runs.get().document
    original.open("rb")
    try:
        original_text = pdf_text(original.read())
    finally:
        original.close()
    assert pdf_text(reprint_pdf(letter)) == original_text


def test_reprint_returns_the_same_text_as_the_mass_mailing_letter(assistant_client):
    patient = letter_patients()[0]
    content, _ = mass_letters_pdf(draft=mass_draft([patient]), today=LETTER_DAY)
    letter = PrintedLetter.objects.get()

    response = assistant_client.get(reverse("sending:letter-reprint", args=[letter.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    assert pdf_text(response.content) == pdf_text(content)
    assert "mardi 10 mars 2026" in pdf_text(response.content)  # the letter's date, not today's


def test_reprint_needs_login_and_the_sending_permission(client):
    letter_patients()
    mass_letters_pdf(draft=mass_draft(PatientFactory._meta.model.objects.all()), today=LETTER_DAY)
    url = reverse("sending:letter-reprint", args=[PrintedLetter.objects.first().pk])

    assert client.get(url).status_code == 302  # to the login page
    client.force_login(UserFactory(username="sans-role"))
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(username="autre-assistante", role="Assistant(e)"))
    assert client.get(reverse("sending:letter-reprint", args=[999999])).status_code == 404


def test_the_communication_tab_lists_the_letter_with_its_origin(assistant_client, assistant):
    patient = letter_patients()[0]
    mass_letters_pdf(draft=mass_draft([patient]), today=LETTER_DAY, printed_by=assistant)
    letter = PrintedLetter.objects.get()

    page = assistant_client.get(reverse("patients:detail", args=[patient.pk]) + "?onglet=communication")

    html = page.content.decode()
    assert f'data-letter="{letter.pk}"' in html
    assert "Publipostage – Recherche de patients" in html
    assert "Courrier du 10/03/2026" in html
    assert reverse("sending:letter-reprint", args=[letter.pk]) in html
    assert "Réimprimer" in html
