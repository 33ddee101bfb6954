"""Gateways as folders: SMS_BACKEND's short names, the legacy dotted paths of deployed .env
files, the base class's open/close, per-gateway start-up checks and webhook routing."""

import pytest
from django.core.checks import run_checks

from messaging.gateways import BaseSmsBackend, backend_class, gateway_class, get_sms_backend, locmem
from messaging.gateways.base import SmsMessage


@pytest.mark.parametrize("name", ["twilio", "ovh", "sandbox", "locmem", "console"])
def test_every_short_name_is_a_folder_with_its_backend(name):
    cls = backend_class(name)
    assert issubclass(cls, BaseSmsBackend) and cls.name == name
    assert cls.__module__.startswith(f"messaging.gateways.{name}")


@pytest.mark.parametrize("name", ["twilio", "sandbox", "locmem", "console"])
def test_dotted_paths_of_deployed_env_files_still_work(name):
    assert backend_class(f"messaging.backends.sms.{name}.SmsBackend") is backend_class(name)


def test_a_dotted_path_to_any_class_works():
    assert backend_class("messaging.gateways.locmem.SmsBackend") is locmem.SmsBackend


@pytest.mark.parametrize("name", ["nope", "base", "../twilio", "Twilio", ""])
def test_unknown_names_are_refused(name):
    assert gateway_class(name) is None


def test_unknown_backend_fails_the_start_up_check(settings):
    settings.SMS_BACKEND = "nope"
    errors = [e for e in run_checks(tags=["compatibility"]) if e.id == "messaging.E003"]
    assert errors and "nope" in errors[0].msg


def test_limits_are_the_gateways(settings):
    from messaging.sms import max_sms_chars, too_long_message

    settings.SMS_BACKEND = "locmem"
    assert max_sms_chars() == locmem.SmsBackend.max_length
    assert too_long_message("a" * (locmem.SmsBackend.max_length + 1))


class Recording(BaseSmsBackend):
    events: list = []

    def open(self):
        Recording.events.append("open")
        return True

    def close(self):
        Recording.events.append("close")

    def send_message(self, message):
        Recording.events.append(message.to)
        return "R1"


def test_the_base_class_is_a_context_manager_like_djangos_email_backends():
    Recording.events = []
    with get_sms_backend("tests.messaging.test_gateways.Recording") as backend:
        assert backend.send_messages([SmsMessage(to="+33684285560", body="x")]) == 1
    assert Recording.events == ["open", "+33684285560", "close"]


@pytest.mark.django_db
def test_dispatch_opens_and_closes_the_gateway_once_per_batch(settings, no_quiet_hours):
    from messaging.dispatch import dispatch_pending
    from messaging.models import Channel, MailingOrigin
    from messaging.outbox import mailing_create
    from messaging.recipients import number_recipient

    settings.SMS_BACKEND = "tests.messaging.test_gateways.Recording"
    Recording.events = []
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.COMMAND, requested_by=None,
                             recipients=[number_recipient(number="0684285560"), number_recipient(number="0684285561")],
                             sms_body="Test", schedule_dispatch=False)
    dispatch_pending(mailing_id=mailing.pk)
    assert Recording.events[0] == "open" and Recording.events[-1] == "close"
    assert Recording.events.count("open") == 1 and len(Recording.events) == 4


@pytest.mark.django_db
def test_webhooks_of_an_unknown_gateway_are_not_found(client):
    assert client.post("/webhooks/nope/status/", {}).status_code == 404
    assert client.post("/webhooks/locmem/inbound/", {}).status_code == 404  # no webhooks


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_an_unsigned_callback_is_refused_by_the_shared_view(client, settings, kind):
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.PUBLIC_BASE_URL = "https://cabinet.example.fr"
    response = client.post(f"/webhooks/twilio/{kind}/", {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert response.status_code == 403
