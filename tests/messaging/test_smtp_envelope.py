"""AccountSender hands each email to smtplib itself (messaging.backends.email): the envelope and
the bytes must be exactly those Django's SMTP backend sends for the same email."""

import random
import string
from email.policy import compat32

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address

from messaging.backends.email import SMTP_POLICY, AccountSender, envelope_address, message_bytes
from tests.messaging.sending_helpers import free_port, make_account

TRICKY_ADDRESSES = [
    "patient@example.com",
    "Jean.Dupont+rdv@cabinet-dentaire.fr",
    "o'brien@example.ie",
    "a.b.c@sub.domain.example.org",
    "UPPER@EXAMPLE.COM",
    "x!#$%&'*+/=?^_`{|}~-y@example.com",
    "héloïse@example.fr",  # non-ASCII local part
    "marie@exämple.fr",  # IDN domain: punycode
    "jose@xn--exmple-cua.fr",
    "Hélène Dupont <helene@example.fr>",
    '"Dupont, Jean" <jean@example.fr>',
    '"Jean \\"le dentiste\\"" <jean@example.fr>',
    "Cabinet du Dr Molaire <secretariat@cabinet.test>",
    "=?utf-8?q?H=C3=A9l=C3=A8ne?= <helene@example.fr>",
    "=?utf-8?q?=C3=A9?=@example.fr",  # an encoded word as local part: decoded by Django
    '"quoted local"@example.fr',
    "a..b@example.fr",
    "a@b",
    "a@" + "b" * 63 + ".fr",
    "user@[127.0.0.1]",
    "user@example.com (comment)",
    "  spaced@example.com  ",
    "trailing.dot@example.com.",
]


def _same_as_django(address):
    try:
        expected = sanitize_address(address, "utf-8")
    except Exception as exc:  # noqa: BLE001 - refused (or the stdlib parser's own bug): the same way
        with pytest.raises(type(exc)):
            envelope_address(address, "utf-8")
        return
    assert envelope_address(address, "utf-8") == expected, address


@pytest.mark.parametrize("address", TRICKY_ADDRESSES)
def test_envelope_address_is_what_django_gives(address):
    _same_as_django(address)


def test_envelope_address_is_what_django_gives_for_random_addresses():
    rng = random.Random(20261206)
    alphabet = string.ascii_letters + string.digits + ".-_+'=?@\"() ,<>éà[]\\" + "!#$%&*/^`{|}~"
    for _ in range(3000):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        domain = "".join(rng.choice(string.ascii_lowercase + "-.é") for _ in range(rng.randint(1, 12)))
        _same_as_django(f"{local}@{domain}")
        _same_as_django(f"{local}@{domain}.fr")


@pytest.mark.parametrize("name,value", [
    ("Subject", "Rappel de votre rendez-vous du 14/12/2026"),
    ("Subject", "x" * 69),  # 9 + 69 = 78: the limit
    ("Subject", "x" * 70),  # one more: compat32 decides
    ("Subject", "mot " * 30),  # folded by compat32
    ("Subject", "trailing space "),
    ("Subject", " leading space"),
    ("Subject", "two  spaces"),
    ("Subject", "tab\there"),
    ("Subject", ""),
    ("Subject", "=?utf-8?q?R=C3=A9sultat?="),
    ("Subject", "=?utf-8?q?R=C3=A9sultat_de_votre_visite_et_prochain_rendez-vous_chez_le?=\n =?utf-8?q?_dentiste?="),
    ("Subject", "Résultat"),
    ("From", "Cabinet du Dr Molaire <secretariat@cabinet.test>"),
    ("From", '"Dupont, Jean" <jean@example.fr>'),
    ("To", "patient@example.com"),
    ("Content-Type", 'multipart/alternative; boundary="===============0123456789abcdef0123456789abcdef=="'),
    ("Content-Disposition", 'attachment; filename="ordonnance.pdf"'),
    ("X-Long", "a" * 200),
])
def test_the_smtp_policy_folds_every_header_as_compat32(name, value):
    _same_folding(compat32.clone(linesep="\r\n"), name, value)


