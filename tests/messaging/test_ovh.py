"""The OVHcloud gateway against a local server that answers like OVH's API and checks every
request's signature (X-Ovh-Signature), including the unsigned /auth/time call before it."""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messaging.dispatch import dispatch_pending
from messaging.gateways.ovh import SmsBackend
from messaging.models import Channel, GatewayCheck, InboundMessage, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient
from tests.messaging.sending_helpers import NOON, free_port

APP_KEY, APP_SECRET, CONSUMER_KEY, SERVICE = "app-key", "app-secret", "consumer-key", "sms-ab12345-1"
TOKEN = "callback-secret-0123456789"

# What the fake OVH answers, by receiver: (HTTP status, JSON body, whether the SMS was created).
INVALID = "+33600000001"
SCRIPT = {
    INVALID: (200, {"ids": [], "validReceivers": [], "invalidReceivers": [INVALID], "totalCreditsRemoved": 0}, False),
    "+33600000002": (400, {"message": "Invalid sender CABINET"}, False),
    "+33600000003": (400, {"message": "Not enough credits"}, False),
    "+33600000004": (404, {"message": "The requested object (serviceName = sms-ab12345-1) does not exist"}, False),
    "+33600000005": (429, {"message": "Too many requests"}, False),
    "+33600000006": (500, {"message": "Internal Server Error"}, True),  # created, then failed to answer
    "+33600000007": (503, {"message": "Service Unavailable"}, False),
    "+33600000008": (500, {"message": "Internal Server Error"}, False),  # failed before creating it
}
DROP = "+33600000009"  # created, then the connection is cut without an answer


