"""The life of a message (messaging.lifecycle) under real faults: a worker process killed with
SIGKILL in the middle of a mailing, a run past its time box, transitions from a wrong state."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.db.models import Count

from messaging import lifecycle
from messaging.dispatch import dispatch_pending
from messaging.gateways import locmem
from messaging.gateways.base import BaseSmsBackend
from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import Recipient
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON, free_port, make_account
from tests.processes import database_url_for_processes

ROOT = Path(__file__).resolve().parents[2]


def _sms_mailing(n: int, body: str = "Rappel"):
    patient = PatientFactory()
    recipients = [Recipient(role="other", name=f"P{i}", address=f"+3361000{i:04d}", channel=Channel.SMS,
                            patient=patient) for i in range(n)]
    return mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, sms_body=body, schedule_dispatch=False)


def _email_mailing(account, n: int):
    patient = PatientFactory(first_name="Emma")
    recipients = [Recipient(role="other", name=f"p{i}", address=f"p{i}@patients.test", channel=Channel.EMAIL,
                            patient=patient) for i in range(n)]
    return mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, email_subject="Rappel", email_body_html="<p>Bonjour</p>",
                          account=account, signature=None, schedule_dispatch=False)


# ---------------------------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_transition_from_a_wrong_state_is_refused_and_changes_nothing():
    msg = _sms_mailing(1).messages.get()
    # Not claimed: it cannot be handed over, marked sent, unknown or retried.
    assert not lifecycle.hand_over(msg, token="t", now=NOON)
    assert not lifecycle.mark_sent(msg, provider_id="X", now=NOON, token="t")
    assert not lifecycle.mark_unknown(msg, code="x", reason="x", now=NOON, token="t")
    msg.refresh_from_db()
    assert (msg.status, msg.provider_id, msg.attempts) == (MessageStatus.PENDING, "", 0)
    # Claimed by one run: another run's token is refused.
    lifecycle.claim([msg], token="mine", now=NOON)
    assert not lifecycle.hand_over(msg, token="theirs", now=NOON)
    assert lifecycle.hand_over(msg, token="mine", now=NOON)
    assert not lifecycle.cancel(msg, code="x", reason="trop tard", now=NOON, token="mine")  # in flight
    assert lifecycle.mark_sent(msg, provider_id="SM1", now=NOON, token="mine")
    assert not lifecycle.mark_sent(msg, provider_id="SM2", now=NOON, token="mine")  # recorded once
    msg.refresh_from_db()
    assert (msg.status, msg.provider_id, msg.attempts, msg.claimed_by) == (MessageStatus.SENT, "SM1", 1, "")


@pytest.mark.django_db
def test_recovery_tells_claimed_from_in_flight():
    a, b, c = _sms_mailing(3).messages.order_by("pk")
    old = NOON - lifecycle.stale_after() - lifecycle.stale_after()
    lifecycle.claim([a, b, c], token="dead", now=old)
    lifecycle.hand_over(a, token="dead", now=old)
    lifecycle.mark_sent(a, provider_id="SM-a", now=old, token="dead")
    lifecycle.hand_over(b, token="dead", now=old)  # in flight when the worker died
    assert lifecycle.recover_interrupted(now=NOON) == (1, 1)
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert statuses == {a.pk: MessageStatus.SENT, b.pk: MessageStatus.UNKNOWN, c.pk: MessageStatus.PENDING}
    c.refresh_from_db()
    assert (c.attempts, c.claimed_by, c.handed_at) == (0, "", None)  # no attempt spent


# ---------------------------------------------------------------------------------------------
# Each outcome durable before the next message leaves
# ---------------------------------------------------------------------------------------------


class CommittedCheckingBackend(BaseSmsBackend):
    """Before taking each SMS, looks at the database as another process would: every SMS it
    already took must be SENT, with its id, and committed (no transaction open)."""

    seen: list = []

    def send_message(self, message):
        assert not connection.in_atomic_block
        sent = dict(Message.objects.filter(status=MessageStatus.SENT).values_list("to", "provider_id"))
        taken = {s.to: s.provider_id for s in locmem.outbox}
        self.seen.append(sent == taken)
        in_flight = Message.objects.filter(status=MessageStatus.SENDING, handed_at__isnull=False).count()
        self.seen.append(in_flight == 1)
        return locmem.SmsBackend().send_message(message)


@pytest.mark.django_db(transaction=True)
def test_each_outcome_is_committed_before_the_next_message_is_handed_over(settings, no_quiet_hours):
    locmem.reset()
    settings.SMS_BACKEND = "tests.messaging.test_lifecycle.CommittedCheckingBackend"
    CommittedCheckingBackend.seen = []
    mailing = _sms_mailing(12)
    result = dispatch_pending(mailing_id=mailing.pk, limit=5)
    assert result.sent == 12
    assert CommittedCheckingBackend.seen == [True] * 24
    locmem.reset()


# ---------------------------------------------------------------------------------------------
# A real worker killed with SIGKILL mid-dispatch
# ---------------------------------------------------------------------------------------------


class SlowRecorder:
    """An SMTP server that takes its time to answer each message (the worker is killed while it
    waits), and keeps every message it received."""

    def __init__(self, delay: float):
        self.delay = delay
        self.received: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(email.message_from_bytes(envelope.original_content)["To"])
        await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def _worker_env() -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="practice.settings",
        DATABASE_URL=database_url_for_processes(),
        DEBUG="1",
        SECRET_KEY="tests-only-secret-key-not-used-anywhere-else-0123456789abcdef",
        MESSAGING_EMAIL_BACKEND="messaging.backends.email.EmailBackend",
    )
    return env


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_mailing_loses_at_most_the_message_in_flight(settings, no_quiet_hours):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    handler = SlowRecorder(delay=0.2)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        account = make_account(smtp_port=port)
        mailing = _email_mailing(account, 40)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "dispatch", "--batch", "25"], cwd=ROOT, env=_worker_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 120
        while len(handler.received) < 8 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.poll() is None, worker.communicate()[0]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)

        # What the dead worker left: its outcomes so far, at most one message in flight.
        in_flight = mailing.messages.filter(status=MessageStatus.SENDING, handed_at__isnull=False).count()
        assert in_flight <= 1
        assert mailing.messages.filter(status=MessageStatus.SENT).count() >= len(handler.received) - 1

        # The next run (the every-minute schedule, or the operator) takes over once the claim is
        # seen as dead.
        settings.MESSAGING_STALE_SENDING_SECONDS = 0
        result = dispatch_pending()
        assert result.reconciled == in_flight and result.recovered > 0
    finally:
        controller.stop()

    statuses = dict(mailing.messages.values_list("to", "status"))
    unknown = [to for to, s in statuses.items() if s == MessageStatus.UNKNOWN]
    sent = [to for to, s in statuses.items() if s == MessageStatus.SENT]
    assert len(unknown) <= 1 and len(sent) + len(unknown) == 40
    # What the server really received: nothing twice, everything marked sent, nothing lost but
    # possibly the one "incertain" message (which the server may or may not have).
    assert len(handler.received) == len(set(handler.received))
    assert set(sent) <= set(handler.received)
    assert set(handler.received) - set(sent) <= set(unknown)
    assert mailing.messages.filter(status=MessageStatus.PENDING).count() == 0
    # And a third run sends nothing more.
    dispatch_pending()
    assert len(handler.received) == len(set(handler.received))


# ---------------------------------------------------------------------------------------------
# The time box
# ---------------------------------------------------------------------------------------------


class SlowSmsBackend(BaseSmsBackend):
    """locmem at a slow gateway's pace."""

    def send_message(self, message):
        time.sleep(0.05)
        return locmem.SmsBackend().send_message(message)