def _same_folding(reference, name, value):
    try:
        expected = reference.fold_binary(name, value)
    except Exception as exc:  # noqa: BLE001 - refused (an embedded header): refused the same way
        with pytest.raises(type(exc)):
            SMTP_POLICY.fold_binary(name, value)
        return
    assert SMTP_POLICY.fold_binary(name, value) == expected, (name, value)


def test_the_smtp_policy_folds_random_headers_as_compat32():
    rng = random.Random(61220)
    reference = compat32.clone(linesep="\r\n")
    for _ in range(5000):
        # Half of them printable ASCII only (what the policy writes itself), with runs of spaces.
        alphabet = rng.choice([string.printable + "éà€", string.ascii_letters + string.punctuation + "    "])
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        name = rng.choice(["Subject", "X-A", "Content-Type", "Disposition-Notification-To"])
        _same_folding(reference, name, value)


def _emails():
    attachments = [
        ("ordonnance.pdf", b"%PDF-1.4 " + bytes(range(256)) * 20, "application/pdf"),
        ("compte rendu détaillé de la séance.txt", "Texte accentué : éèà\n" * 50, "text/plain"),
    ]
    subjects = [
        "Rappel de votre rendez-vous du 14/12/2026",
        "Résultat de votre visite du 14/12 : prochain rendez-vous à prévoir avec le Dr Hélène Müller-Lüdenscheidt",
        "A very long ASCII subject that goes on and on beyond the seventy-eight characters of a header line",
        "Objet « guillemets » et émoji 🦷",
    ]
    froms = [
        "secretariat@cabinet.test",
        "Cabinet du Dr Molaire <secretariat@cabinet.test>",
        "=?utf-8?q?Cabinet_H=C3=A9l=C3=A8ne?= <secretariat@cabinet.test>",
        '"Dupont, Jean" <jean@example.fr>',
    ]
    tos = ["patient@example.com", "marie@exämple.fr", "héloïse@example.fr"]
    for i, subject in enumerate(subjects):
        email = EmailMultiAlternatives(
            subject=subject, body="Bonjour Mme BERNARD,\n\nÀ demain " + "très " * 40 + "\n",
            from_email=froms[i % len(froms)], to=[tos[i % len(tos)]],
            headers={"Message-ID": "<1.2.3@cabinet.test>", "Disposition-Notification-To": "secretariat@cabinet.test"},
        )
        email.attach_alternative("<p>Bonjour Mme BERNARD,</p><p>À demain</p>", "text/html")
        for attachment in attachments[: i % 3]:
            email.attach(*attachment)
        yield email


@pytest.mark.parametrize("email", list(_emails()), ids=lambda e: e.subject[:20])
def test_message_bytes_are_djangos_as_bytes(email):
    message = email.message()
    assert message_bytes(message) == message.as_bytes(linesep="\r\n")


class _Recorder:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


class _Built(EmailMultiAlternatives):
    """Its MIME message built once: Django's backend and AccountSender send the same one
    (boundaries and Date are chosen when it is built)."""

    def message(self):
        if not hasattr(self, "_built"):
            self._built = super().message()
        return self._built


@pytest.mark.django_db
@pytest.mark.parametrize("display_name", ["Cabinet du Dr Molaire", "Cabinet Hélène Müller", 'Dupont, "le" dentiste', ""])
def test_the_server_receives_what_djangos_backend_sends(settings, display_name):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    recorder = _Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        account = make_account(smtp_port=port, display_name=display_name)
        sender = AccountSender(account)
        django_backend = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port,
                                        fail_silently=False)
        for email in _emails():
            built = _Built(subject=email.subject, body=email.body, from_email=account.from_header, to=email.to,
                           headers=email.extra_headers, alternatives=email.alternatives,
                           attachments=email.attachments)
            sender.send(built)
            django_backend.send_messages([built])
        sender.close()
    finally:
        controller.stop()
    ours, djangos = recorder.received[0::2], recorder.received[1::2]
    assert len(ours) == 4
    assert ours == djangos
