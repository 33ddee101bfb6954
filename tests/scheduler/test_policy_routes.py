"""One recipient policy (messaging.policy): every route takes the same person / channel
decision, with the same reason codes, and the reminder re-queued after a move follows it too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_preview
from messaging.models import Channel, Message, MessageStatus, RecipientRole
from messaging.policy import ChannelPlan, Reason, Recipient, audience
from messaging.views_sending import _default_keys
from patients.models import Patient
from practice.models import Practice
from scheduler.events import event_messages_queue
from scheduler.models import AppointmentEvent, EventMessageSetting
from scheduler.runner import treatment_plan, treatment_preview, treatment_run
from tests.factories import (
    AppointmentFactory,
    GuardianFactory,
    MinorPatientFactory,
    PatientFactory,
    PatientRefusingSmsFactory,
    PatientWithoutPhoneFactory,
)

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db

RUN_DATE = dt.date(2025, 11, 21)  # J+1 = Saturday 22/11
STEPHANIE = "+33613682982"  # GuardianFactory's mobile
EMMA = "+33684285560"  # PatientFactory's mobile


def _landline():
    patient = PatientFactory()
    Patient.objects.filter(pk=patient.pk).update(mobile="+33380320140")  # older data: a landline
    return patient


def _minor_nobody_reachable():
    return MinorPatientFactory(civil_guardian=GuardianFactory(mobile="", email=""))


def _minor_with_both_guardians():
    return MinorPatientFactory(financial_guardian=GuardianFactory(first_name="Paul", mobile="+33611223344"))


# persona -> the SMS decision with the practice's defaults (patient and civil guardian ticked):
# (role, address, reason) of each recipient written to the outbox.
PERSONAS = {
    "adulte": (PatientFactory, [(RecipientRole.PATIENT, EMMA, None)]),
    "mineur": (MinorPatientFactory, [(RecipientRole.CIVIL_GUARDIAN, STEPHANIE, None)]),
    "mineur, deux responsables": (
        _minor_with_both_guardians,
        [(RecipientRole.CIVIL_GUARDIAN, STEPHANIE, None)],  # the financial guardian is not ticked
    ),
    "sans téléphone": (PatientWithoutPhoneFactory, [(RecipientRole.PATIENT, "", Reason.NO_MOBILE)]),
    "refuse les SMS": (PatientRefusingSmsFactory, [(RecipientRole.PATIENT, EMMA, Reason.NO_SMS_CONSENT)]),
    "fixe au lieu du portable": (_landline, [(RecipientRole.PATIENT, "+33380320140", Reason.LANDLINE)]),
    "mineur, personne de joignable": (
        _minor_nobody_reachable,
        [(RecipientRole.PATIENT, "", Reason.NO_MOBILE), (RecipientRole.CIVIL_GUARDIAN, "", Reason.NO_MOBILE)],
    ),
}


def _decided(recipients: list[Recipient]) -> list[tuple]:
    return [(r.role, r.address, r.reason) for r in recipients]


def _reason_code(text: str) -> Reason | None:
    """The code of a recorded reason (the outbox stores the text staff read)."""
    if not text:
        return None
    return next(c for c in Reason if text == c.label or (c in (Reason.LANDLINE, Reason.INVALID_NUMBER)
                                                          and text.startswith("Le numéro")))


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_takes_the_same_decision(persona, reminder, practitioner, assistant, django_capture_on_commit_callbacks):
    factory, expected = PERSONAS[persona]
    patient = Patient.objects.select_related("civil_guardian", "financial_guardian").get(pk=factory().pk)
    appt = AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    practice = Practice.get()

    # The policy itself.
    assert _decided(audience(patient, plan=ChannelPlan.only(Channel.SMS, practice=practice),
                             appointment=appt).sms) == expected
    # Mass mailing (preview and outbox).
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[appt.pk])
    draft.body = "Rappel @RDV1"
    assert _decided([line.recipient for line in mass_preview(draft).lines]) == expected
    # The treatment's plan and its Tester.
    plan = treatment_plan(treatment=reminder, run_date=RUN_DATE)
    assert _decided([r for b in plan.batches if b.channel == Channel.SMS for r in b.recipients]) == expected
    tester = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert [(r.address.replace(".", ""), r.skip_reason) for r in tester.rows] == [
        (Recipient(role, "", address, Channel.SMS).address_display.replace(".", ""),
         [r for r in plan.batches[0].recipients if r.address == address][0].skip_reason)
        for role, address, _reason in expected
    ]
    # The send window pre-checks the recipients the policy chooses.
    assert _default_keys(patient, Channel.SMS) == [f"{role}:{address}" for role, address, reason in expected
                                                   if reason is None]
    # The event message of a booking (written to the outbox).
    EventMessageSetting.objects.create(event=AppointmentEvent.BOOKED, channel=Channel.SMS,
                                       sms_template=reminder.sms_template)
    with django_capture_on_commit_callbacks(execute=False):
        (mailing,) = event_messages_queue(appointment=appt, event="booked")
    rows = list(Message.objects.filter(mailing=mailing).order_by("pk"))
    assert [(m.recipient_role, m.to, _reason_code(m.reason)) for m in rows] == expected
    assert all((m.status == MessageStatus.SKIPPED) == bool(m.reason) for m in rows)


def test_after_a_move_a_patient_without_a_mobile_gets_one_email(
    sms_template, email_template, practitioner, django_capture_on_commit_callbacks
):
    """The defect: the re-queued reminder had its channel plan written a second time, and sent
    both the "no mobile" email and the treatment's own email."""
    treatment = make_treatment(title="Rappel J+1", send_sms=True, sms_template=sms_template, send_email=True,
                               email_template=email_template, email_when_no_mobile=True)
    patient = PatientWithoutPhoneFactory()
    appt = AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=treatment, run_date=RUN_DATE)
    assert Message.objects.filter(channel=Channel.EMAIL, status=MessageStatus.PENDING).count() == 1
    with django_capture_on_commit_callbacks(execute=False):
        appt.start = paris(2025, 11, 22, 16, 30)
        appt.save()
    waiting = Message.objects.filter(appointment=appt, status=MessageStatus.PENDING)
    assert [(m.channel, m.to) for m in waiting] == [(Channel.EMAIL, patient.email)]
    assert "16h30" in waiting[0].body_html
    # The SMS nobody could get is recorded once, with its reason.
    sms = Message.objects.filter(appointment=appt, channel=Channel.SMS).order_by("pk")
    assert [m.reason for m in sms] == [Reason.NO_MOBILE.label] * 2  # the run's, then the move's