class FakeOvh(BaseHTTPRequestHandler):
    requests: list = []
    jobs: dict = {}  # id -> outgoing SMS as OVH lists it
    held: dict = {}  # id -> job OVH holds (deferred), not in the outgoing list yet
    time_calls = 0
    next_id = 1000

    def log_message(self, *args):
        pass

    def _answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _signed(self, body: str) -> bool:
        """OVH's check: "$1$" + sha1(secret+consumer+METHOD+full URL+body+timestamp)."""
        h = self.headers
        url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        expected = "$1$" + hashlib.sha1(
            "+".join([APP_SECRET, h.get("X-Ovh-Consumer", ""), self.command, url, body,
                      h.get("X-Ovh-Timestamp", "")]).encode()
        ).hexdigest()
        return (h.get("X-Ovh-Application") == APP_KEY and h.get("X-Ovh-Consumer") == CONSUMER_KEY
                and h.get("X-Ovh-Signature") == expected and abs(int(h.get("X-Ovh-Timestamp", "0")) - time.time()) < 60)

    def do_GET(self):
        path = urlsplit(self.path)
        if path.path == "/1.0/auth/time":
            FakeOvh.time_calls += 1
            return self._answer(200, int(time.time()))
        if not self._signed(""):
            return self._answer(403, {"errorCode": "INVALID_CREDENTIAL", "message": "Invalid signature"})
        FakeOvh.requests.append({"method": "GET", "path": path.path, "query": parse_qs(path.query)})
        # The account's lists, or a virtual number's (SMS sent from it are listed there only).
        base, virtual = f"/1.0/sms/{SERVICE}", None
        if path.path.startswith(base + "/virtualNumbers/"):
            virtual = path.path.split("/")[5]
            base = f"{base}/virtualNumbers/{virtual}"
        outgoing = f"{base}/outgoing"
        if path.path == outgoing:
            query = {k: v[0] for k, v in parse_qs(path.query).items()}
            ids = [i for i, sms in FakeOvh.jobs.items() if sms["receiver"] == query.get("receiver")
                   and sms.get("virtual") == virtual
                   and query["creationDatetime.from"] <= sms["creationDatetime"] <= query["creationDatetime.to"]]
            return self._answer(200, ids)
        if path.path == f"{base}/jobs":
            return self._answer(200, [i for i, job in FakeOvh.held.items() if job.get("virtual") == virtual])
        if path.path.startswith(f"{base}/jobs/"):
            return self._answer(200, FakeOvh.held[int(path.path.rsplit("/", 1)[1])])
        if path.path.startswith(outgoing + "/"):
            sms = FakeOvh.jobs.get(int(path.path.rsplit("/", 1)[1]))
            return self._answer(200, sms) if sms else self._answer(404, {"message": "not found"})
        return self._answer(404, {"message": "not found"})

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if not self._signed(body):
            return self._answer(403, {"errorCode": "INVALID_CREDENTIAL", "message": "Invalid signature"})
        FakeOvh.requests.append({"method": "PUT", "path": self.path, "json": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"null")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if not self._signed(body):
            return self._answer(403, {"errorCode": "INVALID_CREDENTIAL", "message": "Invalid signature"})
        data = json.loads(body)
        FakeOvh.requests.append({"method": "POST", "path": self.path, "json": data, "ctype": self.headers.get("Content-Type")})
        virtual = self.path.startswith(f"/1.0/sms/{SERVICE}/virtualNumbers/") and self.path.endswith("/jobs")
        if self.path != f"/1.0/sms/{SERVICE}/jobs" and not virtual:
            return self._answer(404, {"message": "not found"})
        [to] = data["receivers"]
        status, payload, created = SCRIPT.get(to, (200, None, True))
        if created:
            FakeOvh.next_id += 1
            sms_id = FakeOvh.next_id
            FakeOvh.jobs[sms_id] = {
                "id": sms_id, "receiver": to, "sender": data.get("sender", "36111"), "tag": data.get("tag"),
                # OVH appends its STOP mention to the text (noStopClause false).
                "message": data["message"] + "\nSTOP 36111", "deliveryReceipt": 8,
                "virtual": self.path.split("/")[5] if virtual else None,
                "creationDatetime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            }
            if payload is None:
                payload = {"ids": [sms_id], "validReceivers": [to], "invalidReceivers": [], "totalCreditsRemoved": 1}
        if to == DROP:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        return self._answer(status, payload)


@pytest.fixture
def ovh_server(settings):
    FakeOvh.requests, FakeOvh.jobs, FakeOvh.held, FakeOvh.time_calls, FakeOvh.next_id = [], {}, {}, 0, 1000
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOvh)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SMS_BACKEND = "ovh"
    settings.OVH_APPLICATION_KEY = APP_KEY
    settings.OVH_APPLICATION_SECRET = APP_SECRET
    settings.OVH_CONSUMER_KEY = CONSUMER_KEY
    settings.OVH_SMS_SERVICE_NAME = SERVICE
    settings.OVH_BASE_URL = f"http://127.0.0.1:{server.server_port}/1.0"
    settings.OVH_TIMEOUT = 2
    settings.OVH_CALLBACK_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = "https://cabinet.example.fr"
    yield FakeOvh
    server.shutdown()
    server.server_close()


@pytest.fixture
def sender(db):
    from practice.models import Practice

    practice = Practice.get()
    practice.sms_sender_name = "CABINET"
    practice.save()
    return practice


def _send(*numbers, body="Rappel : RDV demain à 10h."):
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
        recipients=[number_recipient(number=n) for n in numbers], sms_body=body, schedule_dispatch=False,
    )
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    return {m.to: m for m in mailing.messages.all()}


@pytest.mark.django_db
def test_a_job_is_posted_with_ovhs_own_fields_and_a_valid_signature(ovh_server, sender):
    messages = _send("+33684285560", "+33684285561")
    jobs = [r for r in ovh_server.requests if r["method"] == "POST"]
    assert [r["path"] for r in jobs] == [f"/1.0/sms/{SERVICE}/jobs"] * 2
    first = messages["+33684285560"]
    assert jobs[0]["ctype"] == "application/json"
    assert jobs[0]["json"] == {
        "message": "Rappel : RDV demain à 10h.", "receivers": ["+33684285560"], "sender": "CABINET",
        "senderForResponse": False, "noStopClause": False, "priority": "high", "tag": f"dentcom-{first.pk}",
    }
    assert ovh_server.time_calls == 1  # OVH's clock, once per batch, before the first signed call
    assert all(m.status == MessageStatus.SENT for m in messages.values())
    assert first.provider_id in {str(i) for i in ovh_server.jobs}