@pytest.mark.django_db
def test_a_run_past_its_time_box_gives_back_what_it_did_not_send(settings, no_quiet_hours, sms_outbox):
    settings.SMS_BACKEND = "tests.messaging.test_lifecycle.SlowSmsBackend"
    mailing = _sms_mailing(20)
    result = dispatch_pending(mailing_id=mailing.pk, limit=10, time_box_seconds=0.2)
    assert result.timed_out and 0 < result.sent < 20
    assert result.released > 0
    counts = dict(mailing.messages.values_list("status").annotate(n=Count("id")))
    # Nothing stranded: sent, or back to pending at once with no attempt spent.
    assert set(counts) <= {MessageStatus.SENT, MessageStatus.PENDING}
    assert counts[MessageStatus.SENT] == result.sent == len(sms_outbox)
    waiting = mailing.messages.filter(status=MessageStatus.PENDING)
    assert all((m.attempts, m.not_before, m.claimed_by) == (0, None, "") for m in waiting)


@pytest.mark.django_db
def test_a_run_whose_time_box_is_over_before_its_first_message_still_sends_one(
    settings, no_quiet_hours, sms_outbox
):
    """A continuation started on a loaded machine must make progress, or the chain of
    continuations would never end."""
    settings.SMS_BACKEND = "tests.messaging.test_lifecycle.SlowSmsBackend"
    mailing = _sms_mailing(3)
    result = dispatch_pending(mailing_id=mailing.pk, limit=10, time_box_seconds=0)
    assert result.timed_out and result.sent == 1 == len(sms_outbox)
    assert mailing.messages.filter(status=MessageStatus.PENDING).count() == 2


