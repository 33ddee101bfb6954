"""A message written about an appointment does not leave once the appointment has moved or been
cancelled/postponed: the text quotes the old date. The scheduler's own messages are judged by
scheduler.checks only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send
from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from messaging.send_checks import APPOINTMENT_CHANGED_REASON, appointment_check
from patients.models import AppointmentState
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging import sending_helpers
from tests.messaging.sending_helpers import NOON, make_account, paris

sms_outbox = sending_helpers.sms_outbox
pytestmark = pytest.mark.django_db

BODY = "Rappel : RDV le @RDV1."
TOMORROW_9 = paris(2026, 3, 11, 9, 0)


def _mass_sms(appointment, assistant):
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[appointment.pk])
    draft.body = BODY
    return mass_mailing_send(draft=draft, requested_by=assistant)


def test_start_is_snapshotted_when_the_message_is_written(assistant):
    appt = AppointmentFactory(start=TOMORROW_9)
    mailing = _mass_sms(appt, assistant)
    assert mailing.messages.get().appointment_start == TOMORROW_9


def test_mass_mailing_message_cancelled_after_the_appointment_moved(assistant, sms_outbox):
    appt = AppointmentFactory(start=TOMORROW_9)
    mailing = _mass_sms(appt, assistant)
    appt.start = TOMORROW_9 + dt.timedelta(hours=2)
    appt.save()
    result = dispatch_pending(now=NOON)
    msg = mailing.messages.get()
    assert (msg.status, msg.reason, msg.error_code) == (MessageStatus.CANCELLED, APPOINTMENT_CHANGED_REASON, "stale")
    assert msg.reason == (
        "Le rendez-vous a été déplacé / annulé après la préparation du message : message non envoyé."
    )
    assert sms_outbox == [] and result.sent == 0


@pytest.mark.parametrize("state", [AppointmentState.CANCELLED, AppointmentState.POSTPONED])
def test_mass_mailing_message_cancelled_after_the_appointment_was_cancelled(assistant, sms_outbox, state):
    appt = AppointmentFactory(start=TOMORROW_9)
    mailing = _mass_sms(appt, assistant)
    appt.state = state
    appt.save()
    dispatch_pending(now=NOON)
    msg = mailing.messages.get()
    assert (msg.status, msg.reason) == (MessageStatus.CANCELLED, APPOINTMENT_CHANGED_REASON)
    assert sms_outbox == []


def test_message_about_a_deleted_appointment_is_not_sent_and_its_history_stays(assistant, client, sms_outbox):
    # Deleting an appointment sets Message.appointment to NULL (on_delete): the message is
    # cancelled at send time, and the history row and its pages survive.
    appt = AppointmentFactory(start=TOMORROW_9)
    mailing = _mass_sms(appt, assistant)
    appt.delete()
    dispatch_pending(now=NOON)
    msg = Message.objects.select_related("appointment", "patient").get(mailing=mailing)
    assert (msg.status, msg.reason) == (MessageStatus.CANCELLED, APPOINTMENT_CHANGED_REASON)
    assert msg.appointment is None and msg.patient == appt.patient
    assert sms_outbox == []
    client.force_login(assistant)
    for name in ("sending:history", "patients:detail"):
        response = client.get(reverse(name, args=[appt.patient_id]))
        assert response.status_code == 200
        assert "Rappel : RDV le 11/03/2026 à 09h00." in response.content.decode()


def test_the_database_refuses_to_delete_behind_djangos_back_what_a_message_is_about(assistant):
    # Message.appointment / .patient are checked by the database (docs/performance.md): a
    # deletion that skips Django's on_delete cannot leave a message pointing at nothing.
    from django.db import IntegrityError, connection, transaction

    from patients.models import Appointment

    appt = AppointmentFactory(start=TOMORROW_9)
    _mass_sms(appt, assistant)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=appt.pk)._raw_delete("default")
        connection.check_constraints()  # deferred constraints: what the commit would check
    assert Appointment.objects.filter(pk=appt.pk).exists()


def test_unchanged_appointment_message_is_sent(assistant, sms_outbox):
    appt = AppointmentFactory(start=TOMORROW_9)
    appt.save()  # saved again, same start: nothing changed
    mailing = _mass_sms(appt, assistant)
    dispatch_pending(now=NOON)
    assert mailing.messages.get().status == MessageStatus.SENT
    assert [m.body for m in sms_outbox] == ["Rappel : RDV le 11/03/2026 à 09h00."]


def test_missed_appointment_email_is_still_sent():
    account = make_account()
    patient = PatientFactory(email="manque@patients.test")
    appt = AppointmentFactory(start=paris(2026, 3, 9, 9, 0), patient=patient, state=AppointmentState.MISSED)
    recipients = recipients_for(patient=patient, channel=Channel.EMAIL)[:1]
    mailing = mailing_create(
        channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None, recipients=recipients,
        email_subject="Rendez-vous manqué", email_body_html="<p>Vous avez manqué votre RDV du @RDV1.</p>",
        account=account, signature=None, appointment=appt, schedule_dispatch=False,
    )
    mail.outbox = []
    dispatch_pending(now=NOON)
    msg = mailing.messages.get()
    assert msg.appointment_start == appt.start
    assert (msg.status, msg.reason) == (MessageStatus.SENT, "")
    assert len(mail.outbox) == 1 and "09/03/2026" in mail.outbox[0].body


def test_scheduler_messages_are_left_to_the_scheduler_check(assistant):
    """A notice of cancellation queued by the scheduler is about a cancelled appointment: the
    generic check must not cancel it (scheduler.checks judges it by its purpose)."""
    appt = AppointmentFactory(start=TOMORROW_9, state=AppointmentState.CANCELLED)
    for origin in (MailingOrigin.TREATMENT, MailingOrigin.EVENT):
        mailing = mailing_create(
            channel=Channel.SMS, origin=origin, requested_by=None,
            recipients=recipients_for(patient=appt.patient, channel=Channel.SMS)[:1],
            sms_body="Votre RDV du @RDV1 est annulé.", appointment=appt, schedule_dispatch=False,
        )
        msg = Message.objects.select_related("mailing").get(mailing=mailing)
        assert msg.appointment_start == TOMORROW_9
        assert appointment_check(msg, NOON) is None
