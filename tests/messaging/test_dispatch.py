import datetime as dt
import threading
import time

import pytest
from django.db import connection

from messaging.backends import SendError
from messaging.dispatch import dispatch_pending, reconcile_stale_sending
from messaging.gateways import locmem
from messaging.gateways.base import BaseSmsBackend
from messaging.models import Channel, Mailing, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient, recipients_for
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON


def _sms_mailing(n=1, body="Rappel"):
    recipients = []
    for i in range(n):
        recipients.append(number_recipient(number=f"+336{10000000 + i}", name=f"P{i}"))
    return mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, sms_body=body, schedule_dispatch=False)


@pytest.mark.django_db
def test_permanent_error_fails_at_once_with_the_reason(sms_outbox):
    mailing = _sms_mailing()
    locmem.fail_with = SendError("Numéro de téléphone invalide : corrigez le portable dans la fiche.", permanent=True, code="21211")
    result = dispatch_pending(now=NOON)
    msg = mailing.messages.get()
    assert (result.failed, msg.status, msg.error_code, msg.attempts) == (1, MessageStatus.FAILED, "21211", 1)
    assert msg.reason == "Numéro de téléphone invalide : corrigez le portable dans la fiche."
    locmem.fail_with = None
    dispatch_pending(now=NOON + dt.timedelta(hours=1))
    assert sms_outbox == []  # a failed message is never picked up again


@pytest.mark.django_db
def test_transient_error_retries_with_backoff_then_gives_up(sms_outbox, settings):
    settings.MESSAGING_MAX_ATTEMPTS = 3
    mailing = _sms_mailing()
    locmem.fail_with = SendError("Passerelle saturée.", permanent=False, code="20429")
    dispatch_pending(now=NOON)
    msg = mailing.messages.get()
    assert (msg.status, msg.attempts, msg.not_before) == (MessageStatus.PENDING, 1, NOON + dt.timedelta(minutes=1))
    assert "nouvel essai" in msg.reason
    # Not due yet: nothing happens.
    assert dispatch_pending(now=NOON + dt.timedelta(seconds=30)).message_ids == []
    dispatch_pending(now=NOON + dt.timedelta(minutes=1))
    msg.refresh_from_db()
    assert (msg.status, msg.attempts, msg.not_before) == (MessageStatus.PENDING, 2, NOON + dt.timedelta(minutes=6))
    dispatch_pending(now=NOON + dt.timedelta(minutes=6))
    msg.refresh_from_db()
    assert (msg.status, msg.attempts) == (MessageStatus.FAILED, 3)
    assert msg.reason == "Passerelle saturée. Abandon après 3 tentatives."


@pytest.mark.django_db
def test_transient_then_success(sms_outbox):
    mailing = _sms_mailing()
    locmem.fail_with = SendError("Coupure", permanent=False)
    dispatch_pending(now=NOON)
    locmem.fail_with = None
    dispatch_pending(now=NOON + dt.timedelta(minutes=2))
    msg = mailing.messages.get()
    assert (msg.status, msg.attempts, msg.reason) == (MessageStatus.SENT, 2, "")
    assert len(sms_outbox) == 1


@pytest.mark.django_db
def test_ambiguous_error_becomes_unknown_and_is_never_resent(sms_outbox):
    mailing = _sms_mailing()
    locmem.fail_with = SendError("Réponse perdue", permanent=False, ambiguous=True, code="timeout")
    assert dispatch_pending(now=NOON).unknown == 1
    locmem.fail_with = None
    dispatch_pending(now=NOON + dt.timedelta(hours=2))
    msg = mailing.messages.get()
    assert (msg.status, msg.reason) == (MessageStatus.UNKNOWN, "Réponse perdue")
    assert sms_outbox == []


class SlowBackend(BaseSmsBackend):
    """locmem, slowly: both workers are busy at the same time."""

    def send_message(self, message):
        time.sleep(0.02)
        return locmem.SmsBackend().send_message(message)


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_mailing_send_each_message_exactly_once(sms_outbox, settings):
    settings.SMS_BACKEND = "tests.messaging.test_dispatch.SlowBackend"
    mailing = _sms_mailing(n=30)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(dispatch_pending(mailing_id=mailing.pk, limit=5, now=NOON))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent_to = sorted(s.to for s in sms_outbox)
    assert len(sent_to) == 30 and len(set(sent_to)) == 30
    assert sum(r.sent for r in results) == 30
    assert all(r.sent > 0 for r in results), "both workers took part"
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
    # And a third run afterwards sends nothing.
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert len(sms_outbox) == 30