@pytest.mark.django_db
def test_without_a_sender_name_one_of_ovhs_numbers_is_used(ovh_server, db):
    _send("+33684285560")
    [job] = [r["json"] for r in ovh_server.requests if r["method"] == "POST"]
    assert job["senderForResponse"] is True and "sender" not in job


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_by_ovh_and_reported_in_french(ovh_server, sender, settings):
    settings.OVH_APPLICATION_SECRET = "not-the-secret"
    msg = _send("+33684285560")["+33684285560"]
    assert msg.status == MessageStatus.FAILED and msg.error_code == "credentials"
    assert "identifiants du cabinet" in msg.reason and not ovh_server.jobs


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "status", "code", "words"),
    [
        (INVALID, MessageStatus.FAILED, "invalid-receiver", "refusé par OVH"),
        ("+33600000002", MessageStatus.FAILED, "bad-parameters", "expéditeur du cabinet n'est pas autorisé"),
        ("+33600000003", MessageStatus.PENDING, "bad-parameters", "plus assez de crédits"),
        ("+33600000004", MessageStatus.FAILED, "service-not-found", "sms-ab12345-1"),
        ("+33600000005", MessageStatus.PENDING, "429", "saturée"),
        ("+33600000006", MessageStatus.UNKNOWN, "500", "peut-être parti"),
        ("+33600000007", MessageStatus.PENDING, "503", "momentanément indisponible"),
        (DROP, MessageStatus.UNKNOWN, "connection-lost", "peut-être parti"),
    ],
)
def test_ovhs_errors_say_in_french_whether_to_try_again(ovh_server, sender, number, status, code, words):
    msg = _send(number)[number]
    assert (msg.status, msg.error_code) == (status, code)
    assert words in msg.reason


@pytest.mark.django_db
def test_ovh_unreachable_is_transient(settings, sender):
    settings.SMS_BACKEND = "ovh"
    settings.OVH_APPLICATION_KEY, settings.OVH_APPLICATION_SECRET = APP_KEY, APP_SECRET
    settings.OVH_CONSUMER_KEY, settings.OVH_SMS_SERVICE_NAME = CONSUMER_KEY, SERVICE
    settings.OVH_BASE_URL = f"http://127.0.0.1:{free_port()}/1.0"  # nobody listens there
    msg = _send("+33684285560")["+33684285560"]
    assert msg.status == MessageStatus.PENDING and msg.error_code == "auth-time" and "injoignable" in msg.reason


