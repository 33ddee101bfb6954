"""SMS held by the practice's quiet hours: they follow a change of the hours, and staff allowed to
send may send one now ("Envoyer maintenant"): an explicit, confirmed choice, recorded with who and
when, that lifts the quiet hours for that message only; every other last-moment check still
applies, and the message leaves once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.policy import recipients_for
from patients.models import Appointment, AppointmentState
from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory, UserFactory
from tests.messaging.sending_helpers import paris

pytestmark = pytest.mark.django_db


def _quiet_now() -> Practice:
    """Quiet hours around the real time now (the dispatch reads the real clock, as in the
    practice), one hour each side."""
    local = timezone.localtime()
    practice = Practice.get()
    practice.quiet_start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.quiet_end = (local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.save()
    return practice


def _held_sms(*, with_appointment: bool = False) -> Message:
    """A patient-file SMS the dispatch held for the quiet hours (real clock)."""
    patient = PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33612345688")
    appointment = AppointmentFactory(patient=patient, start=timezone.now() + dt.timedelta(days=2)) if with_appointment else None
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
        sms_body="Votre prothèse est prête.", recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1],
        appointment=appointment, schedule_dispatch=False,
    )
    _quiet_now()
    assert dispatch_pending(mailing_id=mailing.pk).deferred == 1
    message = mailing.messages.get()
    assert (message.status, message.error_code) == (MessageStatus.PENDING, "quiet")
    return message


def test_held_sms_follow_quiet_hours_lengthened_on_the_settings_page(admin_client, sms_outbox):
    """Held until 08:00 by the 20:00-08:00 hours; the practice moves the end to 10:00 on its
    settings page: at 08:30 the SMS is still held, now until 10:00, and leaves then, once."""
    patient = PatientFactory(mobile="+33612345677")
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None, sms_body="Bonjour.",
        recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], schedule_dispatch=False,
    )
    dispatch_pending(mailing_id=mailing.pk, now=paris(2026, 3, 10, 21, 0))
    held = mailing.messages.get()
    assert held.not_before == paris(2026, 3, 11, 8, 0)

    response = admin_client.post(reverse("messaging:sms_settings"),
                                 {"sms_sender_name": "Cabinet", "quiet_start": "20:00", "quiet_end": "10:00"})
    assert response.status_code == 302
    result = dispatch_pending(mailing_id=mailing.pk, now=paris(2026, 3, 11, 8, 30))
    held.refresh_from_db()
    assert (result.sent, held.status, held.not_before) == (0, MessageStatus.PENDING, paris(2026, 3, 11, 10, 0))
    assert "envoi prévu le 11/03/2026 à 10h00" in held.reason and sms_outbox == []
    assert dispatch_pending(mailing_id=mailing.pk, now=paris(2026, 3, 11, 10, 0)).sent == 1
    assert dispatch_pending(mailing_id=mailing.pk, now=paris(2026, 3, 11, 10, 5)).sent == 0
    assert len(sms_outbox) == 1


def test_send_now_asks_for_confirmation_then_leaves_once_during_the_quiet_hours(
    assistant_client, assistant, sms_outbox, django_capture_on_commit_callbacks
):
    message = _held_sms()
    history = reverse("sending:history", args=[message.patient_id])
    page = assistant_client.get(history).content.decode()
    url = reverse("sending:send-now", args=[message.pk])
    assert url in page and "Envoyer maintenant" in page

    # The GET is the confirmation: it shows the text and what the choice means, and sends nothing.
    confirm = assistant_client.get(f"{url}?next={history}").content.decode()
    assert "Votre prothèse est prête." in confirm and "part <strong>tout de suite</strong>" in confirm
    assert "Confirmer l&#x27;envoi maintenant" in confirm or "Confirmer l'envoi maintenant" in confirm
    # A POST that is not the confirmation's sends nothing either.
    assistant_client.post(url, {})
    message.refresh_from_db()
    assert (message.status, message.send_now_at, sms_outbox) == (MessageStatus.PENDING, None, [])

    with django_capture_on_commit_callbacks(execute=True):
        response = assistant_client.post(url, {"confirmer": "oui", "next": history})
    assert response.status_code == 302 and response.url == reverse("sending:result", args=[message.mailing_id])
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and [s.to for s in sms_outbox] == ["+33612345688"]
    assert message.send_now_by == assistant and message.send_now_at is not None
    # Who and when, in the history, the journal and the mailing's report.
    at = timezone.localtime(message.send_now_at)
    line = "demandé par Julie Martin"
    for page_url in (history, reverse("messaging:index"), reverse("sending:result", args=[message.mailing_id])):
        page = assistant_client.get(page_url).content.decode()
        assert "Envoi immédiat pendant les heures de silence" in page and line in page
        assert f"le {at:%d/%m/%Y} à {at:%H}h{at:%M}" in page
        assert url not in page  # no second "Envoyer maintenant"

    # A second confirmation (double click, a colleague) and later dispatches send nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        again = assistant_client.post(url, {"confirmer": "oui", "next": history}, follow=True)
    assert escape("L'envoi immédiat de ce message a déjà été demandé.") in again.content.decode()
    assert dispatch_pending().sent == 0
    assert len(sms_outbox) == 1


def test_other_messages_stay_held(assistant_client, sms_outbox, django_capture_on_commit_callbacks):
    """The choice lifts the quiet hours for that message only."""
    message = _held_sms()
    other_patient = PatientFactory(mobile="+33612345699")
    other = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None, sms_body="Autre.",
        recipients=recipients_for(patient=other_patient, channel=Channel.SMS)[:1], schedule_dispatch=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("sending:send-now", args=[message.pk]), {"confirmer": "oui"})
    dispatch_pending()
    assert [s.to for s in sms_outbox] == ["+33612345688"]
    assert other.messages.get().status == MessageStatus.PENDING


def test_stop_replied_after_the_choice_still_cancels(assistant_client, sms_outbox):
    from messaging.webhooks import record_inbound

    message = _held_sms()
    assistant_client.post(reverse("sending:send-now", args=[message.pk]), {"confirmer": "oui"})
    record_inbound(provider_id="SM-stop-now", from_number="+33612345688", to_number="", body="STOP")
    dispatch_pending()
    message.refresh_from_db()
    assert (message.status, message.error_code, sms_outbox) == (MessageStatus.CANCELLED, "stop", [])


def test_appointment_cancelled_after_the_choice_still_cancels(assistant_client, sms_outbox):
    message = _held_sms(with_appointment=True)
    assistant_client.post(reverse("sending:send-now", args=[message.pk]), {"confirmer": "oui"})
    Appointment.objects.filter(pk=message.appointment_id).update(state=AppointmentState.CANCELLED)
    dispatch_pending()
    message.refresh_from_db()
    assert (message.status, message.error_code, sms_outbox) == (MessageStatus.CANCELLED, "stale", [])


def test_only_a_held_message_can_be_sent_now(assistant_client, sms_outbox):
    patient = PatientFactory(mobile="+33612345600")
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None, sms_body="Bonjour.",
        recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], schedule_dispatch=False,
    )
    message = mailing.messages.get()  # pending, not held: nothing to send "now"
    url = reverse("sending:send-now", args=[message.pk])
    assert "rien à envoyer maintenant" in assistant_client.get(url).content.decode()
    response = assistant_client.post(url, {"confirmer": "oui"}, follow=True)
    assert "n&#x27;attend pas la fin des heures de silence" in response.content.decode()
    message.refresh_from_db()
    assert message.send_now_at is None and sms_outbox == []


def test_sending_now_needs_the_right_to_send(client, sms_outbox):
    message = _held_sms()
    client.force_login(UserFactory(username="sans-role"))
    url = reverse("sending:send-now", args=[message.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirmer": "oui"}).status_code == 403
    message.refresh_from_db()
    assert message.send_now_at is None and message.error_code == "quiet"


def test_a_retry_after_send_now_waits_for_the_end_of_the_quiet_hours(assistant, sms_outbox):
    """"Envoyer maintenant" lifts the quiet hours for the attempt staff asked for, at the moment
    they asked: a transient gateway error then makes the retry an ordinary one, held by the quiet
    hours like any other SMS, never sent at a time nobody chose."""
    from messaging import lifecycle
    from messaging.backends import SendError
    from messaging.gateways import locmem

    message = _held_sms()
    now = timezone.now()
    assert lifecycle.send_now(message, by=assistant, now=now)
    locmem.fail_with = SendError("Passerelle saturée.", permanent=False, code="20429")
    try:
        dispatch_pending(mailing_id=message.mailing_id, now=now)
    finally:
        locmem.fail_with = None
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    retry_at = message.not_before
    result = dispatch_pending(mailing_id=message.mailing_id, now=retry_at)
    message.refresh_from_db()
    assert (result.sent, message.status, message.error_code) == (0, MessageStatus.PENDING, "quiet")
    assert message.not_before > retry_at and sms_outbox == []
    assert message.send_now_by == assistant  # who asked stays in the history