@pytest.mark.django_db(transaction=True)
def test_sync_off_dispatch_through_the_real_django_q_cluster_code(sms_outbox, settings, no_quiet_hours):
    """The task queued on commit is run by django-q2's own worker function (not inline)."""
    from multiprocessing import Event, Queue, Value

    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.monitor import monitor
    from django_q.pusher import pusher
    from django_q.worker import worker

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    Conf.SYNC = False
    try:
        patient = PatientFactory()
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                                 recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Par le cluster")
        broker = get_broker()
        assert broker.queue_size() == 1
        task_queue, result_queue, event = Queue(), Queue(), Event()
        event.set()  # the pusher stops after one round
        pusher(task_queue, event, broker=broker)
        task_queue.put("STOP")
        worker(task_queue, result_queue, Value("f", -1))
        result_queue.put("STOP")
        monitor(result_queue, broker)
    finally:
        Conf.SYNC = True
    assert [s.body for s in sms_outbox] == ["Par le cluster"]
    assert mailing.messages.get().status == MessageStatus.SENT


@pytest.mark.django_db
def test_only_the_schedulers_mailings_are_tracked():
    from scheduler.models import TrackedPurpose
    from scheduler.runner import track_mailing

    with pytest.raises(ValueError, match="Only the scheduler's mailings"):
        track_mailing(mailing=Mailing(origin=MailingOrigin.MASS_MAILING), purpose=TrackedPurpose.REMINDER)


class ReconcilingBackend(BaseSmsBackend):
    """While the first SMS of the batch is at the gateway, another worker settles the last row
    of the batch as UNKNOWN (as if its claim had gone stale)."""

    def send_message(self, message):
        if len(locmem.outbox) == 0:
            last = Message.objects.filter(status=MessageStatus.SENDING).order_by("-pk").first()
            Message.objects.filter(pk=last.pk).update(status=MessageStatus.UNKNOWN, reason="réconcilié")
        return locmem.SmsBackend().send_message(message)


@pytest.mark.django_db
def test_a_row_taken_from_a_long_batch_is_not_sent(sms_outbox, settings, no_quiet_hours):
    settings.SMS_BACKEND = "tests.messaging.test_dispatch.ReconcilingBackend"
    mailing = _sms_mailing(n=4)
    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert result.sent == 3 and len(sms_outbox) == 3
    last = mailing.messages.order_by("-pk").first()
    assert last.status == MessageStatus.UNKNOWN and last.to not in {s.to for s in sms_outbox}


class _Clock:
    """The time it is, moved on by hand."""

    def __init__(self, start: dt.datetime):
        self.value = start

    def now(self) -> dt.datetime:
        return self.value


class SlowGatewayBackend(BaseSmsBackend):
    """Four minutes per SMS; meanwhile another run starts, as the every-minute schedule would,
    and reconciles what looks stale at that time."""

    clock: _Clock
    reconciled: list[int]

    def send_message(self, message):
        self.clock.value += dt.timedelta(minutes=4)
        self.reconciled.append(reconcile_stale_sending(now=self.clock.now()))
        return locmem.SmsBackend().send_message(message)


@pytest.mark.django_db
def test_a_long_run_claims_each_batch_at_its_own_time(sms_outbox, settings, monkeypatch, no_quiet_hours):
    """A run longer than MESSAGING_STALE_SENDING_MINUTES (a slow gateway, a large mailing) claims
    each batch at the time it is, and renews the claim of each message as it hands it over:
    another run's recovery leaves the rows alone and every message is sent."""
    import types

    import messaging.dispatch as dispatch

    clock = _Clock(NOON)
    monkeypatch.setattr(dispatch, "timezone", types.SimpleNamespace(now=clock.now, localtime=lambda t: t))
    monkeypatch.setattr(SlowGatewayBackend, "clock", clock, raising=False)
    monkeypatch.setattr(SlowGatewayBackend, "reconciled", [], raising=False)
    settings.SMS_BACKEND = "tests.messaging.test_dispatch.SlowGatewayBackend"
    mailing = _sms_mailing(n=6)
    result = dispatch_pending(mailing_id=mailing.pk, limit=2)
    assert result.sent == 6 and len(sms_outbox) == 6
    assert set(mailing.messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert SlowGatewayBackend.reconciled == [0] * 6  # no row of ours looked abandoned
    claims = sorted(mailing.messages.values_list("claimed_at", "handed_at"))
    assert [c for c, _ in claims] == [NOON + dt.timedelta(minutes=4 * i) for i in range(6)]
    assert all(c == h for c, h in claims)


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_emails_in_batches_send_each_exactly_once(no_quiet_hours):
    from django.core import mail

    from tests.messaging.sending_helpers import make_account

    account = make_account()
    patients = [PatientFactory(email=f"p{i}@patients.test") for i in range(40)]
    recipients = [recipients_for(patient=p, channel=Channel.EMAIL)[0] for p in patients]
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                             recipients=recipients, email_subject="Rappel", email_body_html="<p>Bonjour @PPREN</p>",
                             account=account, signature=None, schedule_dispatch=False)
    mail.outbox = []
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(dispatch_pending(mailing_id=mailing.pk, limit=5, now=NOON))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent_to = [e.to[0] for e in mail.outbox]
    assert len(sent_to) == 40 and len(set(sent_to)) == 40
    assert sum(r.sent for r in results) == 40
    rows = list(Message.objects.filter(mailing=mailing))
    assert {m.status for m in rows} == {MessageStatus.SENT}
    assert {m.provider_id for m in rows} == {e.extra_headers["Message-ID"] for e in mail.outbox}
