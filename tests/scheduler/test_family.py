"""One SMS per family and day (scheduler.family): a parent and two children on Wednesday
afternoon get one SMS listing them (@RDVLISTE); it counts as the reminder of each appointment,
Tester and the trace show the grouping, the last-moment check merges it again without an
appointment that no longer holds, and a reply answers all of them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import translation

from messaging.dispatch import dispatch_pending
from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send
from messaging.merge import appointment_list
from messaging.models import Channel, CoveredAppointment, Message, MessageStatus, Purpose, SmsTemplate
from messaging.replies import appointments_answered_by
from patients.models import Appointment, AppointmentState
from scheduler.models import TrackedMessage
from scheduler.runner import treatment_preview, treatment_run
from tests.factories import AppointmentFactory, GuardianFactory, MinorPatientFactory, PatientFactory

from .conftest import PARIS, make_treatment, paris

pytestmark = pytest.mark.django_db

RUN_DATE = dt.date(2025, 12, 9)  # Tuesday: J+1 is Wednesday 10/12
EVENING = paris(2025, 12, 9, 18, 5)  # the run's messages leave (quiet hours from 20h00)
FAMILY_TEXT = "Rappel : @RDVLISTE le @RDVDATE avec le @PRAT. Cabinet @CABNOM"
MUM = "+33613682982"


def wednesday(hour, minute=0):
    return paris(2025, 12, 10, hour, minute)


@pytest.fixture
def family_template(category):
    category.purpose = Purpose.REMINDER
    category.save()
    return SmsTemplate.objects.create(category=category, title="Rappel famille", body=FAMILY_TEXT)


@pytest.fixture
def family_reminder(family_template):
    return make_treatment(title="Rappel RDV J+1 (SMS famille)", send_sms=True, sms_template=family_template,
                          group_family=True, hour=dt.time(18, 0))


@pytest.fixture
def family(practitioner):
    """Stéphanie (a patient herself) and her children Léo and Emma, whose SMS go to her mobile."""
    mum = GuardianFactory(first_name="Stéphanie", mobile=MUM)
    stephanie = PatientFactory(first_name="Stéphanie", last_name="Ablirant", mobile=MUM)
    leo = MinorPatientFactory(first_name="Léo", last_name="Ablirant", civil_guardian=mum)
    emma = MinorPatientFactory(first_name="Emma", last_name="Ablirant", civil_guardian=mum)
    return {
        "leo": AppointmentFactory(patient=leo, practitioner=practitioner, start=wednesday(14)),
        "emma": AppointmentFactory(patient=emma, practitioner=practitioner, start=wednesday(14, 30)),
        "stephanie": AppointmentFactory(patient=stephanie, practitioner=practitioner, start=wednesday(15)),
    }


def _run(treatment, capture):
    with capture(execute=False):
        return treatment_run(treatment=treatment, run_date=RUN_DATE)


def test_the_list_code_names_each_appointment_in_french(practitioner):
    leo = AppointmentFactory(patient=PatientFactory(first_name="Léo"), practitioner=practitioner, start=wednesday(14))
    emma = AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                              start=wednesday(14, 30))
    hugo = AppointmentFactory(patient=PatientFactory(first_name="Hugo"), practitioner=practitioner, start=wednesday(16))
    leo_again = AppointmentFactory(patient=leo.patient, practitioner=practitioner, start=wednesday(17))
    assert appointment_list([emma, leo], PARIS) == "RDV de Léo à 14h00 et d'Emma à 14h30"
    assert appointment_list([leo], PARIS) == "RDV de Léo à 14h00"
    assert appointment_list([hugo, emma, leo], PARIS) == "RDV de Léo à 14h00, d'Emma à 14h30 et d'Hugo à 16h00"
    assert appointment_list([leo, leo_again], PARIS) == "RDV de Léo à 14h00 et à 17h00"


def test_a_family_gets_one_sms_listing_its_appointments_and_each_counts_as_reminded(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    messages = list(Message.objects.filter(mailing__in=run.mailings.all()))
    assert len(messages) == 1
    sms = messages[0]
    assert sms.to == MUM and sms.appointment_id == family["leo"].pk
    text = ("Rappel : RDV de Léo à 14h00, d'Emma à 14h30 et de Stéphanie à 15h00 le 10/12/2025 "
            "avec le Dr MOLAIRE Marc. Cabinet ")
    assert sms.body.startswith(text)
    assert sorted(CoveredAppointment.objects.filter(message=sms).values_list("appointment_id", flat=True)) == sorted(
        a.pk for a in family.values())
    dispatch_pending(now=EVENING)
    assert [(s.to, s.body) for s in sms_outbox] == [(MUM, sms.body)]

    # The reply to it answers the three appointments.
    assert appointments_answered_by(sms) == [family["leo"], family["emma"], family["stephanie"]]

    # Each appointment had its reminder: a mass mailing of the same reminders sends none again,
    # each naming the family's SMS.
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[a.pk for a in family.values()])
    draft.sms_template_id, draft.body = family_reminder.sms_template.pk, FAMILY_TEXT
    with django_capture_on_commit_callbacks(execute=False):
        mailing = mass_mailing_send(draft=draft, requested_by=None)
    again = list(Message.objects.filter(mailing=mailing))
    assert [m.reason for m in again] == [
        "Rappel déjà envoyé le 09/12 à 18h05 par le traitement « Rappel RDV J+1 (SMS famille) – 09/12/2025 »."] * 3
    # And a second treatment run for the same day (another treatment) neither.
    other = make_treatment(title="Autre rappel", send_sms=True, sms_template=family_reminder.sms_template)
    second = _run(other, django_capture_on_commit_callbacks)
    assert {m.status for m in Message.objects.filter(mailing__in=second.mailings.all())} == {MessageStatus.SKIPPED}
    dispatch_pending(now=EVENING + dt.timedelta(minutes=5))
    assert len(sms_outbox) == 1


def test_without_the_option_or_on_other_days_each_appointment_has_its_sms(
    family, family_reminder, sms_template, django_capture_on_commit_callbacks, practitioner
):
    plain = make_treatment(title="Sans regroupement", send_sms=True, sms_template=sms_template)
    assert len(treatment_preview(treatment=plain, run_date=RUN_DATE).to_send) == 3
    # Stéphanie's appointment on Thursday instead: another day, another SMS (J+1 to J+2).
    Appointment.objects.filter(pk=family["stephanie"].pk).update(start=paris(2025, 12, 11, 9))
    family_reminder.offset_to = 2
    family_reminder.save()
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    bodies = sorted(Message.objects.filter(mailing__in=run.mailings.all()).values_list("body", flat=True))
    assert [b.split(" le ")[0] for b in bodies] == ["Rappel : RDV de Léo à 14h00 et d'Emma à 14h30",
                                                     "Rappel : RDV de Stéphanie à 09h00"]


def test_tester_and_the_trace_show_the_grouping(family, family_reminder, assistant_client,
                                                django_capture_on_commit_callbacks):
    preview = treatment_preview(treatment=family_reminder, run_date=RUN_DATE)
    assert len(preview.to_send) == 1
    row = preview.to_send[0]
    assert row.text.startswith("Rappel : RDV de Léo à 14h00, d'Emma à 14h30 et de Stéphanie à 15h00 le 10/12/2025")
    assert len(row.grouped) == 3
    page = assistant_client.get(reverse("scheduler:test", args=[family_reminder.pk]), {"date": RUN_DATE.isoformat()})
    html = page.content.decode()
    assert "1 SMS pour 3 rendez-vous (même numéro, même jour)" in html
    assert "ABLIRANT Emma – 10/12/2025 à 14h30" in html

    run = _run(family_reminder, django_capture_on_commit_callbacks)
    html = assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    assert "1 SMS pour 3 rendez-vous" in html and "ABLIRANT Emma – 10/12/2025 à 14h30" in html


def test_a_member_cancelled_before_it_leaves_is_taken_out_and_the_sms_merged_again(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    sms = Message.objects.get(mailing__in=run.mailings.all())
    # Written without save(): no signal, only the last-moment check sees it.
    Appointment.objects.filter(pk=family["emma"].pk).update(state=AppointmentState.CANCELLED)
    dispatch_pending(now=EVENING)
    sms.refresh_from_db()
    assert sms.status == MessageStatus.SENT
    assert sms.body.startswith("Rappel : RDV de Léo à 14h00 et de Stéphanie à 15h00 le 10/12/2025")
    assert [s.body for s in sms_outbox] == [sms.body]
    assert sms.note == "Rendez-vous retirés : ABLIRANT Emma : rendez-vous maintenant « Annulé »"
    assert appointments_answered_by(sms) == [family["leo"], family["stephanie"]]


def test_the_leader_cancelled_with_save_passes_the_sms_to_the_others(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    sms = Message.objects.get(mailing__in=run.mailings.all())
    leo = family["leo"]
    leo.state = AppointmentState.CANCELLED
    leo.save()
    sms.refresh_from_db()
    assert sms.status == MessageStatus.PENDING
    assert sms.appointment_id == family["emma"].pk
    assert sms.body.startswith("Rappel : RDV d'Emma à 14h30 et de Stéphanie à 15h00")
    assert TrackedMessage.objects.get(message=sms).appointment_start == family["emma"].start
    dispatch_pending(now=EVENING)
    assert [s.body for s in sms_outbox] == [sms.body]


def test_all_cancelled_cancels_the_sms(family, family_reminder, sms_outbox, django_capture_on_commit_callbacks):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    Appointment.objects.filter(pk__in=[a.pk for a in family.values()]).update(state=AppointmentState.CANCELLED)
    dispatch_pending(now=EVENING)
    sms = Message.objects.get(mailing__in=run.mailings.all())
    assert sms.status == MessageStatus.CANCELLED
    assert sms.reason.startswith("Aucun des rendez-vous de ce SMS ne tient plus")
    assert sms_outbox == []


def test_a_member_moved_within_the_window_gets_its_own_reminder_with_the_new_time(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    emma = family["emma"]
    emma.start = wednesday(17)
    with django_capture_on_commit_callbacks(execute=False):
        emma.save()
    dispatch_pending(now=EVENING)
    bodies = sorted(s.body for s in sms_outbox)
    assert [b.split(" le ")[0] for b in bodies] == ["Rappel : RDV d'Emma à 17h00",
                                                     "Rappel : RDV de Léo à 14h00 et de Stéphanie à 15h00"]
    assert run.pk  # both belong to the run's trace
    assert Message.objects.filter(tracking__run=run, status=MessageStatus.SENT).count() == 2


def test_the_option_needs_the_list_code_in_the_sms_type(admin_client, sms_template, family_template):
    from scheduler.models import Treatment

    treatment = Treatment(kind="appointments", title="Essai", send_sms=True, sms_template=sms_template,
                          group_family=True)
    with pytest.raises(Exception) as raised:
        treatment.full_clean()
    assert "ne contient pas @RDVLISTE" in str(raised.value)
    treatment.sms_template = family_template
    treatment.full_clean()


def test_the_list_code_is_in_the_merge_field_list_shown_to_staff(admin_client):
    from messaging.merge import catalog

    assert [f.code for f in catalog(search="liste")] == ["@RDVLISTE"]
    page = admin_client.get(reverse("messaging:merge_fields"), {"q": "liste"})
    assert page.status_code == 200 and "@RDVLISTE" in page.content.decode()


def test_a_reply_answers_the_one_appointment_of_a_single_message(family, sms_template,
                                                                  django_capture_on_commit_callbacks):
    plain = make_treatment(title="Sans regroupement", send_sms=True, sms_template=sms_template)
    run = _run(plain, django_capture_on_commit_callbacks)
    message = Message.objects.filter(mailing__in=run.mailings.all(), appointment=family["emma"]).get()
    assert appointments_answered_by(message) == [family["emma"]]


def test_a_reply_to_the_family_sms_confirms_the_three_appointments(
    family_reminder, family_template, practitioner, no_quiet, sms_outbox, django_capture_on_commit_callbacks
):
    """On the machine's clock (an answer only changes appointments still to come)."""
    from django.utils import timezone

    from messaging.webhooks import record_inbound

    family_template.asks_reply = True
    family_template.save()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    mum = GuardianFactory(first_name="Stéphanie", mobile=MUM)
    appointments = [
        AppointmentFactory(patient=MinorPatientFactory(first_name=name, civil_guardian=mum), practitioner=practitioner,
                           start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(hour))))
        for name, hour in (("Léo", 14), ("Emma", 15), ("Hugo", 16))
    ]
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=family_reminder, run_date=timezone.localdate())
    dispatch_pending()
    assert len(sms_outbox) == 1
    sms = Message.objects.get(mailing__in=run.mailings.all())
    assert sms.body.startswith("Rappel : RDV de Léo à 14h00, d'Emma à 15h00 et d'Hugo à 16h00")
    with django_capture_on_commit_callbacks(execute=False):
        inbound = record_inbound(provider_id="SMfamily1", from_number=MUM, to_number="+33700000000", body="Oui merci")
    assert inbound.answers_id == sms.pk
    for appt in appointments:
        appt.refresh_from_db()
        assert appt.confirmed_at is not None, appt