@pytest.mark.django_db
def test_the_task_past_its_time_box_queues_a_continuation_that_sends_the_rest_once(
    settings, no_quiet_hours, sms_outbox, django_capture_on_commit_callbacks
):
    from messaging.tasks import dispatch_task

    settings.SMS_BACKEND = "tests.messaging.test_lifecycle.SlowSmsBackend"
    settings.MESSAGING_DISPATCH_TIME_BOX = 0.2
    mailing = _sms_mailing(15)
    # The continuation is queued on commit through django-q2 (synchronous in the tests); each
    # continuation is time-boxed too and queues the next until nothing is left.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = dispatch_task(mailing_id=mailing.pk)
    assert first["timed_out"] and first["sent"] < 15 and len(callbacks) >= 1
    assert mailing.messages.filter(status=MessageStatus.SENT).count() == 15
    assert sorted(s.to for s in sms_outbox) == sorted(mailing.messages.values_list("to", flat=True))
    assert len(sms_outbox) == 15


@pytest.mark.django_db
def test_a_bug_with_one_message_settles_it_and_the_run_goes_on(monkeypatch, no_quiet_hours):
    from django.core import mail

    import messaging.dispatch as dispatch

    real = dispatch._build_email

    def broken(m):
        if m.to == "p1@patients.test":
            raise RuntimeError("bug")
        return real(m)

    monkeypatch.setattr(dispatch, "_build_email", broken)
    mailing = _email_mailing(make_account(), 3)
    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert (result.sent, result.failed) == (2, 1)
    bad = mailing.messages.get(to="p1@patients.test")
    assert (bad.status, bad.error_code) == (MessageStatus.FAILED, "internal-error")
    assert "Erreur interne pendant l'envoi (RuntimeError)" in bad.reason
    assert sorted(m.to[0] for m in mail.outbox) == ["p0@patients.test", "p2@patients.test"]


@pytest.mark.django_db
def test_each_email_costs_one_statement_whatever_the_batch_size(no_quiet_hours):
    """The bench line "Notre dispatch" (docs/performance.md) rests on this: per message, ONE
    commit that records the previous message's SENT, hands this one over and reads what its
    last-moment checks need (lifecycle.hand_over_next); on PostgreSQL one statement. The last
    SENT of a batch is written alone; everything else is paid once per batch or per run."""
    from django.test.utils import CaptureQueriesContext

    from practice.bulk import fast_path

    account = make_account()

    def per_run(n: int) -> list[str]:
        mailing = _email_mailing(account, n)
        with CaptureQueriesContext(connection) as ctx:
            result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
        assert result.sent == n
        assert mailing.messages.filter(status=MessageStatus.SENT).count() == n
        return [q["sql"] for q in ctx.captured_queries]

    few, many = per_run(3), per_run(9)
    assert (len(many) - len(few)) % 6 == 0
    per_message = (len(many) - len(few)) // 6

    if fast_path():
        assert per_message == 1, many
        together = [sql for sql in many if sql.startswith("WITH ")]
        # The first message is handed over with no SENT to record; each of the 8 others with
        # the SENT of the one before it; the 9th's SENT alone, at the end of the batch.
        assert len(together) == 9
        # (the SQL as sent, its values bound by the server: only the SENT write sets sent_at)
        assert sum('"sent_at" = ' in sql for sql in together) == 8
        assert all('"handed_at" = ' in sql and " AS r ON EXISTS " in sql for sql in together)
        alone = [sql for sql in many if sql.startswith('UPDATE "messaging_message"') and '"sent_at" = ' in sql]
        assert len(alone) == 1
    else:
        # The same writes and read, as three statements in one transaction (and its savepoint).
        updates = [sql for sql in many if sql.startswith('UPDATE "messaging_message"')]
        assert sum("\"status\" = 'sent'" in sql.split("WHERE")[0] for sql in updates) == 9
        assert sum('"handed_at" =' in sql and '"status" = ' not in sql.split("WHERE")[0] for sql in updates) == 9
        assert per_message <= 5, many
