"""Per-account SMTP delivery against a real SMTP server on loopback (aiosmtpd)."""

import email
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import Recipient
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON, free_port, make_account


class Recorder:
    """Stores what it accepts; can hang up at chosen moments."""

    def __init__(self):
        self.received: list[email.message.Message] = []
        self.ehlos = 0
        self.drop_before_data = set()  # recipients whose first RCPT gets the connection closed
        self.drop_after_data = set()  # recipients whose message is stored, then the line cut
        self.refuse = {}  # recipient -> SMTP answer to RCPT

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if address in self.drop_before_data:
            self.drop_before_data.discard(address)
            server.transport.close()
            return "421 closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(email.message_from_bytes(envelope.original_content))
        if set(envelope.rcpt_tos) & self.drop_after_data:
            server.transport.close()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


def _mailing(account, addresses, subject="Rappel de rendez-vous"):
    patient = PatientFactory(first_name="Emma")
    recipients = [Recipient(role="patient", name=a, address=a, channel=Channel.EMAIL, patient=patient, person=patient)
                  for a in addresses]
    return mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, email_subject=subject,
                          email_body_html="<p>Bonjour @PPREN,</p><p>À demain.</p>", account=account,
                          signature=None, schedule_dispatch=False)


def _to(msg):
    return msg["To"]


@pytest.mark.django_db
def test_one_connection_for_a_batch_with_text_and_html(smtp):
    account = make_account(smtp_port=smtp.port)
    mailing = _mailing(account, ["a@patients.test", "b@patients.test", "c@patients.test"])
    result = dispatch_pending(now=NOON)
    assert result.sent == 3
    assert smtp.ehlos == 1
    assert sorted(_to(m) for m in smtp.received) == ["a@patients.test", "b@patients.test", "c@patients.test"]
    first = smtp.received[0]
    assert first["From"] == "Cabinet du Dr Molaire <secretariat@cabinet.test>"
    assert str(email.header.make_header(email.header.decode_header(first["Subject"]))) == "Rappel de rendez-vous"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in first.walk() if not p.is_multipart()}
    assert parts["text/plain"].replace("\r\n", "\n").strip() == "Bonjour Emma,\n\nÀ demain."
    assert parts["text/html"] == "<p>Bonjour Emma,</p><p>À demain.</p>"
    for m in mailing.messages.all():
        assert m.status == MessageStatus.SENT and m.provider_id.startswith("<")
    assert {m["Message-ID"] for m in smtp.received} == set(mailing.messages.values_list("provider_id", flat=True))


@pytest.mark.django_db
def test_server_drops_the_connection_mid_batch(smtp):
    account = make_account(smtp_port=smtp.port)
    addresses = [f"{c}@patients.test" for c in "abcde"]
    smtp.drop_before_data.add("b@patients.test")  # cut before anything was sent: resent on a new connection
    smtp.drop_after_data.add("d@patients.test")  # cut after the server took it: may have left -> unknown
    mailing = _mailing(account, addresses)
    result = dispatch_pending(now=NOON)
    time.sleep(0.1)
    received = sorted(_to(m) for m in smtp.received)
    assert received == addresses  # each exactly once: nothing sent twice, the rest delivered
    status = {m.to: m for m in mailing.messages.all()}
    assert {a: status[a].status for a in addresses} == {
        "a@patients.test": MessageStatus.SENT,
        "b@patients.test": MessageStatus.SENT,
        "c@patients.test": MessageStatus.SENT,
        "d@patients.test": MessageStatus.UNKNOWN,
        "e@patients.test": MessageStatus.SENT,
    }
    assert "peut-être parti" in status["d@patients.test"].reason
    assert status["d@patients.test"].error_code == "smtp-dropped"
    assert (result.sent, result.unknown) == (4, 1)
    assert smtp.ehlos == 3  # first connection, reconnect after b's drop, reconnect after d's
    # Running dispatch again sends nothing (the unknown one waits for staff).
    dispatch_pending(now=NOON)
    assert len(smtp.received) == 5


@pytest.mark.django_db
def test_refused_recipient_permanent_and_mailbox_full_transient(smtp):
    account = make_account(smtp_port=smtp.port)
    smtp.refuse["inconnu@patients.test"] = "550 5.1.1 Mailbox unknown"
    smtp.refuse["plein@patients.test"] = "452 4.2.2 Mailbox full"
    mailing = _mailing(account, ["inconnu@patients.test", "plein@patients.test", "ok@patients.test"])
    dispatch_pending(now=NOON)
    status = {m.to: m for m in mailing.messages.all()}
    assert status["inconnu@patients.test"].status == MessageStatus.FAILED
    assert status["inconnu@patients.test"].reason == "Adresse refusée par le serveur de messagerie (550 5.1.1 Mailbox unknown)."
    assert status["plein@patients.test"].status == MessageStatus.PENDING
    assert status["plein@patients.test"].error_code == "smtp-452"
    assert status["ok@patients.test"].status == MessageStatus.SENT
    assert [_to(m) for m in smtp.received] == ["ok@patients.test"]