def test_the_backend_refuses_to_work_without_credentials(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.OVH_CONSUMER_KEY = ""
    settings.OVH_APPLICATION_KEY = settings.OVH_APPLICATION_SECRET = settings.OVH_SMS_SERVICE_NAME = "x"
    with pytest.raises(ImproperlyConfigured, match="OVH_CONSUMER_KEY"):
        SmsBackend()


# --- Callbacks -----------------------------------------------------------------------------


def _status(client, **params):
    return client.get("/webhooks/ovh/status/", {"token": TOKEN, **params})


@pytest.mark.django_db
def test_delivery_receipts_move_the_message_forward_never_back(client, ovh_server, sender):
    msg = _send("+33684285560")["+33684285560"]
    assert _status(client, id=msg.provider_id, dlr="1", receiver="0033684285560").status_code == 200
    assert _status(client, id=msg.provider_id, dlr="8").status_code == 200  # late "handed to the operator"
    msg.refresh_from_db()
    assert msg.status == MessageStatus.DELIVERED and msg.delivered_at is not None


@pytest.mark.django_db
def test_a_failed_receipt_posted_as_a_form_gives_a_french_reason(client, ovh_server, sender):
    msg = _send("+33684285560")["+33684285560"]
    response = client.post(f"/webhooks/ovh/status/?token={TOKEN}", {"id": msg.provider_id, "dlr": "2"})
    assert response.status_code == 200
    msg.refresh_from_db()
    assert msg.status == MessageStatus.FAILED and msg.error_code == "dlr-2" and "injoignable" in msg.reason


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "wrong", TOKEN[:-1]])
def test_a_callback_without_the_secret_is_refused(client, ovh_server, sender, token):
    msg = _send("+33684285560")["+33684285560"]
    assert client.get("/webhooks/ovh/status/", {"token": token, "id": msg.provider_id, "dlr": "2"}).status_code == 403
    assert client.get("/webhooks/ovh/inbound/", {"token": token, "id": "9", "senderid": "+33684285560",
                                                 "message": "STOP"}).status_code == 403
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT and not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_a_receipt_before_its_message_is_recorded_is_kept_then_applied(client, ovh_server, sender):
    from messaging.lifecycle import apply_kept_events
    from messaging.models import PendingDeliveryEvent

    assert _status(client, id="1001", dlr="1").status_code == 200
    assert PendingDeliveryEvent.objects.filter(provider_id="1001", status="delivered").exists()
    msg = _send("+33684285560")["+33684285560"]  # the fake's first id is 1001
    assert msg.provider_id == "1001" and msg.status == MessageStatus.DELIVERED
    assert not PendingDeliveryEvent.objects.exists() and apply_kept_events(["1001"]) == 0


@pytest.mark.django_db
def test_a_reply_is_recorded_and_stop_withdraws_consent(client, ovh_server):
    from tests.factories import PatientFactory

    patient = PatientFactory(mobile="+33684285560", sms_consent=True)
    response = client.get("/webhooks/ovh/inbound/", {"token": TOKEN, "id": "77", "senderid": "0033684285560",
                                                     "message": "Stop", "receiver": "36111"})
    assert response.status_code == 200
    inbound = InboundMessage.objects.get()
    assert inbound.is_stop and inbound.patient == patient and inbound.provider_id == "ovh-77"
    patient.refresh_from_db()
    assert patient.sms_consent is False


@pytest.mark.django_db
def test_a_reply_callback_without_what_we_read_records_nothing_and_is_logged(client, ovh_server, caplog):
    """OVH's reply parameters could not be cross-checked (docs/sending.md): a call whose sender
    we cannot read is answered 200, records nothing, and says so in the server's log."""
    with caplog.at_level("WARNING", logger="messaging.webhooks"):
        response = client.get("/webhooks/ovh/inbound/", {"token": TOKEN, "id": "78", "from_msisdn": "0033684285560",
                                                         "body": "Oui"})
    assert response.status_code == 200
    assert not InboundMessage.objects.exists()
    assert "Inbound callback of ovh without a reply it could read (parameters: body, from_msisdn, id)" in caplog.text
    assert TOKEN not in caplog.text


# --- sendtestsms and reconciliation ----------------------------------------------------------


@pytest.mark.django_db
def test_sendtestsms_works_with_ovh(ovh_server, sender, no_quiet_hours):
    out = StringIO()
    call_command("sendtestsms", "06 84 28 55 60", "--text", "Test OVH", stdout=out)
    [sms_id] = ovh_server.jobs
    assert f"Identifiant passerelle : {sms_id}" in out.getvalue() and "Envoyé" in out.getvalue()
    assert ovh_server.jobs[sms_id]["receiver"] == "+33684285560"


@pytest.mark.django_db
def test_sendtestsms_reports_ovhs_refusal(ovh_server, sender, no_quiet_hours):
    with pytest.raises(CommandError, match="refusé par OVH"):
        call_command("sendtestsms", INVALID, stdout=StringIO())


