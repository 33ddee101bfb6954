import pytest
from twilio.request_validator import RequestValidator

from messaging.models import Channel, InboundMessage, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from messaging.webhooks import is_stop
from tests.factories import GuardianFactory, MinorPatientFactory, PatientFactory

pytestmark = pytest.mark.django_db

BASE = "https://cabinet.example.fr"
STATUS_PATH = "/webhooks/twilio/status/"
INBOUND_PATH = "/webhooks/twilio/inbound/"


def _post(client, settings, path, params, *, valid=True, host="10.0.0.5:8000"):
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(BASE + path, params)
    if not valid:
        signature = signature[:-4] + "AAAA"
    # Behind the proxy Django sees an internal host: the signature is checked on PUBLIC_BASE_URL.
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST=host)


@pytest.fixture
def sent_sms(settings):
    settings.ALLOWED_HOSTS = ["10.0.0.5", "cabinet.example.fr"]
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="RDV",
                             schedule_dispatch=False)
    Message.objects.filter(mailing=mailing).update(status=MessageStatus.SENT, provider_id="SM123")
    return mailing.messages.get()


def test_delivered_callback(client, settings, sent_sms):
    response = _post(client, settings, STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": "delivered"})
    assert response.status_code == 200
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED and sent_sms.delivered_at is not None


def test_invalid_signature_is_refused_and_changes_nothing(client, settings, sent_sms):
    response = _post(client, settings, STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": "delivered"}, valid=False)
    assert response.status_code == 403
    no_header = client.post(STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": "delivered"}, HTTP_HOST="10.0.0.5")
    assert no_header.status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT


def test_signature_of_other_parameters_is_refused(client, settings, sent_sms):
    params = {"MessageSid": "SM123", "MessageStatus": "sent"}
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(BASE + STATUS_PATH, params)
    response = client.post(STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": "failed", "ErrorCode": "30005"},
                           HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST="10.0.0.5")
    assert response.status_code == 403


def test_failed_callback_translates_the_error_code(client, settings, sent_sms):
    _post(client, settings, STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.FAILED and sent_sms.error_code == "30003"
    assert sent_sms.reason == "Téléphone du destinataire injoignable (éteint ou hors réseau)."


def test_callbacks_twice_and_out_of_order_never_go_backwards(client, settings, sent_sms):
    for status in ["delivered", "delivered", "sent", "queued", "failed"]:
        assert _post(client, settings, STATUS_PATH, {"MessageSid": "SM123", "MessageStatus": status}).status_code == 200
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED and sent_sms.reason == ""


def test_a_report_about_an_id_not_recorded_yet_is_kept_then_applied(client, settings, sent_sms):
    from messaging.lifecycle import apply_kept_events
    from messaging.models import PendingDeliveryEvent

    response = _post(client, settings, STATUS_PATH, {"MessageSid": "SMlater", "MessageStatus": "delivered"})
    assert response.status_code == 200
    _post(client, settings, STATUS_PATH, {"MessageSid": "SMlater", "MessageStatus": "sent"})
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT
    assert sorted(PendingDeliveryEvent.objects.values_list("provider_id", "status")) == [
        ("SMlater", "delivered"), ("SMlater", "sent")]
    # The message is recorded with that id (as dispatch does), then looks for kept reports.
    Message.objects.filter(pk=sent_sms.pk).update(provider_id="SMlater")
    assert apply_kept_events(["SMlater"]) == 1
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED  # the late "sent" did not move it back
    assert not PendingDeliveryEvent.objects.exists()


def test_inbound_reply_is_recorded_on_the_patients_history(client, settings):
    settings.ALLOWED_HOSTS = ["10.0.0.5"]
    guardian = GuardianFactory(mobile="+33613682982")
    child1 = MinorPatientFactory(civil_guardian=guardian)
    child2 = MinorPatientFactory(civil_guardian=guardian)
    other = PatientFactory(mobile="+33684285560")
    params = {"MessageSid": "SMin1", "From": "+33613682982", "To": "+33700000000", "Body": "Merci, à demain"}
    response = _post(client, settings, INBOUND_PATH, params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    inbound = InboundMessage.objects.get()
    assert set(inbound.patients.all()) == {child1, child2}
    assert other not in inbound.patients.all()
    assert inbound.is_stop is False
    # Twilio retries: the same message is recorded once.
    _post(client, settings, INBOUND_PATH, params)
    assert InboundMessage.objects.count() == 1
    guardian.refresh_from_db()
    assert guardian.sms_consent is True


@pytest.mark.parametrize("body", ["STOP", "stop", "Arrêt", "ARRET", " arret. ", "Stop SMS", "STOP!", "stop-sms"])
def test_stop_variants(body):
    assert is_stop(body)


@pytest.mark.parametrize("body", ["Stop, je ne peux pas venir demain", "arrêter", "Merci", ""])
def test_not_stop(body):
    assert not is_stop(body)


def test_stop_turns_sms_consent_off_for_everyone_with_that_number(client, settings):
    settings.ALLOWED_HOSTS = ["10.0.0.5"]
    guardian = GuardianFactory(mobile="+33613682982")
    child = MinorPatientFactory(civil_guardian=guardian)
    adult = PatientFactory(mobile="+33613682982")
    untouched = PatientFactory(mobile="+33684285560")
    _post(client, settings, INBOUND_PATH, {"MessageSid": "SMstop", "From": "+33613682982", "Body": "Arrêt"})
    guardian.refresh_from_db()
    adult.refresh_from_db()
    untouched.refresh_from_db()
    assert guardian.sms_consent is False and adult.sms_consent is False
    assert untouched.sms_consent is True
    inbound = InboundMessage.objects.get()
    assert inbound.is_stop and set(inbound.patients.all()) == {child, adult}
    # The next SMS to that guardian is skipped with the consent reason.
    child.refresh_from_db()
    civil = recipients_for(patient=child, channel=Channel.SMS)[1]
    assert civil.skip_reason == "Ne souhaite pas recevoir de SMS."


def test_inbound_with_a_bad_signature_records_nothing(client, settings):
    settings.ALLOWED_HOSTS = ["10.0.0.5"]
    patient = PatientFactory(mobile="+33613682982")
    response = _post(client, settings, INBOUND_PATH, {"MessageSid": "SMx", "From": "+33613682982", "Body": "STOP"}, valid=False)
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.sms_consent is True and InboundMessage.objects.count() == 0
