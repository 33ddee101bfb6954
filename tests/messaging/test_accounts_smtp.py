"""The "Tester" of an email account against a real SMTP server on loopback (aiosmtpd).

STARTTLS: the test makes a self-signed certificate for 127.0.0.1 with ``cryptography`` and gives it
to aiosmtpd as its ``tls_context``. The account test uses Django's SMTP backend unchanged, which
verifies certificates with ``ssl.create_default_context()``; OpenSSL reads the trusted
certificates from ``SSL_CERT_FILE`` when that variable is set, so the test points it at the
generated certificate. Production code has no "do not verify" switch.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messaging.models import EmailAccount, SmtpSecurity
from messaging.services import email_account_test

# The loopback server takes AUTH without TLS on purpose (the plain-text cases).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, GOOD_PASSWORD = "cabinet@molaire.test", "bon-mot-de-passe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == GOOD_PASSWORD
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    """start(**smtp_kwargs) runs an aiosmtpd server on a free loopback port: (port, recorder)."""
    controllers = []

    def start(**kwargs):
        recorder = Recorder()
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port, recorder

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def self_signed(tmp_path, monkeypatch):
    """A certificate for 127.0.0.1, trusted by this process's default SSL context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    return server_context


def make_account(port, **kwargs) -> EmailAccount:
    values = {
        "name": "Mail du Dr Molaire",
        "email": "molaire@cabinet.test",
        "display_name": "Dr Molaire",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "security": SmtpSecurity.NONE,
        "timeout": 5,
        "username": USER,
        "password": GOOD_PASSWORD,
    }
    values.update(kwargs)
    return EmailAccount.objects.create(**values)


@pytest.mark.django_db
def test_success_sends_the_test_email_to_the_account_itself(smtp_server):
    port, recorder = smtp_server(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    account = make_account(port)

    result = email_account_test(account=account)

    assert result.ok, result.message
    assert "Test réussi" in result.message
    assert len(recorder.envelopes) == 1
    envelope = recorder.envelopes[0]
    assert envelope.mail_from == "molaire@cabinet.test"
    assert envelope.rcpt_tos == ["molaire@cabinet.test"]
    content = envelope.content.decode()
    assert "From: Dr Molaire <molaire@cabinet.test>" in content
    assert "To: molaire@cabinet.test" in content
    account.refresh_from_db()
    assert account.last_test_ok is True and account.last_test_at is not None
    assert account.last_test_message == result.message


@pytest.mark.django_db
def test_wrong_password_is_reported_in_plain_french(smtp_server):
    port, recorder = smtp_server(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    account = make_account(port, password="mauvais")

    result = email_account_test(account=account)

    assert not result.ok
    assert "refusé l'utilisateur ou le mot de passe" in result.message
    assert "535" in result.message
    assert recorder.envelopes == []
    account.refresh_from_db()
    assert account.last_test_ok is False
    assert "mot de passe" in account.last_test_message


@pytest.fixture
def provider_host_on_loopback(monkeypatch):
    """Connections to the given provider's SMTP host name reach the loopback server instead, so
    the account keeps its real host name (what the Tester recognises the provider by)."""
    real = socket.create_connection

    def route(host):
        def create_connection(address, *args, **kwargs):
            if address[0] == host:
                address = ("127.0.0.1", address[1])
            return real(address, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", create_connection)

    return route


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host, label, where",
    [
        ("smtp.gmail.com", "Gmail", "myaccount.google.com/apppasswords"),
        ("smtp-mail.outlook.com", "Hotmail / Outlook / Live", "account.microsoft.com › Sécurité"),
    ],
)
def test_gmail_or_outlook_refusing_the_password_is_diagnosed_as_a_missing_application_password(
    smtp_server, provider_host_on_loopback, host, label, where
):
    port, recorder = smtp_server(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    provider_host_on_loopback(host)
    account = make_account(port, smtp_host=host, password="le-mot-de-passe-habituel")

    result = email_account_test(account=account)

    assert not result.ok and recorder.envelopes == []
    assert result.message.startswith(f"{label} a refusé l'utilisateur ou le mot de passe (code 535).")
    assert "mot de passe d'application" in result.message and where in result.message
    # With the right password, the same server and route work: the diagnosis was about the password.
    account.password = GOOD_PASSWORD
    account.save()
    assert email_account_test(account=account).ok


@pytest.mark.django_db
def test_nothing_listening_means_server_unreachable():
    account = make_account(free_port())

    result = email_account_test(account=account)

    assert not result.ok
    assert result.message.startswith("Serveur injoignable")
    assert "refuse la connexion" in result.message


@pytest.mark.django_db
def test_unknown_host_name_is_explained_as_dns(monkeypatch):
    # A real DNS lookup would leave the machine: the resolver's answer is simulated instead.
    import smtplib

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(smtplib.socket, "create_connection", no_such_host)
    account = make_account(25, smtp_host="smtp.orange.frr")

    result = email_account_test(account=account)

    assert not result.ok
    assert "smtp.orange.frr" in result.message and "DNS" in result.message


@pytest.mark.django_db
def test_starttls_with_a_trusted_certificate_succeeds(smtp_server, self_signed):
    port, recorder = smtp_server(
        authenticator=authenticator, auth_require_tls=True, tls_context=self_signed, require_starttls=True
    )
    account = make_account(port, security=SmtpSecurity.STARTTLS)

    result = email_account_test(account=account)

    assert result.ok, result.message
    assert len(recorder.envelopes) == 1
    assert recorder.envelopes[0].rcpt_tos == ["molaire@cabinet.test"]


@pytest.mark.django_db
def test_starttls_not_offered_is_a_tls_refusal(smtp_server):
    port, recorder = smtp_server()  # no tls_context: the server does not offer STARTTLS
    account = make_account(port, security=SmtpSecurity.STARTTLS, username="", password="")

    result = email_account_test(account=account)

    assert not result.ok
    assert "ne propose pas STARTTLS" in result.message
    assert recorder.envelopes == []


@pytest.mark.django_db
def test_ssl_against_a_plain_server_is_a_tls_handshake_error(smtp_server):
    port, _recorder = smtp_server()
    account = make_account(port, security=SmtpSecurity.SSL, username="", password="")

    result = email_account_test(account=account)

    assert not result.ok
    assert "connexion sécurisée (TLS)" in result.message


@pytest.mark.django_db
def test_silent_server_times_out():
    # A listening socket nobody accepts from: the TCP connection opens, no greeting ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        account = make_account(silent.getsockname()[1], timeout=1)

        result = email_account_test(account=account)

    assert not result.ok
    assert "n'a pas répondu dans le délai de 1 s" in result.message
