"""A patient answers a reminder: through the gateways' real webhooks (Twilio's signature, OVH's
callback token), the answer is matched to the last SMS that asked this number for one and
changes its appointment; a confirmed appointment is not reminded again."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from twilio.request_validator import RequestValidator

from messaging.dispatch import dispatch_pending
from messaging.models import (
    Channel,
    InboundMessage,
    MailingOrigin,
    Message,
    MessageStatus,
    Purpose,
    ReplyKind,
    SmsTemplate,
    TemplateCategory,
)
from messaging.outbox import mailing_create
from messaging.policy import Reason, recipient_for
from patients.models import Appointment, AppointmentEventKind, AppointmentState, CancelledBy
from practice.models import Practice
from tests.factories import AppointmentFactory, MinorPatientFactory, NatureFactory, PatientFactory

pytestmark = pytest.mark.django_db

BASE = "https://cabinet.example.fr"
TWILIO_INBOUND = "/webhooks/twilio/inbound/"
OVH_INBOUND = "/webhooks/ovh/inbound/"
OVH_TOKEN = "x" * 40
TEXT = "Rappel : RDV demain à 10h00. Répondez OUI pour confirmer, NON pour annuler."


@pytest.fixture(autouse=True)
def _setup(settings, no_quiet_hours, sms_outbox):
    settings.ALLOWED_HOSTS = ["10.0.0.5", "cabinet.example.fr", "testserver"]
    settings.OVH_CALLBACK_TOKEN = OVH_TOKEN


def _template(asks=True, purpose=Purpose.REMINDER, title="Rappel J-1"):
    category, _ = TemplateCategory.objects.get_or_create(name=f"RDV {purpose}", defaults={"purpose": purpose})
    return SmsTemplate.objects.create(category=category, title=title, body=TEXT, asks_reply=asks)


def remind(appointment, *, asks=True, role="patient", template=None, purpose=Purpose.REMINDER):
    """A reminder of ``appointment`` sent for real through the outbox and the test gateway."""
    template = template or _template(asks, purpose=purpose, title=f"Rappel {appointment.pk} {asks} {role}")
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
        recipients=[recipient_for(patient=appointment.patient, channel=Channel.SMS, role=role,
                                  appointment=appointment)],
        template=template, appointment=appointment, purpose=purpose, schedule_dispatch=False,
    )
    dispatch_pending(mailing_id=mailing.pk)
    message = mailing.messages.get()
    assert message.status == MessageStatus.SENT, message.reason
    return message


def twilio_reply(client, settings, body, *, sid="SMreply1", from_="+33684285560", valid=True):
    params = {"MessageSid": sid, "From": from_, "To": "+33757000000", "Body": body}
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(BASE + TWILIO_INBOUND, params)
    if not valid:
        signature = signature[:-4] + "AAAA"
    # Behind the proxy Django sees an internal host: the signature is over PUBLIC_BASE_URL.
    return client.post(TWILIO_INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST="10.0.0.5:8000")


def ovh_reply(client, body, *, sms_id="77", sender="+33684285560", token=OVH_TOKEN):
    # OVH calls the smsResponse URL with GET parameters, the secret in the query string.
    return client.get(OVH_INBOUND, {"token": token, "id": sms_id, "senderid": sender, "message": body,
                                    "receiver": "36111"})


def test_oui_merci_through_twilio_confirms_the_appointment_and_keeps_the_answer(client, settings):
    appt = AppointmentFactory()
    reminder = remind(appt)
    response = twilio_reply(client, settings, "Oui merci 🙂")
    assert response.status_code == 200 and b"<Response></Response>" in response.content
    appt.refresh_from_db()
    assert appt.confirmed_at is not None and appt.cancel_requested_at is None
    [event] = appt.events.all()
    assert event.kind == AppointmentEventKind.CONFIRMED and event.text == "Oui merci 🙂"
    inbound = InboundMessage.objects.get()
    assert (inbound.kind, inbound.answers_id, inbound.handled_automatically) == (ReplyKind.CONFIRM, reminder.pk, True)
    assert event.inbound == inbound


def test_a_bad_twilio_signature_changes_nothing(client, settings):
    appt = AppointmentFactory()
    remind(appt)
    assert twilio_reply(client, settings, "OUI", valid=False).status_code == 403
    appt.refresh_from_db()
    assert appt.confirmed_at is None and not InboundMessage.objects.exists()


def test_twilio_retrying_the_same_reply_is_read_once(client, settings):
    appt = AppointmentFactory()
    remind(appt)
    for _ in range(3):
        assert twilio_reply(client, settings, "ok c'est noté", sid="SMsame").status_code == 200
    assert InboundMessage.objects.count() == 1 and appt.events.count() == 1


def test_je_ne_pourrai_pas_venir_through_ovh_asks_for_a_cancellation(client):
    appt = AppointmentFactory()
    remind(appt)
    response = ovh_reply(client, "Je ne pourrai pas venir")
    assert response.status_code == 200
    appt.refresh_from_db()
    assert appt.cancel_requested_at is not None and appt.state == AppointmentState.FUTURE
    assert appt.events.get().kind == AppointmentEventKind.CANCEL_REQUESTED
    inbound = InboundMessage.objects.get()
    # Staff must act: the answer stays in the inbox.
    assert inbound.kind == ReplyKind.CANCEL and not inbound.handled_automatically
    assert inbound.provider_id == "ovh-77"


def test_a_wrong_ovh_token_changes_nothing(client):
    appt = AppointmentFactory()
    remind(appt)
    assert ovh_reply(client, "NON", token="guess" * 8).status_code == 403
    appt.refresh_from_db()
    assert appt.cancel_requested_at is None and not InboundMessage.objects.exists()


def test_a_nature_set_to_cancel_on_no_cancels_the_appointment_as_the_patients_wish(client):
    appt = AppointmentFactory(nature=NatureFactory(code="CTRL", cancel_on_reply=True))
    remind(appt)
    ovh_reply(client, "NON")
    appt.refresh_from_db()
    assert appt.state == AppointmentState.CANCELLED and appt.cancelled_by == CancelledBy.PATIENT
    assert appt.events.get().kind == AppointmentEventKind.CANCELLED
    assert not InboundMessage.objects.get().handled_automatically  # staff still see it


def test_the_last_sms_that_asked_is_the_one_answered(client, settings):
    patient = PatientFactory()
    first = AppointmentFactory(patient=patient)
    second = AppointmentFactory(patient=patient, start=first.start + dt.timedelta(days=7))
    remind(first)
    remind(second)
    remind(first, asks=False, purpose=Purpose.OTHER)  # a later SMS that asked nothing does not count
    twilio_reply(client, settings, "OUI")
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.confirmed_at is not None and first.confirmed_at is None


def test_an_sms_that_asked_nothing_is_not_answered(client, settings):
    appt = AppointmentFactory()
    remind(appt, asks=False)
    twilio_reply(client, settings, "Oui")
    appt.refresh_from_db()
    inbound = InboundMessage.objects.get()
    assert appt.confirmed_at is None and inbound.answers is None and not inbound.handled_automatically


def test_an_unknown_number_goes_to_the_inbox(client, settings):
    appt = AppointmentFactory()
    remind(appt)
    twilio_reply(client, settings, "Oui", from_="+33699999999")
    inbound = InboundMessage.objects.get()
    assert inbound.patient is None and inbound.kind == ReplyKind.CONFIRM and not inbound.handled_automatically
    appt.refresh_from_db()
    assert appt.confirmed_at is None


def test_an_answer_about_the_old_time_of_a_moved_appointment_changes_nothing(client, settings):
    appt = AppointmentFactory()
    remind(appt)
    Appointment.objects.filter(pk=appt.pk).update(start=appt.start + dt.timedelta(hours=2))
    twilio_reply(client, settings, "Oui")
    appt.refresh_from_db()
    assert appt.confirmed_at is None and not InboundMessage.objects.get().handled_automatically


def test_a_guardian_answers_for_the_child(client, settings):
    child = MinorPatientFactory()
    appt = AppointmentFactory(patient=child)
    remind(appt, role="civil")
    twilio_reply(client, settings, "D'accord", from_=child.civil_guardian.mobile)
    appt.refresh_from_db()
    assert appt.confirmed_at is not None


def test_stop_still_withdraws_consent(client, settings):
    appt = AppointmentFactory()
    remind(appt)
    twilio_reply(client, settings, "STOP")
    appt.patient.refresh_from_db()
    inbound = InboundMessage.objects.get()
    assert not appt.patient.sms_consent and inbound.kind == ReplyKind.STOP and inbound.handled_automatically
    appt.refresh_from_db()
    assert appt.confirmed_at is None and appt.cancel_requested_at is None


def test_a_confirmed_appointment_is_not_reminded_again_on_any_channel(client, settings, mailoutbox):
    from tests.messaging.sending_helpers import make_account

    practice = Practice.get()
    practice.purpose_period_days = 1  # J-3 then J-1: two reminders of one appointment
    practice.save()
    appt = AppointmentFactory(start=timezone.now() + dt.timedelta(days=1))
    j3 = remind(appt)
    Message.objects.filter(pk=j3.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    # The J-1 reminder, written before the answer came (held by quiet hours, say).
    later = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
        recipients=[recipient_for(patient=appt.patient, channel=Channel.SMS, role="patient", appointment=appt)],
        sms_body="Rappel : RDV demain.", appointment=appt, purpose=Purpose.REMINDER, schedule_dispatch=False,
    )
    twilio_reply(client, settings, "Oui merci")
    email = mailing_create(
        channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None, account=make_account(),
        recipients=[recipient_for(patient=appt.patient, channel=Channel.EMAIL, role="patient", appointment=appt)],
        email_subject="Rappel", email_body_html="<p>Rappel : RDV demain.</p>", appointment=appt,
        purpose=Purpose.REMINDER, schedule_dispatch=False,
    )
    other = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
        recipients=[recipient_for(patient=appt.patient, channel=Channel.SMS, role="patient", appointment=appt)],
        sms_body="Pensez à apporter votre radio.", appointment=appt, purpose=Purpose.OTHER, schedule_dispatch=False,
    )
    dispatch_pending()
    appt.refresh_from_db()
    local = timezone.localtime(appt.confirmed_at)
    for mailing in (later, email):
        m = mailing.messages.get()
        assert m.status == MessageStatus.CANCELLED and m.error_code == Reason.CONFIRMED_BY_SMS
        assert m.reason == f"RDV confirmé par SMS le {local:%d/%m} à {local:%H}h{local:%M}."
    assert other.messages.get().status == MessageStatus.SENT  # not a reminder: it leaves
    assert mailoutbox == []


def test_the_acknowledgement_leaves_once_through_the_outbox(client, settings, sms_outbox):
    practice = Practice.get()
    practice.sms_reply_ack = True
    practice.save()
    appt = AppointmentFactory()
    remind(appt)
    twilio_reply(client, settings, "OUI", sid="SM1")
    twilio_reply(client, settings, "oui oui", sid="SM2")
    dispatch_pending()
    acks = Message.objects.filter(mailing__origin=MailingOrigin.REPLY)
    local = timezone.localtime(appt.start)
    [ack] = acks
    assert ack.body == f"Merci, votre RDV du {local:%d/%m} à {local:%H}h{local:%M} est confirmé."
    assert ack.status == MessageStatus.SENT and ack.to == appt.patient.mobile
    assert [s.body for s in sms_outbox].count(ack.body) == 1


def test_the_acknowledgement_is_written_in_the_practices_language(client, settings, sms_outbox):
    # Seen in the browser walk-through: an English practice answered its patients in French, and
    # the mailing's label followed whoever's request carried the reply (the demo inbox).
    from django.utils import translation

    practice = Practice.get()
    practice.sms_reply_ack, practice.language = True, "en"
    practice.save()
    appt = AppointmentFactory()
    remind(appt)
    twilio_reply(client, settings, "OUI", sid="SM1")
    dispatch_pending()
    ack = Message.objects.get(mailing__origin=MailingOrigin.REPLY)
    local = timezone.localtime(appt.start)
    assert ack.body == f"Thank you, your appointment on {local:%d/%m} at {local:%H}:{local:%M} is confirmed."
    assert ack.mailing.label == "SMS confirmation acknowledgement"

    from messaging.replies import ack_text

    practice.language = "fr"
    practice.save()
    with translation.override("en"):  # a staff member's English request: the practice's French
        assert ack_text([appt]) == f"Merci, votre RDV du {local:%d/%m} à {local:%H}h{local:%M} est confirmé."


def test_the_acknowledgement_waits_for_the_end_of_the_quiet_hours(client, settings):
    practice = Practice.get()
    practice.sms_reply_ack = True
    practice.quiet_start, practice.quiet_end = dt.time(0, 0), dt.time(23, 59)
    practice.save()
    appt = AppointmentFactory(start=timezone.now() + dt.timedelta(days=2))
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)
    practice.save()
    remind(appt)
    practice.quiet_start, practice.quiet_end = dt.time(0, 0), dt.time(23, 59, 59)
    practice.save()
    twilio_reply(client, settings, "OK")
    dispatch_pending()
    ack = Message.objects.get(mailing__origin=MailingOrigin.REPLY)
    assert ack.status == MessageStatus.PENDING and ack.not_before is not None


def test_the_sms_that_asks_leaves_from_the_reply_number(settings, sms_outbox):
    practice = Practice.get()
    practice.sms_sender_name = "CABINET"
    practice.sms_reply_senders = {"locmem": "+33757000000"}
    practice.save()
    remind(AppointmentFactory())
    remind(AppointmentFactory(), asks=False)
    assert [(s.sender, s.reply_sender) for s in sms_outbox] == [("CABINET", "+33757000000"), ("CABINET", "")]


def test_handling_a_reply_costs_the_same_queries_whatever_the_history(client, settings):
    appt = AppointmentFactory()
    remind(appt)

    def count(sid):
        with CaptureQueriesContext(connection) as ctx:
            assert twilio_reply(client, settings, "Oui", sid=sid).status_code == 200
        return len(ctx.captured_queries)

    first = count("SMa")
    for i in range(15):
        remind(AppointmentFactory(patient=appt.patient, start=appt.start + dt.timedelta(days=i + 1)))
    assert count("SMb") == first


def test_no_acknowledgement_to_a_patient_whose_sms_consent_was_withdrawn_since(client, settings, sms_outbox):
    """The patient told the practice "plus de SMS" (consent unticked on the file, no STOP) after
    the reminder left, then answers "oui": the confirmation is recorded, but no SMS goes back."""
    practice = Practice.get()
    practice.sms_reply_ack = True
    practice.save()
    appt = AppointmentFactory()
    remind(appt)
    appt.patient.sms_consent = False
    appt.patient.save()
    sent_before = len(sms_outbox)
    twilio_reply(client, settings, "OUI")
    dispatch_pending()
    appt.refresh_from_db()
    assert appt.confirmed_at is not None
    assert len(sms_outbox) == sent_before
    assert not Message.objects.filter(mailing__origin=MailingOrigin.REPLY, status=MessageStatus.SENT).exists()


def test_a_yes_after_staff_asked_something_else_is_for_staff_not_the_old_reminder(client, settings, django_user_model):
    """Staff answered a question from Réponses ("pouvez-vous venir à 9h ?"): the patient's "Oui"
    answers them, so it must not confirm the reminder's appointment behind their back."""
    from messaging.inbox import reply_send

    appt = AppointmentFactory()
    remind(appt)
    twilio_reply(client, settings, "Est-ce possible plus tôt ?", sid="SMq")
    question = InboundMessage.objects.get(provider_id="SMq")
    assert question.kind == ReplyKind.OTHER
    staff = django_user_model.objects.create_user("assistante")
    answer = reply_send(inbound=question, body="Pouvez-vous venir à 9h ?", user=staff, token="t1")
    dispatch_pending(mailing_id=answer.pk)
    assert answer.messages.get().status == MessageStatus.SENT

    twilio_reply(client, settings, "Oui", sid="SMyes")
    appt.refresh_from_db()
    yes = InboundMessage.objects.get(provider_id="SMyes")
    assert appt.confirmed_at is None
    assert yes.answers is None and not yes.handled_automatically  # waits in Réponses for staff
