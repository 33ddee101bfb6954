"""What the programmeur writes with nobody present speaks the practice's language: the planning
PDF and its email, the list PDF, the trace emailed to the verifiers, the reasons stored with a
run; whoever started the run (its schedule, a page of an English-speaking user, ``runjob``).
Dates and times follow that language ("Saturday 22/11/2025", "10:00" / "samedi", "10h00")."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.utils import translation
from pypdf import PdfReader

from messaging.dispatch import dispatch_pending
from practice.models import Practice
from scheduler.models import RunStatus, TreatmentKind
from scheduler.reports import run_report_when_settled
from scheduler.runner import treatment_preview, treatment_run
from scheduler.tasks import run_treatment
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PatientRefusingSmsFactory,
    PatientWithoutPhoneFactory,
    UserFactory,
)

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db

RUN_DATE = dt.date(2025, 11, 21)  # a Friday; J+1 is Saturday 22/11/2025
NOW = paris(2025, 11, 21, 10, 0)


def _speak(language: str) -> None:
    practice = Practice.get()
    practice.language = language
    practice.save()


def _pdf_text(run) -> str:
    run.document.open("rb")
    try:
        content = run.document.read()
    finally:
        run.document.close()
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def planning(practitioner):
    staff = UserFactory(username="secretariat", email="secretariat@cabinet.test")
    treatment = make_treatment(kind=TreatmentKind.PLANNING, title="Planning du lendemain")
    treatment.staff_recipients.set([staff, UserFactory(username="sansmail", first_name="Paul", last_name="Sansmail",
                                                       email="")])
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                       start=paris(2025, 11, 22, 10, 0))
    return treatment


def _run_planning(planning, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = treatment_run(treatment=planning, run_date=RUN_DATE)
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.DONE, "")
    return run


def test_english_practice_gets_an_english_planning_pdf_and_email(planning, django_capture_on_commit_callbacks):
    _speak("en")
    run = _run_planning(planning, django_capture_on_commit_callbacks)
    text = _pdf_text(run)
    assert "Activity planning – Saturday 22/11/2025" in text
    for header in ("Time", "Patient", "Kind", "Chair", "Pract.", "Status", "Note"):
        assert header in text
    assert "10:00" in text and "10h00" not in text
    assert "Future" in text  # the appointment's state, in English too
    assert "Printed on " in text and "page 1" in text
    for french in ("Planning d'activité", "samedi", "Heure", "Remarque", "Édité le"):
        assert french not in text
    [email] = mail.outbox
    assert email.subject == "Activity planning – Saturday 22/11/2025"
    assert email.body.startswith("Hello,") and "(1 appointment)" in email.body
    # The reason stored with the run (shown on its trace page to anyone).
    assert run.left_out == [{"name": "Paul Sansmail", "reason": "No email address."}]


def test_french_practice_keeps_french_even_when_an_english_user_starts_the_run(
        planning, django_capture_on_commit_callbacks):
    # An English-speaking assistant pressing "Exécuter maintenant": the request's language is
    # English, the run's outputs stay in the practice's French.
    with translation.override("en"):
        run = _run_planning(planning, django_capture_on_commit_callbacks)
        assert translation.get_language() == "en"  # the caller's language is given back
    text = _pdf_text(run)
    assert "Planning d'activité – samedi 22/11/2025" in text
    assert "Heure" in text and "Remarque" in text and "10h00" in text and "Édité le " in text
    assert "Activity planning" not in text and "10:00" not in text
    [email] = mail.outbox
    assert email.subject == "Planning d'activité – samedi 22/11/2025"
    assert email.body.startswith("Bonjour,") and "(1 rendez-vous)" in email.body
    assert run.left_out == [{"name": "Paul Sansmail", "reason": "Aucune adresse email."}]


def test_english_practice_gets_an_english_list_pdf(email_template, practitioner, django_capture_on_commit_callbacks):
    _speak("en")
    treatment = make_treatment(title="Recall list", make_list=True, send_letter=True, letter_template=email_template)
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+590690123456"),
                       practitioner=practitioner, start=paris(2025, 11, 22, 14, 30))
    AppointmentFactory(patient=PatientWithoutPhoneFactory(first_name="Jean", last_name="Sansadresse"),
                       practitioner=practitioner, start=paris(2025, 11, 22, 9, 0))
    with django_capture_on_commit_callbacks(execute=True):
        run = treatment_run(treatment=treatment, run_date=RUN_DATE)
    text = _pdf_text(run)
    assert "Recall list – 22/11/2025" in text and "2 patients" in text
    # Seen in the walk-through: the list printed the stored E.164 form, not the number as dialled.
    assert "06.90.12.34.56" in text and "+590" not in text
    for header in ("Patient", "Appointment", "Mobile", "Email"):
        assert header in text
    assert "22/11/2025 at 14:30" in text and " à " not in text
    assert {"name": "SANSADRESSE Jean – 22/11/2025 at 09:00",
            "reason": "No postal address. No letter."} in run.left_out


def test_english_practice_gets_an_english_trace(reminder, practitioner, sms_outbox,
                                               django_capture_on_commit_callbacks):
    _speak("en")
    reminder.verifiers.set([UserFactory(username="verif", email="verif@cabinet.test")])
    reminder.verifiers_always = True
    reminder.save()
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560"),
                       practitioner=practitioner, start=paris(2025, 11, 22, 10, 0))
    AppointmentFactory(patient=PatientRefusingSmsFactory(first_name="Paul", last_name="Refus"),
                       practitioner=practitioner, start=paris(2025, 11, 22, 11, 0))
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    assert dispatch_pending(now=NOW).sent == 1
    assert run_report_when_settled(run_id=run.pk, now=NOW) == "sent"
    [email] = mail.outbox
    assert email.subject == "[Scheduler] Rappel RDV J+1 (SMS) on Friday 21/11/2025: run"
    body = email.body
    assert "Trace of the treatment “Rappel RDV J+1 (SMS)”" in body
    assert "Run of Friday 21/11/2025, searching 22/11/2025" in body
    assert "Status: Finished" in body
    assert "Targeted: 2 · Sent: 1 · Failed: 0 · Not sent: 1" in body
    assert "SMS to ABLIRANT Emma (06.84.28.55.60): Sent" in body
    # The reason stored with the message (messaging.reasons), in the practice's language too.
    assert "SMS to REFUS Paul (06.84.28.55.60): Not sent – Does not want to receive SMS." in body
    for french in ("Trace du traitement", "Exécution du", "État", "Ciblés", "Envoyé", "vendredi"):
        assert french not in body


def test_french_practice_gets_a_french_trace_whatever_the_workers_language(
        reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks, settings):
    reminder.verifiers.set([UserFactory(username="verif", email="verif@cabinet.test")])
    reminder.verifiers_always = True
    reminder.save()
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560"),
                       practitioner=practitioner, start=paris(2025, 11, 22, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    dispatch_pending(now=NOW)
    with translation.override("en"):
        assert run_report_when_settled(run_id=run.pk, now=NOW) == "sent"
    [email] = mail.outbox
    assert email.subject == "[Programmeur] Rappel RDV J+1 (SMS) du vendredi 21/11/2025 : exécuté"
    assert "Exécution du vendredi 21/11/2025, recherche du 22/11/2025" in email.body
    assert "Ciblés : 1 · Envoyés : 1 · Échecs : 0 · Non envoyés : 0" in email.body
    assert "SMS à ABLIRANT Emma (06.84.28.55.60) : Envoyé" in email.body


def test_the_scheduled_task_and_its_result_speak_the_practices_language(planning, django_capture_on_commit_callbacks,
                                                                        settings):
    # The worker has no language of its own (LANGUAGE_CODE, French here): the practice's wins.
    _speak("en")
    planning.active = True
    planning.save()
    with django_capture_on_commit_callbacks(execute=True):
        result = run_treatment(planning.pk)
    assert result.startswith("Finished (")
    assert mail.outbox[0].subject.startswith("Activity planning – ")


def test_tester_follows_the_user_not_the_practice(reminder, practitioner):
    # What a page shows its user (Tester) is in that user's language.
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                       start=paris(2025, 11, 22, 10, 0))
    with translation.override("en"):
        preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
        assert preview.rows[0].target == "ABLIRANT Emma – 22/11/2025 at 10:00"
    preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert preview.rows[0].target == "ABLIRANT Emma – 22/11/2025 à 10h00"


def test_programmeur_page_labels_follow_the_user(reminder):
    from scheduler.selectors import MissedRun
    from scheduler.windows import Periodicity

    reminder.periodicity, reminder.weekdays = Periodicity.WEEKDAYS, [0, 2]
    reminder.offset_from, reminder.offset_to, reminder.working_days = 1, 3, True
    missed = MissedRun(reminder, dt.date(2025, 12, 5), paris(2025, 12, 5, 18, 0))
    with translation.override("en"):
        assert reminder.period_label == "D+1 to D+3 (working days)"
        assert reminder.periodicity_label == "On Monday, Wednesday"
        assert missed.label == "missed run on 05/12 at 18:00"
    assert reminder.period_label == "de J+1 à J+3 (jours ouvrés)"
    assert reminder.periodicity_label == "Le lundi, mercredi"
    assert missed.label == "exécution manquée le 05/12 à 18h00"


def test_the_periodicity_and_date_mode_choices_follow_the_user(reminder):
    # Seen in the browser walk-through: the Programmeur list said "Tous les jours" to an English
    # user (the choices' labels were plain French strings, never in the catalogue).
    from scheduler.windows import DateMode, Periodicity

    with translation.override("en"):
        assert reminder.periodicity_label == "Every day"
        assert [str(label) for label in Periodicity.labels] == [
            "Every day", "Working days (Monday to Friday)", "Chosen days", "Every month, on the chosen day"]
        assert [str(label) for label in DateMode.labels] == ["From a date calculation", "Fixed dates"]
    assert reminder.periodicity_label == "Tous les jours"


def test_the_treatment_form_criteria_headings_follow_the_user():
    # Seen in the browser walk-through: "Praticiens", "Fauteuils", "Natures" on an English page.
    from scheduler.forms import TreatmentForm

    fields = TreatmentForm.base_fields
    with translation.override("en"):
        assert [str(fields[f].label) for f in ("c_practitioner_ids", "c_chair_ids", "c_nature_ids")] == [
            "Practitioners", "Chairs", "Kinds"]
    assert [str(fields[f].label) for f in ("c_practitioner_ids", "c_chair_ids", "c_nature_ids")] == [
        "Praticiens", "Fauteuils", "Natures"]


def test_a_late_booking_is_explained_in_the_practices_language(sms_template, practitioner,
                                                               django_capture_on_commit_callbacks):
    # Caught up from an English practice's page save: the reason kept with the message and the
    # run's left-out entry are in the practice's language (English here), not the saver's.
    from scheduler import late
    from scheduler.models import TrackedMessage, TreatmentRun

    _speak("en")
    treatment = make_treatment(title="Evening reminder", send_sms=True, sms_template=sms_template,
                               hour=dt.time(18, 0), active=True)
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=treatment, run_date=dt.date(2025, 12, 9))
    TreatmentRun.objects.filter(pk=run.pk).update(started_at=paris(2025, 12, 9, 18, 0))
    booked = AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"),
                                practitioner=practitioner, start=paris(2025, 12, 10, 10, 0))
    early = AppointmentFactory(patient=PatientFactory(first_name="Jean", last_name="Tot"),
                               practitioner=practitioner, start=paris(2025, 12, 10, 7, 30))
    with translation.override("fr"), django_capture_on_commit_callbacks(execute=False):
        late.catch_up(appointment=booked, why=late.BOOKED, now=paris(2025, 12, 9, 19, 2))
        late.catch_up(appointment=early, why=late.BOOKED, now=paris(2025, 12, 9, 21, 0))
        late.catch_up(appointment=early, why=late.BOOKED, now=paris(2025, 12, 9, 21, 5))
    assert TrackedMessage.objects.get(message__appointment=booked).catch_up == (
        "Appointment booked on 09/12 at 19:02, after the run of 09/12 at 18:00.")
    run.refresh_from_db()
    assert run.left_out == [{"name": "TOT Jean – 10/12/2025 at 07:30", "reason": (
        "Appointment booked on 09/12 at 21:00, after the run of 09/12 at 18:00. It starts before the end of "
        "the quiet hours (08:00): no reminder.")}]


def test_event_messages_are_labelled_in_the_practices_language(sms_template, practitioner):
    # A booking saved by a French-speaking assistant in an English practice.
    from messaging.models import Channel, Mailing
    from scheduler.models import AppointmentEvent, EventMessageSetting

    _speak("en")
    EventMessageSetting.objects.create(event=AppointmentEvent.BOOKED, channel=Channel.SMS, sms_template=sms_template)
    with translation.override("fr"):
        AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                           start=paris(2030, 11, 22, 10, 0))
        assert translation.get_language() == "fr"
    [mailing] = Mailing.objects.all()
    assert mailing.label.startswith("Appointment booked (confirmation) – ")


def test_the_time_zone_warning_follows_the_reader():
    from scheduler.checks import time_zone_problem

    practice = Practice.get()
    practice.time_zone = "America/Cayenne"
    practice.save()
    with translation.override("en"):
        assert time_zone_problem().startswith("The practice is set to the America/Cayenne time zone but the scheduler")
    assert time_zone_problem().startswith("Le cabinet est réglé sur le fuseau America/Cayenne mais le programmeur")


def test_english_practice_reads_the_stored_reasons_of_its_trace_in_english(
        reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks):
    # The reason column keeps the French text (exports, search); the trace emailed to an English
    # practice's verifiers renders it in English, as its trace page does.
    from patients.models import AppointmentState

    _speak("en")
    reminder.verifiers.set([UserFactory(username="verif", email="verif@cabinet.test")])
    reminder.verifiers_always = True
    reminder.save()
    appointment = AppointmentFactory(
        patient=PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560"),
        practitioner=practitioner, start=paris(2025, 11, 22, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    appointment.state = AppointmentState.PRESENT
    appointment.save()
    dispatch_pending(now=NOW)
    assert run_report_when_settled(run_id=run.pk, now=NOW) == "sent"
    [email] = mail.outbox
    assert "The patient has already come (appointment marked present)." in email.body
    assert "déjà venu" not in email.body


def test_the_treatment_form_speaks_english_to_an_english_user(client, admin_user):
    from html import unescape

    from django.urls import reverse

    from practice.models import StaffPreference

    StaffPreference.objects.create(user=admin_user, language="en")
    client.force_login(admin_user)  # the language is read at login
    page = unescape(client.get(reverse("scheduler:create"), {"kind": TreatmentKind.APPOINTMENTS}).content.decode())
    for english in ("Period searched", "Sending", "Checkers", "Chairs", "Practitioners", "Monday"):
        assert english in page
    for french in ("Période recherchée", "Modes d'envoi", "Vérificateurs", "Fauteuils", "Praticiens", "Lundi"):
        assert french not in page


def test_a_treatment_refused_on_save_says_why_in_the_users_language(category):
    from django.core.exceptions import ValidationError

    from messaging.models import SmsTemplate
    from scheduler.models import Treatment

    birthday = SmsTemplate.objects.create(category=category, title="Anniversaire", body="RDV le @RDV1")
    treatment = Treatment(kind=TreatmentKind.BIRTHDAYS, title="Anniversaires", start_date=RUN_DATE,
                          hour=dt.time(9, 0), send_sms=True, sms_template=birthday)
    with translation.override("en"), pytest.raises(ValidationError) as raised:
        treatment.clean()
    assert raised.value.message_dict["sms_template"][0].startswith("The SMS template “Anniversaire” uses @RDV1")