@pytest.mark.django_db
def test_unknown_sms_are_settled_with_ovhs_outgoing_list_once(ovh_server, sender, settings, no_quiet_hours):
    """One SMS OVH created before failing to answer, one it never created: the first becomes
    SENT with OVH's id, the second goes back to PENDING and leaves once; neither is checked twice."""
    from django.utils import timezone

    from messaging.reconcile import reconcile_unknown_sms

    settings.MESSAGING_RECONCILE_AFTER_MINUTES = 0
    left, never = "+33600000006", "+33600000008"
    sent = _send(left, never, body="Votre RDV")
    Message.objects.filter(to=never).update(status=MessageStatus.UNKNOWN)  # the same ambiguity, not created
    assert sent[left].status == MessageStatus.UNKNOWN
    SCRIPT_BEFORE = dict(SCRIPT)
    try:
        del SCRIPT[never]  # OVH works again for the resend
        result = reconcile_unknown_sms(now=timezone.now())
        assert (result.sent, result.not_sent) == (1, 1)
        [created_id] = [i for i, sms in ovh_server.jobs.items() if sms["receiver"] == left]
        first = Message.objects.get(to=left)
        assert first.status == MessageStatus.SENT and first.provider_id == str(created_id)
        second = Message.objects.get(to=never)
        assert second.status == MessageStatus.PENDING and "pas parti" in second.reason
        lookups = [r for r in ovh_server.requests if r["method"] == "GET" and r["path"].endswith("/outgoing")]
        assert {r["query"]["receiver"][0] for r in lookups} == {left, never}
        dispatch_pending(now=timezone.now())
        assert [sms["receiver"] for sms in ovh_server.jobs.values()].count(never) == 1
        assert Message.objects.get(to=never).status == MessageStatus.SENT
        # Never twice: an SMS that becomes "incertain" again stays for staff.
        Message.objects.filter(to=never).update(status=MessageStatus.UNKNOWN)
        assert reconcile_unknown_sms(now=timezone.now()).not_sent == 0
        assert GatewayCheck.objects.count() == 2
    finally:
        SCRIPT.clear()
        SCRIPT.update(SCRIPT_BEFORE)


@pytest.mark.django_db
def test_ovhcallbacks_gives_ovh_the_secret_callback_urls(ovh_server, client):
    out = StringIO()
    call_command("ovhcallbacks", stdout=out)
    [put] = [r for r in ovh_server.requests if r["method"] == "PUT"]
    status_url = f"https://cabinet.example.fr/webhooks/ovh/status/?token={TOKEN}"
    inbound_url = f"https://cabinet.example.fr/webhooks/ovh/inbound/?token={TOKEN}"
    assert put["path"] == f"/1.0/sms/{SERVICE}"
    assert put["json"] == {"callBack": status_url, "smsResponse": {"responseType": "cgi", "cgiUrl": inbound_url}}
    assert status_url in out.getvalue() and "déclarées" in out.getvalue()
    # The URLs given are the ones the views accept.
    assert client.get(status_url.removeprefix("https://cabinet.example.fr") + "&id=1&dlr=1").status_code == 200


def test_ovhcallbacks_needs_the_public_address_and_the_token(settings):
    settings.OVH_CALLBACK_TOKEN = ""
    settings.PUBLIC_BASE_URL = "https://cabinet.example.fr"
    with pytest.raises(CommandError, match="OVH_CALLBACK_TOKEN"):
        call_command("ovhcallbacks", "--show", stdout=StringIO())


@pytest.mark.django_db
def test_an_unknown_sms_ovh_still_holds_is_found_in_its_jobs_not_resent(ovh_server, sender, settings):
    """OVH defers an SMS with its STOP mention (night, weekend): not in the outgoing list yet,
    but in the jobs; it left our hands, so it must not be sent again."""
    from django.utils import timezone

    from messaging.reconcile import reconcile_unknown_sms

    settings.MESSAGING_RECONCILE_AFTER_MINUTES = 0
    msg = _send("+33600000006", body="Votre RDV")["+33600000006"]
    [(sms_id, sms)] = ovh_server.jobs.items()
    ovh_server.held[sms_id] = ovh_server.jobs.pop(sms_id)
    assert msg.status == MessageStatus.UNKNOWN
    assert reconcile_unknown_sms(now=timezone.now()).sent == 1
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT and msg.provider_id == str(sms_id)