@pytest.mark.django_db
def test_wrong_password_fails_with_a_clear_reason(settings):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"secretariat" and auth_data.password == b"bon-mot-de-passe"
        return AuthResult(success=ok, handled=False)

    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        account = make_account(smtp_port=port, username="secretariat", password="mauvais")
        mailing = _mailing(account, ["a@patients.test", "b@patients.test"])
        dispatch_pending(now=NOON)
        rows = list(mailing.messages.all())
        assert {m.status for m in rows} == {MessageStatus.FAILED}
        assert rows[0].reason.startswith("Le serveur d'envoi a refusé l'identifiant ou le mot de passe du compte « Secrétariat »")
        account.password = "bon-mot-de-passe"
        account.save()
        ok = _mailing(account, ["c@patients.test"], subject="Deuxième")
        dispatch_pending(now=NOON)
        assert ok.messages.get().status == MessageStatus.SENT
        assert [_to(m) for m in handler.received] == ["c@patients.test"]
    finally:
        controller.stop()


@pytest.mark.django_db
def test_unreachable_server_pauses_the_account_without_spending_attempts(settings):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    account = make_account(smtp_port=free_port())
    mailing = _mailing(account, ["a@patients.test"])
    result = dispatch_pending(now=NOON)
    assert result.paused == ["Secrétariat"]
    m = mailing.messages.get()
    assert m.status == MessageStatus.PENDING and m.error_code == "paused" and "injoignable" in m.reason
    assert m.attempts == 0 and m.not_before > NOON
    account.refresh_from_db()
    assert account.paused_at == NOON and "injoignable" in account.pause_reason


CHECK_SETTINGS = "vérifiez les réglages du compte email « Secrétariat »"


def _fails_at_once_for_configuration(mailing, *, contains: str) -> Message:
    m = mailing.messages.get()
    # Failed before it was handed over: no attempt spent, nothing left.
    assert (m.status, m.attempts, m.not_before, m.handed_at) == (MessageStatus.FAILED, 0, None, None)
    assert contains in m.reason and CHECK_SETTINGS in m.reason
    return m


@pytest.mark.django_db
def test_ssl_against_a_plain_server_fails_at_once_as_a_configuration_error(smtp):
    from messaging.models import SmtpSecurity

    account = make_account(smtp_port=smtp.port, security=SmtpSecurity.SSL)
    mailing = _mailing(account, ["a@patients.test"])
    result = dispatch_pending(now=NOON)
    assert (result.failed, result.retried) == (1, 0)
    m = _fails_at_once_for_configuration(mailing, contains="connexion sécurisée (TLS)")
    assert m.error_code == "smtp-config"
    assert smtp.received == []


@pytest.mark.django_db
def test_starttls_not_offered_fails_at_once_as_a_configuration_error(smtp):
    from messaging.models import SmtpSecurity

    account = make_account(smtp_port=smtp.port, security=SmtpSecurity.STARTTLS)
    mailing = _mailing(account, ["a@patients.test"])
    dispatch_pending(now=NOON)
    _fails_at_once_for_configuration(mailing, contains="ne propose pas STARTTLS")
    assert smtp.received == []


@pytest.mark.django_db
def test_refused_password_says_to_check_the_account(settings):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    controller = Controller(Recorder(), hostname="127.0.0.1", port=(port := free_port()), auth_require_tls=False,
                            authenticator=lambda *a: AuthResult(success=False, handled=False))
    controller.start()
    try:
        mailing = _mailing(make_account(smtp_port=port, username="secretariat", password="x"), ["a@patients.test"])
        dispatch_pending(now=NOON)
        m = _fails_at_once_for_configuration(mailing, contains="(535)")
        assert m.error_code == "smtp-535"
    finally:
        controller.stop()


@pytest.mark.django_db
def test_unknown_host_name_fails_at_once_but_a_busy_resolver_is_retried(settings, monkeypatch):
    import smtplib
    import socket

    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    answer = {"errno": socket.EAI_NONAME}

    def resolver(*args, **kwargs):  # a real lookup would leave the machine: its answer is simulated
        raise socket.gaierror(answer["errno"], "simulated")

    monkeypatch.setattr(smtplib.socket, "create_connection", resolver)
    account = make_account(smtp_host="smtp.orange.frr")
    mailing = _mailing(account, ["a@patients.test"])
    dispatch_pending(now=NOON)
    _fails_at_once_for_configuration(mailing, contains="« smtp.orange.frr » ne correspond à aucun serveur connu (DNS)")

    answer["errno"] = socket.EAI_AGAIN  # "try again": the resolver is down, not the name wrong
    again = _mailing(account, ["b@patients.test"], subject="Deuxième")
    dispatch_pending(now=NOON)
    m = again.messages.get()
    assert (m.status, m.error_code, m.attempts) == (MessageStatus.PENDING, "paused", 0)


@pytest.mark.django_db
def test_one_connection_for_all_the_batches_of_a_run(smtp):
    account = make_account(smtp_port=smtp.port)
    addresses = [f"p{i}@patients.test" for i in range(7)]
    mailing = _mailing(account, addresses)
    result = dispatch_pending(mailing_id=mailing.pk, limit=3, now=NOON)  # three batches
    assert result.sent == 7
    assert smtp.ehlos == 1
    assert sorted(_to(m) for m in smtp.received) == sorted(addresses)
    assert set(mailing.messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    ids = list(mailing.messages.values_list("provider_id", flat=True))
    assert len(set(ids)) == 7 and {m["Message-ID"] for m in smtp.received} == set(ids)
