"""Letters printed by a treatment follow the one recipient policy (messaging.policy), like the
letters of a mass mailing: a minor's letter is addressed to the civil guardian, a letter whose
text names the correspondent goes to each correspondent; and writing to correspondents costs the
same queries for 2 patients or 12."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from messaging.models import EmailTemplate, FreeField, PrintedLetter, RecipientRole
from patients.models import CorrespondentLink, PatientCorrespondent
from practice.models import Practice
from scheduler.runner import treatment_plan, treatment_run
from tests.factories import (
    AppointmentFactory,
    CorrespondentFactory,
    GuardianFactory,
    MinorPatientFactory,
    PatientFactory,
)

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db

RUN_DATE = dt.date(2025, 11, 21)  # J+1 = Saturday 22/11


def pdf_text(field) -> str:
    field.open("rb")
    try:
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(field.read())).pages)
    finally:
        field.close()


@pytest.fixture
def letter_type(email_template):
    email_template.subject = "Rendez-vous de @PPREN"
    email_template.body_html = "<p>Bonjour @DCIVIL @DNOM,</p><p>@PPREN est attendu(e) le @RDV1.</p>"
    email_template.save()
    return email_template


def letter_run(template):
    treatment = make_treatment(title="Courrier J+1", send_letter=True, letter_template=template)
    treatment_run(treatment=treatment, run_date=RUN_DATE)
    return treatment


def test_a_minors_letter_is_addressed_to_the_civil_guardian(letter_type, practitioner, django_capture_on_commit_callbacks):
    """The defect: the runner addressed every letter to the patient (a letter to a 12-year-old,
    "Bonjour Enf. ZIMMER"), where the mass mailing's letter goes to the civil guardian."""
    guardian = GuardianFactory(civility="Mme", first_name="Stéphanie", last_name="Ablirant", address1="8 rue Haute",
                               postcode="21000", city="Dijon")
    child = MinorPatientFactory(first_name="Léo", last_name="Ablirant", civil_guardian=guardian)
    AppointmentFactory(patient=child, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment = letter_run(letter_type)

    letter = PrintedLetter.objects.get()
    assert letter.patient_id == child.pk
    assert letter.recipient_name == guardian.display_name
    assert letter.address_lines == ["8 rue Haute", "21000 Dijon"]
    assert letter.text.startswith("Bonjour Mme ABLIRANT,")
    text = pdf_text(treatment.runs.get().document)
    assert "8 rue Haute" in text and "Bonjour Mme ABLIRANT," in text


def test_a_guardian_without_address_leaves_the_letter_out_with_the_reason(letter_type, practitioner,
                                                                          django_capture_on_commit_callbacks):
    child = MinorPatientFactory(civil_guardian=GuardianFactory(address1="", postcode="", city=""),
                                address1="", postcode="", city="")
    AppointmentFactory(patient=child, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    treatment = make_treatment(title="Courrier J+1", send_letter=True, letter_template=letter_type)

    plan = treatment_plan(treatment=treatment, run_date=RUN_DATE)

    assert plan.letters == []
    assert [left.reason for left in plan.left_out] == ["Aucune adresse postale. Pas de courrier."]


def test_a_letter_naming_the_correspondent_goes_to_each_correspondent(letter_type, practitioner,
                                                                      django_capture_on_commit_callbacks):
    FreeField.objects.create(number=1, label="Salutation", ami="Cher ami", confrere="Cher confrère")
    letter_type.recipient_role = RecipientRole.CORRESPONDENT
    letter_type.body_html = "<p>@LIBRE_01 @CORNOM,</p><p>Votre patient @PPREN vient le @RDV1.</p>"
    letter_type.save()
    patient = PatientFactory(first_name="Emma", address1="1 rue Basse", postcode="75011", city="Paris")
    dupuis = CorrespondentFactory(address1="12 avenue Foch", postcode="69006", city="Lyon")
    CorrespondentLink.objects.create(correspondent=dupuis, practitioner=practitioner, relationship="confrere")
    PatientCorrespondent.objects.create(patient=patient, correspondent=dupuis)
    AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        letter_run(letter_type)

    letter = PrintedLetter.objects.get()
    assert (letter.patient_id, letter.recipient_name) == (patient.pk, dupuis.display_name)
    assert letter.address_lines == ["12 avenue Foch", "69006 Lyon"]
    assert letter.text.startswith("Cher confrère DUPUIS,")


def _patients_with_a_correspondent(n, practitioner):
    for i in range(n):
        patient = PatientFactory(first_name=f"Corr{i}")
        doctor = CorrespondentFactory(last_name=f"Confrere{i}", email=f"dr{i}@confreres.test")
        CorrespondentLink.objects.create(correspondent=doctor, practitioner=practitioner, relationship="ami")
        PatientCorrespondent.objects.create(patient=patient, correspondent=doctor)
        AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 8 + i % 10, i % 6 * 10))