def test_a_member_confirmed_by_sms_before_it_leaves_is_taken_out(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    Appointment.objects.filter(pk=family["stephanie"].pk).update(confirmed_at=paris(2025, 12, 9, 17, 40))
    dispatch_pending(now=EVENING)
    sms = Message.objects.get(mailing__in=run.mailings.all())
    assert sms.status == MessageStatus.SENT
    assert sms.body.startswith("Rappel : RDV de Léo à 14h00 et d'Emma à 14h30 le 10/12/2025")
    assert sms.note == "Rendez-vous retirés : ABLIRANT Stéphanie : RDV confirmé par SMS le 09/12 à 17h40"


def test_members_taken_out_one_after_the_other_are_all_named(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    emma = family["emma"]
    emma.state = AppointmentState.CANCELLED
    emma.save()  # taken out at once (signal)
    Appointment.objects.filter(pk=family["stephanie"].pk).update(state=AppointmentState.CANCELLED)
    dispatch_pending(now=EVENING)  # then at the last moment
    sms = Message.objects.get(mailing__in=run.mailings.all())
    assert sms.status == MessageStatus.SENT
    assert sms.body.startswith("Rappel : RDV de Léo à 14h00 le 10/12/2025")
    assert sms.note == ("Rendez-vous retirés : ABLIRANT Emma : rendez-vous maintenant « Annulé » ; "
                        "ABLIRANT Stéphanie : rendez-vous maintenant « Annulé »")
    assert not CoveredAppointment.objects.filter(message=sms).exists()  # one appointment left
    assert appointments_answered_by(sms) == [family["leo"]]


def test_the_family_sms_is_in_the_history_of_each_patient_it_names(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    """Staff opening Emma's file see the reminder that named her, though it was written on Léo's
    (the first appointment): one message in each named patient's history, not three copies."""
    from messaging.selectors_sending import patient_history_entries

    _run(family_reminder, django_capture_on_commit_callbacks)
    sms = Message.objects.get()
    for appointment in family.values():
        entries = [e.message for e in patient_history_entries(patient=appointment.patient) if e.outgoing]
        assert entries == [sms], appointment.patient
    stranger = AppointmentFactory(start=wednesday(16)).patient
    assert patient_history_entries(patient=stranger) == []


def test_the_appointments_taken_out_read_in_each_viewers_language(
    family, family_reminder, sms_outbox, django_capture_on_commit_callbacks
):
    """The list of appointments taken out of a cancelled family SMS is stored in French with
    its msgids: each reader reads it in their language, times written their way."""
    run = _run(family_reminder, django_capture_on_commit_callbacks)
    Appointment.objects.filter(pk=family["emma"].pk).update(state=AppointmentState.CANCELLED)
    Appointment.objects.filter(pk=family["leo"].pk).update(start=paris(2025, 12, 11, 9, 30))
    Appointment.objects.filter(pk=family["stephanie"].pk).update(state=AppointmentState.PRESENT)
    dispatch_pending(now=EVENING)
    sms = Message.objects.get(mailing__in=run.mailings.all(), appointment=family["leo"])
    assert sms.status == MessageStatus.CANCELLED
    assert sms.reason == (
        "Aucun des rendez-vous de ce SMS ne tient plus : ABLIRANT Léo : rendez-vous déplacé au 11/12/2025 à 09h30"
        " ; ABLIRANT Emma : rendez-vous maintenant « Annulé » ; ABLIRANT Stéphanie : patient déjà venu"
        " (rendez-vous marqué présent)"
    )
    with translation.override("fr"):
        assert sms.reason_shown == sms.reason
    with translation.override("en"):
        assert sms.reason_shown == (
            "None of the appointments of this SMS still holds: ABLIRANT Léo: appointment moved to 11/12/2025 at"
            " 09:30; ABLIRANT Emma: appointment now “Cancelled”; ABLIRANT Stéphanie: patient already seen"
            " (appointment marked present)"
        )
