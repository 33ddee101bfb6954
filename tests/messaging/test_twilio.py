"""The Twilio backend against a local server that answers like Twilio's Messages API."""

import base64
import json
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.request_validator import RequestValidator

from messaging.dispatch import dispatch_pending
from messaging.gateways import SmsMessage
from messaging.gateways.twilio import SmsBackend
from messaging.models import Channel, MailingOrigin, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient
from tests.messaging.sending_helpers import NOON, free_port

SID = "AC" + "1" * 32
TOKEN = "secret-token"


def _error(code, status, message):
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


# What the fake gateway answers, by recipient number.
SCRIPT = {
    "+33600000001": _error(21211, 400, "The 'To' number +33600000001 is not a valid phone number."),
    "+33600000002": _error(21610, 400, "Attempt to send to unsubscribed recipient"),
    "+33600000003": _error(21614, 400, "'To' number is not a valid mobile number"),
    "+33600000004": _error(20003, 401, "Authenticate"),
    "+33600000005": _error(20429, 429, "Too Many Requests"),
    "+33600000006": (500, {"message": "Internal Server Error", "status": 500}),
    "+33600000010": (503, {"message": "Service Unavailable", "status": 503}),
    "+33600000007": _error(21408, 400, "Permission to send an SMS has not been enabled for the region"),
}
SLOW = "+33600000008"
DROP = "+33600000009"
DROP_AFTER_CREATE = "+33600000011"
# Recipients whose delivery report the fake gateway posts before answering the create request.
EARLY_REPORTS = {"+33600000020": "delivered", "+33600000021": "undelivered"}
FakeTwilioCallbacks: list = []


def _post_status_callback(url, sid, status):
    """A real HTTP POST, signed as Twilio signs it, to the practice's status webhook."""
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": SID}
    if status == "undelivered":
        params["ErrorCode"] = "30003"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    FakeTwilioCallbacks.append((sid, status, response.status_code))


class FakeTwilio(BaseHTTPRequestHandler):
    requests: list = []
    created: list = []  # messages Twilio lists (GET .../Messages.json)
    lists: list = []

    def do_GET(self):
        """The Messages list, filtered by recipient as Twilio does."""
        path = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(path.query).items()}
        FakeTwilio.lists.append(query)
        found = [m for m in FakeTwilio.created if m["to"] == query.get("To")]
        payload = {"messages": found, "end": len(found), "first_page_uri": path.path, "next_page_uri": None,
                   "page": 0, "page_size": 50, "previous_page_uri": None, "start": 0, "uri": self.path}
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        FakeTwilio.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "ctype": self.headers.get("Content-Type"), "form": form}
        )
        to = form.get("To", "")
        if to == DROP_AFTER_CREATE:
            # Twilio created the message, then the answer was lost on the way back.
            n = len(FakeTwilio.requests)
            FakeTwilio.created.append({
                "sid": f"SM{n:032x}", "to": to, "from": form.get("From"), "body": form.get("Body"),
                "status": "delivered", "direction": "outbound-api", "error_code": None, "account_sid": SID,
                "date_created": formatdate(usegmt=True), "date_sent": formatdate(usegmt=True),
            })
        if to in (DROP, DROP_AFTER_CREATE):
            # Read the whole request, then hang up without answering.
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if to == SLOW:
            time.sleep(1.5)
        status, payload = SCRIPT.get(to, (201, None))
        if payload is None:
            n = len(FakeTwilio.requests)
            if to in EARLY_REPORTS:
                # Like Twilio on a fast network: the delivery report reaches the practice before
                # the answer to the create request reaches the dispatcher.
                _post_status_callback(form["StatusCallback"], f"SM{n:032x}", EARLY_REPORTS[to])
            payload = {
                "sid": f"SM{n:032x}", "status": "queued", "to": to, "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
                "account_sid": SID, "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM{n:032x}.json",
            }
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def gateway(settings):
    FakeTwilio.requests, FakeTwilio.created, FakeTwilio.lists = [], [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_TIMEOUT = 1
    settings.PUBLIC_BASE_URL = "https://cabinet.example.fr"
    yield FakeTwilio.requests
    server.shutdown()
    server.server_close()


def _send(*numbers, body="Rappel de RDV"):
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
        recipients=[number_recipient(number=n) for n in numbers], sms_body=body, schedule_dispatch=False,
    )
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    return {m.to: m for m in mailing.messages.all()}


