"""The SMTP backend builds the bytes of an email faster than Django (messaging.backends.email):
they must be Django's bytes, boundaries aside, for every kind of header and body."""

from __future__ import annotations

import re

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address

from messaging.backends.email import _sanitized, message_bytes

BOUNDARY = re.compile(rb'===============\d+==(\.\d+)?')


def _email(subject="Rappel de votre rendez-vous du 24/11/2026", from_email="Cabinet du Parc <cabinet@parc.test>",
           to="emma.martin@patients.test", text="Bonjour Emma,\n\nÀ demain.", html="<p>Bonjour Emma,</p>",
           headers=None, attachments=()):
    email = EmailMultiAlternatives(subject=subject, body=text, from_email=from_email, to=[to],
                                   headers={"Message-ID": "<1.2@parc.test>", "Date": "Mon, 23 Nov 2026 09:00:00 +0100",
                                            **(headers or {})})
    if html:
        email.attach_alternative(html, "text/html")
    for name, content, mimetype in attachments:
        email.attach(name, content, mimetype)
    return email


CASES = {
    "plain": _email(),
    "accents in subject and sender": _email(subject="Votre rendez-vous de détartrage : à demain !",
                                            from_email="Cabinet Hélène Dupré <cabinet@parc.test>"),
    "long subject folded": _email(subject="Rappel " + "de votre rendez-vous très important " * 6),
    "long ascii subject": _email(subject="Reminder " + "about your appointment tomorrow morning " * 4),
    "double spaces and tabs": _email(subject="Rappel  du\trendez-vous   "),
    "read receipt header": _email(headers={"Disposition-Notification-To": "cabinet@parc.test"}),
    "text only": _email(html=""),
    "long lines": _email(text="x" * 2000, html="<p>" + "é" * 1500 + "</p>"),
    "boundary-like text": _email(text="--===============1234567890123456789==\nfin"),
    "attachment": _email(attachments=[("ordonnance é.pdf", b"%PDF-1.4 " + bytes(range(256)), "application/pdf")]),
    "emoji": _email(subject="Joyeux anniversaire 🎂", text="Bonne journée 🎉"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_bytes_as_django(name):
    email = CASES[name]
    ours = message_bytes(email.message())
    django = email.message().as_bytes(linesep="\r\n")
    assert BOUNDARY.sub(b"B", ours) == BOUNDARY.sub(b"B", django)


def test_the_boundary_never_appears_in_the_text():
    email = _email(text="--===============0000000000000000000==")
    ours = message_bytes(email.message())
    boundary = re.search(rb'boundary="([^"]+)"', ours).group(1)
    assert ours.count(b"--" + boundary) == 3  # the two parts and the closing line, nothing in the text


@pytest.mark.parametrize("address", [
    "emma.martin@patients.test", "a+b@x.fr", "o'neil@example.com", "x@sub.domain.co.uk", "UPPER@CASE.FR",
    "a..b@x.fr", ".a@x.fr", "a.@x.fr", "jean dupont@x.fr", "élodie@x.fr", "a@exämple.fr", '"quoted"@x.fr',
    "Emma <emma@x.fr>", "Hélène <helene@x.fr>", "a@x", "a@-x.fr",
])
def test_addresses_are_sanitized_as_django_does(address):
    try:
        expected = sanitize_address(address, "utf-8")
    except ValueError as exc:
        with pytest.raises(ValueError):
            _sanitized(address, "utf-8")
        assert exc
        return
    assert _sanitized(address, "utf-8") == expected