def test_writing_to_correspondents_costs_the_same_queries_for_2_patients_or_12(email_template, practitioner):
    """The defect: one query per patient for its correspondents, one per correspondent for its
    relationships with the practitioners (@LIBRE)."""
    FreeField.objects.create(number=1, label="Salutation", ami="Cher ami", confrere="Cher confrère")
    email_template.recipient_role = RecipientRole.CORRESPONDENT
    email_template.body_html = "<p>@LIBRE_01 @CORNOM,</p>"
    email_template.save()
    treatment = make_treatment(title="Compte rendu J+1", send_email=True, email_template=email_template)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            plan = treatment_plan(treatment=treatment, run_date=RUN_DATE)
            # What the outbox merges: the relationship of each correspondent (@LIBRE_01).
            texts = [r.person.relationship_with(r.appointment.practitioner) for b in plan.batches
                     for r in b.recipients]
        return len(ctx.captured_queries), plan, texts

    Practice.get()  # the practice's row, created by the first read
    _patients_with_a_correspondent(2, practitioner)
    few, plan, texts = queries()
    assert sum(len(b.recipients) for b in plan.batches) == 2 and texts == ["ami", "ami"]
    _patients_with_a_correspondent(10, practitioner)
    many, plan, _ = queries()
    assert sum(len(b.recipients) for b in plan.batches) == 12
    assert many == few, (few, many)


def test_the_letters_plan_of_the_mass_mailing_and_the_treatment_agree(letter_type, practitioner):
    """Same person, same address, whichever route prints the letter (one policy)."""
    from messaging.policy import ChannelPlan, audience

    child = MinorPatientFactory(civil_guardian=GuardianFactory(address1="8 rue Haute", postcode="21000", city="Dijon"))
    appt = AppointmentFactory(patient=child, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    treatment = make_treatment(title="Courrier J+1", send_letter=True, letter_template=letter_type)

    [planned] = treatment_plan(treatment=treatment, run_date=RUN_DATE).letters
    [mass] = audience(child, plan=ChannelPlan.only("letter"), appointment=appt).letter
    assert (planned.person, planned.address, planned.role) == (mass.person, mass.address, mass.role)
    assert EmailTemplate.objects.count() == 1


def test_the_same_letter_to_two_correspondents_is_two_lines_of_the_history(letter_type, practitioner,
                                                                           django_capture_on_commit_callbacks):
    # A correspondent letter whose text does not name them: both are printed, and the history
    # keeps both (the key of "the same letter printed twice" must not merge two recipients).
    letter_type.recipient_role = RecipientRole.CORRESPONDENT
    letter_type.body_html = "<p>Votre patient @PPREN vient le @RDV1.</p>"
    letter_type.save()
    patient = PatientFactory(first_name="Emma", address1="1 rue Basse", postcode="75011", city="Paris")
    for name, city in (("Dupuis", "Lyon"), ("Martin", "Dijon")):
        doctor = CorrespondentFactory(last_name=name, address1="12 avenue Foch", postcode="69006", city=city)
        PatientCorrespondent.objects.create(patient=patient, correspondent=doctor)
    AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment = letter_run(letter_type)
    assert "Lyon" in pdf_text(treatment.runs.get().document)
    assert sorted(PrintedLetter.objects.values_list("address_lines", flat=True)) == [
        ["12 avenue Foch", "69006 Dijon"], ["12 avenue Foch", "69006 Lyon"]]
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=treatment, run_date=RUN_DATE)  # done again: nothing twice
    assert PrintedLetter.objects.count() == 2


def test_the_mass_mailing_keeps_both_letters_of_the_same_text_to_two_correspondents(letter_type, practitioner):
    from messaging.mass_mailing import SEARCH_PATIENTS, draft_apply_template, draft_start, mass_letters_pdf
    from messaging.models import Channel

    letter_type.recipient_role = RecipientRole.CORRESPONDENT
    letter_type.body_html = "<p>Votre patient @PPREN est suivi au cabinet.</p>"
    letter_type.save()
    patient = PatientFactory(first_name="Emma", practitioner=practitioner)
    for name, city in (("Dupuis", "Lyon"), ("Martin", "Dijon")):
        doctor = CorrespondentFactory(last_name=name, address1="12 avenue Foch", postcode="69006", city=city)
        PatientCorrespondent.objects.create(patient=patient, correspondent=doctor)
    draft = draft_start(search=SEARCH_PATIENTS, channel=Channel.LETTER, ids=[patient.pk])
    draft_apply_template(draft, letter_type)
    content, _ = mass_letters_pdf(draft=draft, today=RUN_DATE)
    assert "Dijon" in "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert sorted(PrintedLetter.objects.values_list("address_lines", flat=True)) == [
        ["12 avenue Foch", "69006 Dijon"], ["12 avenue Foch", "69006 Lyon"]]
