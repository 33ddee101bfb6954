"""Shared fixtures and helpers of the sending tests (imported explicitly by each test module)."""

from __future__ import annotations

import datetime as dt
import socket
import zoneinfo

import pytest

from messaging.gateways import locmem
from messaging.models import EmailAccount, SmtpSecurity

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


# A weekday at noon, Paris time: outside the default quiet hours (20:00 -> 08:00).
NOON = paris(2026, 3, 10, 12, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sms_outbox():
    locmem.reset()
    yield locmem.outbox
    locmem.reset()


@pytest.fixture
def no_quiet_hours(db):
    """Quiet hours off, for tests that send through the real clock at any hour."""
    from practice.models import Practice

    practice = Practice.get()
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)
    practice.save()
    return practice


def make_account(**kwargs) -> EmailAccount:
    defaults = {
        "name": "Secrétariat",
        "email": "secretariat@cabinet.test",
        "display_name": "Cabinet du Dr Molaire",
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
        "security": SmtpSecurity.NONE,
        "timeout": 5,
    }
    defaults.update(kwargs)
    return EmailAccount.objects.create(**defaults)
