"""Two real worker processes (``manage.py dispatch``) sending the same mailing to a real SMTP
server on loopback, both killed with SIGKILL mid-dispatch: at most one message in flight per
worker becomes "incertain", everything else is sent once by the next run, and what the server
received matches what the rows say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.db.models import Count

from messaging.dispatch import dispatch_pending
from messaging.models import MessageStatus
from tests.messaging.sending_helpers import free_port, make_account
from tests.messaging.test_lifecycle import ROOT, SlowRecorder, _email_mailing, _worker_env

N = 60
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two worker processes writing at once need PostgreSQL"
)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_killed_mid_mailing_leave_at_most_one_incertain_each(settings, no_quiet_hours):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    handler = SlowRecorder(delay=0.2)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    workers = []
    try:
        account = make_account(smtp_port=port)
        mailing = _email_mailing(account, N)
        for _ in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "manage.py", "dispatch", "--batch", "10"], cwd=ROOT, env=_worker_env(),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))
        # Wait until both workers hold a claim and the server has taken a few messages.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and all(w.poll() is None for w in workers):
            holders = (mailing.messages.filter(status=MessageStatus.SENDING).exclude(claimed_by="")
                       .values("claimed_by").distinct().count())
            if holders == 2 and len(handler.received) >= 10:
                break
            time.sleep(0.02)
        assert all(w.poll() is None for w in workers), [w.communicate()[0] for w in workers]
        assert holders == 2
        for w in workers:
            os.kill(w.pid, signal.SIGKILL)
        for w in workers:
            w.wait(30)

        # What the dead workers left: per worker, at most the one message handed to the server.
        in_flight = dict(
            mailing.messages.filter(status=MessageStatus.SENDING, handed_at__isnull=False)
            .values_list("claimed_by").annotate(n=Count("id"))
        )
        assert all(n <= 1 for n in in_flight.values()) and len(in_flight) <= 2
        assert mailing.messages.filter(status=MessageStatus.SENT).count() >= len(handler.received) - 2

        # The next run takes over once the claims are seen as dead.
        settings.MESSAGING_STALE_SENDING_SECONDS = 0
        dispatch_pending()
        dispatch_pending()  # and a further one sends nothing more
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(30)
        controller.stop()

    statuses = dict(mailing.messages.values_list("to", "status"))
    unknown = {to for to, s in statuses.items() if s == MessageStatus.UNKNOWN}
    sent = {to for to, s in statuses.items() if s == MessageStatus.SENT}
    assert len(unknown) == sum(in_flight.values()) <= 2
    assert len(sent) + len(unknown) == N
    # What the server received: nothing twice, every SENT row really there, nothing lost but the
    # "incertain" ones (which the server may or may not have).
    assert len(handler.received) == len(set(handler.received))
    assert sent <= set(handler.received)
    assert set(handler.received) - sent <= unknown