def test_email_when_no_mobile_replaces_the_sms_only_for_lack_of_a_mobile(sms_template, email_template, practitioner):
    treatment = make_treatment(title="Rappel J+1", send_sms=True, sms_template=sms_template,
                               email_template=email_template, email_when_no_mobile=True)
    no_phone = PatientWithoutPhoneFactory(first_name="Luka")
    refusing = PatientRefusingSmsFactory(first_name="Nina")
    landline = _landline()
    for p in (no_phone, refusing, landline):
        AppointmentFactory(patient=p, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    plan = treatment_plan(treatment=treatment, run_date=RUN_DATE)
    by_key = {b.key: _decided(b.recipients) for b in plan.batches}
    # A refusal of SMS is no missing mobile: no email instead.
    assert by_key["sms"] == [(RecipientRole.PATIENT, EMMA, Reason.NO_SMS_CONSENT)]
    assert sorted(by_key["email-sans-portable"]) == sorted([
        (RecipientRole.PATIENT, no_phone.email, None), (RecipientRole.PATIENT, landline.email, None),
    ])


def test_reason_labels_are_shown_on_the_pages(assistant_client, reminder, practitioner):
    patient = PatientWithoutPhoneFactory()
    AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    page = assistant_client.get(reverse("sending:sms", args=[patient.pk])).content.decode()
    assert str(Reason.NO_MOBILE.label) in page
    tester = assistant_client.get(reverse("scheduler:test", args=[reminder.pk]), {"date": RUN_DATE.isoformat()})
    assert str(Reason.NO_MOBILE.label) in tester.content.decode()


def test_a_recipient_is_a_frozen_value():
    """Frozen for real (the old one said so and was not). The cost was measured on 10,000
    recipients, the mass mailing's bench size: about 8 ms more than a plain dataclass, under 1%
    of the "mailing" line of bench/run.py."""
    import dataclasses

    r = Recipient("patient", "ZIMMER Alexis", EMMA, Channel.SMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.address = "+33600000000"
    with pytest.raises((AttributeError, TypeError)):
        r.extra = 1  # slots: no attribute can be added either
    assert r.left_out(Reason.STOP).reason == Reason.STOP and r.left_out(Reason.STOP).skip_reason == Reason.STOP.label


def test_a_treatment_with_a_correspondent_email_type_writes_to_the_correspondent(
    email_template, practitioner, django_capture_on_commit_callbacks
):
    """The defect: an email type whose recipient is the correspondent went to the patient."""
    from messaging.models import FreeField
    from patients.models import CorrespondentLink, PatientCorrespondent
    from tests.factories import CorrespondentFactory

    FreeField.objects.create(number=1, label="Salutation", ami="Cher ami", confrere="Cher confrère")
    email_template.recipient_role = RecipientRole.CORRESPONDENT
    email_template.body_html = "<p>@LIBRE_01 @CORNOM,</p>"
    email_template.save()
    treatment = make_treatment(title="Compte rendu J+1", send_email=True, email_template=email_template)
    patient = PatientFactory()
    dupuis = CorrespondentFactory()
    CorrespondentLink.objects.create(correspondent=dupuis, practitioner=practitioner, relationship="ami")
    PatientCorrespondent.objects.create(patient=patient, correspondent=dupuis)
    AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    alone = PatientFactory(first_name="Seule")  # no correspondent: nothing to her in his place
    AppointmentFactory(patient=alone, practitioner=practitioner, start=paris(2025, 11, 22, 11))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=treatment, run_date=RUN_DATE)
    rows = {(m.recipient_role, m.to, m.status) for m in Message.objects.filter(channel=Channel.EMAIL)}
    assert rows == {(RecipientRole.CORRESPONDENT, "dr.dupuis@confreres.test", MessageStatus.PENDING),
                    (RecipientRole.CORRESPONDENT, "", MessageStatus.SKIPPED)}
    sent = Message.objects.get(status=MessageStatus.PENDING)
    assert "Cher ami DUPUIS," in sent.body
