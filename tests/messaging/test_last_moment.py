"""Last-moment checks (messaging.send_checks): what changes between the claim of a batch and the
moment each message is handed to the gateway is seen, for every route."""

from __future__ import annotations

import datetime as dt

import pytest

from messaging.dispatch import dispatch_pending
from messaging.gateways import locmem
from messaging.gateways.base import BaseSmsBackend
from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send
from messaging.models import Channel, MessageStatus
from messaging.send_checks import APPOINTMENT_CHANGED_REASON
from patients.models import Appointment, AppointmentState
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging.sending_helpers import NOON, paris

pytestmark = pytest.mark.django_db

TOMORROW_9 = paris(2026, 3, 11, 9, 0)


class MeanwhileBackend(BaseSmsBackend):
    """locmem; while it holds the FIRST SMS of the batch, ``meanwhile`` runs (the rest of the
    batch is claimed already): the secretary cancels or moves an appointment, a patient answers
    STOP."""

    meanwhile = None

    def send_message(self, message):
        if not locmem.outbox and MeanwhileBackend.meanwhile is not None:
            MeanwhileBackend.meanwhile()
        return locmem.SmsBackend().send_message(message)


@pytest.fixture
def meanwhile(settings, sms_outbox):
    settings.SMS_BACKEND = "tests.messaging.test_last_moment.MeanwhileBackend"
    yield MeanwhileBackend
    MeanwhileBackend.meanwhile = None


def _mass_sms(appointments, assistant, body="Rappel : RDV le @RDV1."):
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[a.pk for a in appointments])
    draft.body = body
    return mass_mailing_send(draft=draft, requested_by=assistant)


def test_changes_between_the_claim_and_the_send_are_seen_message_by_message(assistant, meanwhile, sms_outbox):
    from messaging.webhooks import record_inbound

    patients = [PatientFactory(first_name=f"P{i}", mobile=f"+3361234560{i}") for i in range(4)]
    appts = [AppointmentFactory(patient=p, start=TOMORROW_9 + dt.timedelta(hours=i)) for i, p in enumerate(patients)]
    mailing = _mass_sms(appts, assistant)
    first, cancelled, moved, stopped = (mailing.messages.get(appointment=a) for a in appts)

    def meanwhile_():
        # Written without save(): no signal, only the last-moment check can see it.
        Appointment.objects.filter(pk=appts[1].pk).update(state=AppointmentState.CANCELLED)
        Appointment.objects.filter(pk=appts[2].pk).update(start=TOMORROW_9 + dt.timedelta(days=2))
        record_inbound(provider_id="SM-stop", from_number=patients[3].mobile, to_number="", body="Arrêt.")

    meanwhile.meanwhile = meanwhile_
    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert [s.to for s in sms_outbox] == [first.to]
    assert (result.sent, result.cancelled) == (1, 3)
    for m in (cancelled, moved):
        m.refresh_from_db()
        assert (m.status, m.reason, m.error_code) == (MessageStatus.CANCELLED, APPOINTMENT_CHANGED_REASON, "stale")
    stopped.refresh_from_db()
    assert (stopped.status, stopped.error_code) == (MessageStatus.CANCELLED, "stop")
    assert stopped.reason == "A répondu STOP : ne reçoit plus de SMS. Message non envoyé."
    assert stopped.handed_at is None and stopped.attempts == 0


def test_quiet_hours_changed_meanwhile_hold_the_next_sms(assistant, meanwhile, sms_outbox):
    """No cache between the practice's settings and dispatch: the next SMS after a change of the
    quiet hours obeys the new hours."""
    from practice.models import Practice

    appts = [AppointmentFactory(patient=PatientFactory(mobile=f"+3361234561{i}"), start=TOMORROW_9) for i in range(3)]
    mailing = _mass_sms(appts, assistant)

    def meanwhile_():
        practice = Practice.get()
        practice.quiet_start, practice.quiet_end = dt.time(11, 0), dt.time(14, 0)  # now covers noon
        practice.save()

    meanwhile.meanwhile = meanwhile_
    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert (result.sent, result.deferred) == (1, 2)
    held = mailing.messages.filter(status=MessageStatus.PENDING)
    assert {(m.error_code, m.not_before, m.attempts) for m in held} == {("quiet", paris(2026, 3, 10, 14, 0), 0)}


def test_held_sms_follow_a_change_of_the_quiet_hours(assistant, sms_outbox):
    """SMS held until 08:00 by the 20:00-08:00 hours leave at once when the practice shortens
    them, not at the old time."""
    from practice.models import Practice

    appts = [AppointmentFactory(patient=PatientFactory(mobile="+33612345620"), start=TOMORROW_9)]
    mailing = _mass_sms(appts, assistant)
    evening = paris(2026, 3, 10, 21, 0)
    dispatch_pending(mailing_id=mailing.pk, now=evening)
    held = mailing.messages.get()
    assert (held.status, held.not_before) == (MessageStatus.PENDING, paris(2026, 3, 11, 8, 0))
    practice = Practice.get()
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)  # no quiet hours any more
    practice.save()
    held.refresh_from_db()
    assert held.not_before <= dt.datetime.now(dt.UTC)
    assert dispatch_pending(mailing_id=mailing.pk).sent == 1
    assert len(sms_outbox) == 1


def test_a_message_to_someone_who_withdrew_consent_is_cancelled(assistant, sms_outbox):
    patient = PatientFactory(mobile="+33612345630")
    mailing = _mass_sms([AppointmentFactory(patient=patient, start=TOMORROW_9)], assistant)
    patient.sms_consent = False
    patient.save()
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert (m.status, m.error_code) == (MessageStatus.CANCELLED, "no-sms-consent") and sms_outbox == []


def test_no_sms_to_a_number_that_replied_stop_after_the_patient_changed_mobile(assistant, sms_outbox):
    """The reminder was written to the patient's old mobile; the file now holds a new one, and
    the old number answers STOP (no file holds it any more, so no consent flag changes): the
    SMS to the old number is cancelled all the same, with the STOP reason."""
    from messaging.webhooks import record_inbound

    patient = PatientFactory(mobile="+33612345631")
    mailing = _mass_sms([AppointmentFactory(patient=patient, start=TOMORROW_9)], assistant)
    patient.mobile = "+33612345632"
    patient.save()
    record_inbound(provider_id="SM-old-number-stop", from_number="+33612345631", to_number="+33700000000",
                   body="STOP")
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert m.to == "+33612345631"
    assert (m.status, m.error_code) == (MessageStatus.CANCELLED, "stop") and sms_outbox == []


def test_no_sms_to_a_number_the_file_no_longer_holds(assistant, sms_outbox):
    """The reminder was written to the patient's mobile; before it leaves the file gets a new one
    (the old number may be someone else's now): the SMS is not sent to the old number, and the
    reason says why so staff can write again to the new one. A resend to the old number is
    refused for the same reason."""
    from messaging.outbox import message_resend

    patient = PatientFactory(mobile="+33612345641")
    mailing = _mass_sms([AppointmentFactory(patient=patient, start=TOMORROW_9)], assistant)
    patient.mobile = "+33612345642"
    patient.save()
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert (m.status, m.error_code) == (MessageStatus.CANCELLED, "number-changed") and sms_outbox == []
    assert "ne figure plus dans le dossier" in m.reason
    with pytest.raises(ValueError, match="ne figure plus dans le dossier"):
        message_resend(message=m, requested_by=assistant)