@pytest.mark.django_db
def test_request_matches_twilio_messages_api(gateway):
    from practice.models import Practice

    practice = Practice.get()
    practice.sms_sender_name = "DrMolaire"
    practice.save()
    msg = _send("+33684285560", body="Bonjour, votre RDV est confirmé.")["+33684285560"]
    [req] = gateway
    assert req["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert req["auth"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert req["ctype"].startswith("application/x-www-form-urlencoded")
    assert req["form"] == {
        "To": "+33684285560",
        "From": "DrMolaire",
        "Body": "Bonjour, votre RDV est confirmé.",
        "StatusCallback": "https://cabinet.example.fr/webhooks/twilio/status/",
    }
    assert msg.status == MessageStatus.SENT and msg.provider_id == f"SM{1:032x}"


@pytest.mark.django_db
def test_messaging_service_replaces_the_sender(gateway, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
    _send("+33684285560")
    form = gateway[0]["form"]
    assert form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in form


@pytest.mark.django_db
@pytest.mark.parametrize(
    "number, code, reason",
    [
        ("+33600000001", "21211", "Numéro de téléphone invalide : corrigez le portable dans la fiche."),
        ("+33600000002", "21610", "Le destinataire a répondu STOP : il ne reçoit plus de SMS du cabinet."),
        ("+33600000003", "21614", "Ce numéro n'est pas un téléphone portable : il ne peut pas recevoir de SMS."),
        ("+33600000004", "20003", "La passerelle SMS a refusé les identifiants du cabinet"),
        ("+33600000007", "21408", "L'envoi de SMS vers ce pays n'est pas autorisé sur le compte Twilio."),
    ],
)
def test_permanent_errors_fail_once_with_a_french_reason(gateway, number, code, reason):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    msg = _send(number)[number]
    assert msg.status == MessageStatus.FAILED
    assert msg.error_code == code and msg.reason.startswith(reason)
    dispatch_pending(now=NOON.replace(hour=15))
    assert len(gateway) == 1  # not retried


@pytest.mark.django_db
@pytest.mark.parametrize("number, code", [("+33600000005", "20429"), ("+33600000010", "503")])
def test_429_and_503_are_retried_later(gateway, number, code):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    msg = _send(number)[number]
    assert msg.status == MessageStatus.PENDING and msg.attempts == 1 and msg.error_code == code
    assert msg.not_before > NOON
    import datetime as dt

    dispatch_pending(now=NOON + dt.timedelta(minutes=1))
    assert len(gateway) == 2
    msg.refresh_from_db()
    assert msg.attempts == 2 and msg.status == MessageStatus.PENDING


@pytest.mark.django_db
def test_a_500_is_unknown_not_retried_because_the_sms_may_have_left(gateway):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    number = "+33600000006"
    msg = _send(number)[number]
    assert msg.status == MessageStatus.UNKNOWN and msg.error_code == "500"
    assert "peut-être parti" in msg.reason
    dispatch_pending(now=NOON.replace(hour=18))
    assert len(gateway) == 1


@pytest.mark.django_db
def test_timeout_after_the_request_left_is_unknown_not_retried(gateway):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    msg = _send(SLOW)[SLOW]
    assert msg.status == MessageStatus.UNKNOWN and msg.error_code == "timeout"
    assert "peut-être parti" in msg.reason
    dispatch_pending(now=NOON.replace(hour=18))
    assert len(gateway) == 1


@pytest.mark.django_db
def test_connection_dropped_after_the_request_is_unknown(gateway):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    msg = _send(DROP)[DROP]
    assert msg.status == MessageStatus.UNKNOWN and msg.error_code == "connection-lost"
    assert len(gateway) == 1


@pytest.mark.django_db
def test_gateway_unreachable_is_transient(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    msg = _send("+33684285560")["+33684285560"]
    assert msg.status == MessageStatus.PENDING and msg.error_code == "connect" and msg.attempts == 1
    assert "injoignable" in msg.reason


def test_backend_refuses_to_work_without_credentials(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        SmsBackend()


def test_no_sender_at_all_is_a_permanent_configuration_error(settings, gateway):
    settings.TWILIO_FROM_NUMBER = ""
    sms = SmsMessage(to="+33684285560", body="x", sender="")
    assert SmsBackend().send_messages([sms]) == 0
    assert sms.error.permanent and "expéditeur" in sms.error.message
    assert gateway == []


@pytest.mark.django_db(transaction=True)
def test_a_delivery_report_arriving_before_the_message_is_recorded_is_applied_after(gateway, settings, live_server):
    """The report comes back (signed, over HTTP) while the dispatcher still waits for Twilio's
    answer: no message carries that id yet. It is kept, not dropped, and applied once the
    message is recorded as sent; the failed one keeps its French reason."""
    from messaging.models import PendingDeliveryEvent
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    FakeTwilioCallbacks.clear()
    sent = _send(*EARLY_REPORTS)
    assert [code for _, _, code in FakeTwilioCallbacks] == [200, 200]
    delivered, failed = sent["+33600000020"], sent["+33600000021"]
    assert delivered.status == MessageStatus.DELIVERED and delivered.provider_id == FakeTwilioCallbacks[0][0]
    assert failed.status == MessageStatus.FAILED and failed.error_code == "30003"
    assert "injoignable" in failed.reason
    assert not PendingDeliveryEvent.objects.exists()


@pytest.mark.django_db
def test_unknown_sms_are_settled_with_twilios_messages_list_once(gateway, settings, no_quiet_hours):
    """Both answers were lost: Twilio had created one message (found in its list by recipient
    and date sent: SENT with its id, and delivered as Twilio says) and never the other (back to
    PENDING, sent once by the next dispatch). Neither is checked twice."""
    from django.utils import timezone

    from messaging.models import GatewayCheck, Message
    from messaging.reconcile import reconcile_unknown_sms
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    settings.MESSAGING_RECONCILE_AFTER_MINUTES = 0
    sent = _send(DROP_AFTER_CREATE, DROP, body="Votre RDV")
    assert {m.status for m in sent.values()} == {MessageStatus.UNKNOWN}
    result = reconcile_unknown_sms(now=timezone.now())
    assert (result.sent, result.not_sent) == (1, 1)
    assert sorted(q["To"] for q in FakeTwilio.lists) == sorted([DROP_AFTER_CREATE, DROP])
    assert all("DateSent>" in q for q in FakeTwilio.lists)
    found = Message.objects.get(to=DROP_AFTER_CREATE)
    assert found.status == MessageStatus.DELIVERED and found.provider_id == FakeTwilio.created[0]["sid"]
    never = Message.objects.get(to=DROP)
    assert never.status == MessageStatus.PENDING
    before = len([r for r in gateway if r["form"]["To"] == DROP])
    dispatch_pending(now=timezone.now())  # the fake still cuts DROP: incertain again, and stays so
    assert len([r for r in gateway if r["form"]["To"] == DROP]) == before + 1
    assert Message.objects.get(to=DROP).status == MessageStatus.UNKNOWN
    assert reconcile_unknown_sms(now=timezone.now()).as_dict() == {"sent": 0, "not_sent": 0, "unavailable": 0,
                                                                   "skipped": False}
    assert GatewayCheck.objects.count() == 2
