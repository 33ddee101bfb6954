"""Dispatch: from PENDING rows of the outbox to the gateways, exactly once, one message at a time.

``dispatch_pending`` (run by django-q2 after each request, every minute by the schedule, and in
the foreground by ``manage.py dispatch``):

1. settles the claims of dead workers (``lifecycle.recover_interrupted``: the message that was in
   flight becomes "incertain", the others go back to PENDING) and tries the paused email
   accounts whose next probe is due;
2. claims a batch of due PENDING rows with ``select_for_update(skip_locked=True)`` (two workers
   never hold the same row); SMS inside the practice's quiet hours (unless staff chose to send
   one now: ``lifecycle.send_now``) and emails beyond their account's hourly/daily quota are
   not claimed but deferred (they wait, they do not fail);
3. for EACH claimed message, immediately before the gateway call: hands it over and reads it
   again with what the last-moment checks need (``messaging.send_checks``: appointment, consent
   and STOP, quiet hours, account), in the same commit as the SENT of the message before
   (``lifecycle.hand_over_next``: one statement on PostgreSQL); if a check says it must not leave
   now, takes it back (``lifecycle.take_back``) and cancels or defers it; otherwise sends it. Its
   outcome (SENT with the gateway id, written with the next hand-over; FAILED, retry later,
   UNKNOWN, written at once) is durable BEFORE the next message is handed over: a crash loses at
   most the one message in flight;
4. stops at the end of its time box (well inside the django-q2 task timeout), gives back what it
   has not sent (``lifecycle.release``) and says so (``DispatchResult.timed_out``): the task
   queues its continuation.

Every status write goes through ``messaging.lifecycle``. ``now`` is the clock of the whole run;
tests pass a fixed one.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import make_msgid
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from messaging import lifecycle, send_checks
from messaging.backends import SendError
from messaging.backends.email import AccountSender, check_header_values, header_text_problem
from messaging.models import Channel, EmailAccount, Mailing, Message, MessageStatus
from messaging.reasons import Why
from practice.bulk import Together

logger = logging.getLogger(__name__)

# Statuses that used a slot of the account's quota (the message left, or may have).
QUOTA_STATUSES = [MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN]
# Messages claimed at a time by one worker. A crash loses none of them but the one in flight:
# the others go back to PENDING.
BATCH_SIZE = 100

# Kept importable from here (older callers): the rules live in messaging.send_checks / lifecycle.
quiet_until = send_checks.quiet_until
backoff = lifecycle.backoff
max_attempts = lifecycle.max_attempts


def time_box() -> float:
    """Seconds one dispatch run may last before it stops claiming and hands over to a
    continuation task: MESSAGING_DISPATCH_TIME_BOX, by default two thirds of the django-q2 task
    timeout (a worker past the timeout is killed by the cluster)."""
    configured = getattr(settings, "MESSAGING_DISPATCH_TIME_BOX", None)
    if configured:
        return float(configured)
    timeout = (getattr(settings, "Q_CLUSTER", {}) or {}).get("timeout") or 300
    return float(timeout) * 2 / 3


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    deferred: int = 0
    cancelled: int = 0
    released: int = 0  # given back by this run at the end of its time box
    recovered: int = 0  # claims of a dead worker put back to PENDING
    reconciled: int = 0  # messages a dead worker had in flight, now UNKNOWN
    paused: list[str] = field(default_factory=list)  # accounts found unreachable
    config_errors: list[str] = field(default_factory=list)  # accounts or gateways that cannot work
    timed_out: bool = False
    message_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "message_ids"}


def _fresh_practice():
    """The practice row as it is now (``Practice.get`` caches it for a minute)."""
    from practice.models import Practice

    return Practice.objects.filter(pk=1).first() or Practice.get()


# ---------------------------------------------------------------------------------------------
# Quotas
# ---------------------------------------------------------------------------------------------


class _Quota:
    """Slots left on one account at ``now``: sends of the last hour / 24 hours (rolling, as
    providers count them) against the account's limits."""

    def __init__(self, account: EmailAccount, now: dt.datetime):
        self.account = account
        self.now = now
        self.limits = [
            (limit, span, label)
            for limit, span, label in (
                (account.hourly_limit, dt.timedelta(hours=1),
                 gettext_noop("le compte « %(account)s » a atteint sa limite de %(limit)s envois par heure")),
                (account.daily_limit, dt.timedelta(hours=24),
                 gettext_noop("le compte « %(account)s » a atteint sa limite de %(limit)s envois par jour")),
            )
            if limit
        ]
        self.times: list[dt.datetime] = []
        if self.limits:
            longest = max(span for _, span, _ in self.limits)
            self.times = sorted(
                Message.objects.filter(account=account, status__in=QUOTA_STATUSES)
                .annotate(t=Coalesce("sent_at", "claimed_at"))
                .filter(t__gt=now - longest)
                .values_list("t", flat=True)
            )

    def take(self) -> tuple[dt.datetime, Why] | None:
        """Use a slot now, or return (when the next slot opens, why)."""
        worst: tuple[dt.datetime, Why] | None = None
        for limit, span, label in self.limits:
            window = [t for t in self.times if t > self.now - span]
            if len(window) >= limit:
                until = window[len(window) - limit] + span
                if worst is None or until > worst[0]:
                    worst = (until, Why(label, account=self.account.name, limit=limit))
        if worst is None:
            self.times.append(self.now)
        return worst


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------


def reconcile_stale_sending(*, now: dt.datetime | None = None) -> int:
    """Settle the claims of dead workers (see ``lifecycle.recover_interrupted``); returns how
    many messages became UNKNOWN (those that were in flight)."""
    return lifecycle.recover_interrupted(now=now or timezone.now())[1]


def _claim(*, mailing_id: int | None, limit: int, now: dt.datetime, token: str,
           result: DispatchResult) -> list[Message]:
    practice = _fresh_practice()
    tz = send_checks.practice_tz(practice.time_zone)
    with transaction.atomic():
        # With what the last-moment checks read (but the mailing and the account, attached below).
        due = send_checks.load_batch(
            Message.objects.select_for_update(skip_locked=True, of=("self",)), shared=("mailing", "account")
        ).filter(lifecycle.waiting_filter(now))
        if mailing_id is not None:
            due = due.filter(mailing_id=mailing_id)
        rows = list(due.order_by("id")[:limit])
        if not rows:
            return []
        # A batch shares one or two mailings and accounts: fetched once each rather than
        # joined (and built again) for every row. Locking the accounts serialises quota
        # counting between workers.
        mailings = Mailing.objects.in_bulk({m.mailing_id for m in rows})
        account_ids = sorted({m.account_id for m in rows if m.account_id})
        accounts = {}
        if account_ids:
            accounts = {a.pk: a for a in EmailAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")}
        for m in rows:
            m._state.fields_cache["mailing"] = mailings[m.mailing_id]
            m._state.fields_cache["account"] = accounts.get(m.account_id)

        claimed: list[Message] = []
        # Judged here too (not only per message) so that a mailing of 10,000 SMS at 22:00 is
        # deferred in batches, not claimed and given back row by row.
        sms_wait = quiet_until(now, start=practice.quiet_start, end=practice.quiet_end, tz=tz)
        quotas = {
            account_id: _Quota(accounts[account_id], now)
            for account_id in {m.account_id for m in rows if m.channel == Channel.EMAIL and m.account_id}
        }
        for m in rows:
            if m.channel == Channel.SMS and sms_wait is not None and not send_checks.released_now(m):
                lifecycle.defer(m, until=sms_wait, code=lifecycle.WaitReason.QUIET,
                                reason=send_checks.quiet_reason(sms_wait, tz), now=now)
                result.deferred += 1
                continue
            if m.channel == Channel.EMAIL and m.account_id:
                wait = quotas[m.account_id].take()
                if wait is not None:
                    until, why = wait
                    lifecycle.defer(m, until=until, code=lifecycle.WaitReason.QUOTA, now=now,
                                    reason=Why(gettext_noop("En attente (quota) : %(why)s ; envoi prévu le %(date)s à "
                                                            "%(time)s."), why=why,
                                               **send_checks.moment_params(until, tz)))
                    result.deferred += 1
                    continue
            claimed.append(m)
        lifecycle.claim(claimed, token=token, now=now)
    return claimed


# ---------------------------------------------------------------------------------------------
# One message
# ---------------------------------------------------------------------------------------------


class _Run:
    """One dispatch run: its claim token, its clock, its open gateways and its counts."""

    def __init__(self, *, clock: Callable[[], dt.datetime], result: DispatchResult):
        self.token = lifecycle.new_token()
        self.clock = clock
        self.result = result
        self.senders: dict[int, AccountSender] = {}
        self.sms_backend = None
        self.sms_error: SendError | None = None
        self.refresher = send_checks.Refresher()
        # The hand-over and the last-moment read, compiled once for the run.
        self.together = Together()
        # The message this run sent last, its SENT not written yet: written with the next
        # hand-over (one commit for both), or by ``flush`` when no message follows.
        self.sent: lifecycle.Sent | None = None
        # The message whose gateway call began last: a bug before it means the message surely
        # did not leave, even if it was handed over.
        self.at_gateway: int | None = None

    # -- outcomes -------------------------------------------------------------------------
    def apply_verdict(self, m: Message, verdict: send_checks.Verdict, now: dt.datetime) -> None:
        if verdict.action == send_checks.DEFER:
            if lifecycle.defer(m, until=verdict.until, code=verdict.code, reason=verdict.reason, now=now,
                               token=self.token):
                self.result.deferred += 1
        elif verdict.action == send_checks.FAIL:
            if lifecycle.fail(m, code=verdict.code, reason=verdict.reason, now=now, token=self.token):
                self.result.failed += 1
        elif lifecycle.cancel(m, code=verdict.code, reason=verdict.reason, now=now, token=self.token):
            self.result.cancelled += 1
            if verdict.then is not None:
                try:
                    with transaction.atomic():
                        verdict.then()
                except Exception:  # noqa: BLE001 - the cancel stands; the follow-up is logged
                    logger.exception("Follow-up of the cancelled message %s failed", m.pk)

    def record_error(self, m: Message, error: SendError, now: dt.datetime) -> None:
        """The outcome of a message in flight that the gateway did not take (or may have)."""
        if error.ambiguous:
            if lifecycle.mark_unknown(m, code=error.code, reason=error.message, now=now, token=self.token):
                self.result.unknown += 1
        elif error.permanent:
            if lifecycle.fail(m, code=error.code, reason=error.message, now=now, token=self.token):
                self.result.failed += 1
        else:
            done = lifecycle.retry_later(m, code=error.code, reason=error.message, now=now, token=self.token)
            if done and m.status == MessageStatus.FAILED:
                self.result.failed += 1
            elif done:
                self.result.retried += 1

    def record_sent(self, m: Message, provider_id: str, now: dt.datetime, extra: dict | None = None) -> None:
        """``m`` left: its SENT is written with the next hand-over or by ``flush``, before any
        other message is handed to a gateway."""
        reports = m.channel != Channel.SMS or getattr(self.sms_backend, "webhooks", None) is not None
        self.sent = lifecycle.Sent(m, provider_id, now, extra or {}, reports)

    def flush(self) -> None:
        """Write the SENT still held, alone: the batch or the run ends, no hand-over follows."""
        if self.sent is not None:
            if self.sent.record(token=self.token):
                self.result.sent += 1
            self.sent = None

    def take_back(self, m: Message, now: dt.datetime, provider_id: str | None) -> None:
        """``m`` was handed over but will not reach its gateway (see ``lifecycle.take_back``)."""
        lifecycle.take_back(m, token=self.token, now=now, provider_id=provider_id)

    # -- one message ----------------------------------------------------------------------
    def send_one(self, m: Message) -> None:
        """Hand over, check, send and record ``m`` (claimed by ``_claim``): its
        outcome is durable before the next message is handed over (with that hand-over, or by
        ``flush``)."""
        now = self.clock()
        before = m.provider_id
        message_id = _new_message_id(m.account) if m.channel == Channel.EMAIL and m.account is not None else ""
        # The last message's SENT, this one's hand-over and the read of what may have changed
        # for it: one commit, one round trip (see lifecycle.hand_over_next).
        sent, self.sent = self.sent, None
        read = self.refresher.read(m)
        try:
            recorded, handed, row = lifecycle.hand_over_next(
                m, token=self.token, now=now, together=self.together, provider_id=message_id, sent=sent, read=read,
            )
        except Exception:
            self.sent = sent  # not written: written alone by flush
            raise
        if recorded:
            self.result.sent += 1
        if not handed or not self.refresher.apply(m, row, read):
            return  # deleted, or settled by someone else meanwhile: not ours to send
        verdict = send_checks.verdict_for(m, now)
        if verdict is not None:
            self.take_back(m, now, before if message_id else None)
            self.apply_verdict(m, verdict, now)
            return
        self.result.message_ids.append(m.pk)
        if m.channel == Channel.SMS:
            self.send_sms(m, now)
        else:
            self.send_email(m, now, before=before)

    def send_sms(self, m: Message, now: dt.datetime) -> None:
        from django.core.exceptions import ImproperlyConfigured

        from messaging.gateways import SmsMessage, get_sms_backend

        if self.sms_backend is None and self.sms_error is None:
            try:
                # Opened once for the run, like Django's email backends; closed by close().
                self.sms_backend = get_sms_backend()
                self.sms_backend.open()
            except (ImproperlyConfigured, ImportError) as exc:
                self.sms_error = SendError(Why(gettext_noop("Passerelle SMS non configurée : %(error)s"), error=str(exc)),
                                           permanent=True, code="config")
                self.result.config_errors.append(self.sms_error.message)
        if self.sms_error is not None:
            self.take_back(m, now, None)
            lifecycle.fail(m, code=self.sms_error.code, reason=self.sms_error.message, now=now, token=self.token)
            self.result.failed += 1
            return
        sms = SmsMessage(to=m.to, body=m.body, sender=m.practice_sms_sender or "", reference=str(m.pk))
        if m.mailing.asks_reply:
            # An answer is asked for: from the number patients can answer (messaging.replies).
            from messaging.replies import reply_sender

            sms.reply_sender = reply_sender(getattr(m, "practice_sms_reply_senders", None), self.sms_backend)
        self.at_gateway = m.pk
        try:
            self.sms_backend.send_messages([sms])
        except Exception as exc:  # noqa: BLE001 - a gateway bug must not strand the run
            logger.exception("SMS gateway raised for message %s", m.pk)
            sms.error = SendError(Why(gettext_noop("Erreur inattendue de la passerelle SMS (%(error)s) : le SMS est "
                                                   "peut-être parti. Vérifiez avant de renvoyer."),
                                      error=exc.__class__.__name__),
                                  permanent=False, code="gateway-error", ambiguous=True)
        if sms.error is not None:
            self.record_error(m, sms.error, now)
        else:
            self.record_sent(m, sms.provider_id, now)

    def sender_for(self, account: EmailAccount) -> AccountSender:
        sender = self.senders.get(account.pk)
        if sender is None:
            sender = self.senders[account.pk] = AccountSender(account)
        return sender

    def send_email(self, m: Message, now: dt.datetime, *, before: str) -> None:
        """Build and send ``m``, handed over with its Message-ID (the row held ``before``)."""
        account = m.account
        try:
            email = _build_email(m)
        except SendError as exc:  # it never left
            self.take_back(m, now, before)
            lifecycle.fail(m, code=exc.code, reason=exc.message, now=now, token=self.token)
            self.result.failed += 1
            if exc.code == "header" and (header_text_problem(account.display_name or "")
                                         or header_text_problem(account.email or "")):
                # The account's own settings: every message of it fails the same way.
                if exc.message not in self.result.config_errors:
                    self.result.config_errors.append(exc.message)
            return
        sender = self.sender_for(account)
        try:
            sender.open()
        except SendError as exc:
            self.take_back(m, now, before)
            self.account_unusable(m, account, exc, now)
            return
        if account.paused_at is not None:  # it answered again
            lifecycle.account_resume(account, now=now)
        self.at_gateway = m.pk
        try:
            message_id = sender.send(email, checked=True)  # by _build_email
        except SendError as exc:
            if exc.code == "smtp-connect":  # the reconnection failed: the email never left
                self.account_unusable(m, account, exc, now)
            else:
                self.record_error(m, exc, now)
            return
        try:
            extra = _history_extra(m)
        except Exception:  # noqa: BLE001 - it left: record that, whatever the history keeps
            logger.exception("Could not keep the history copy of message %s", m.pk)
            extra = {}
        self.record_sent(m, message_id, now, extra)

    def settle_unexpected(self, claimed: Message, exc: Exception) -> None:
        """A bug while sending ``claimed``: never the task's end. Once its gateway call began,
        it may have left (UNKNOWN); before, it surely did not (handed over or not), and would
        fail the same way each run (FAILED). The reason says so; the traceback is in the log."""
        now = self.clock()
        m = Message.objects.filter(pk=claimed.pk, status=MessageStatus.SENDING, claimed_by=self.token).first()
        if m is None:
            return
        error = exc.__class__.__name__
        if m.handed_at is not None and self.at_gateway != m.pk:
            lifecycle.take_back(m, token=self.token, now=now)
        if m.handed_at is not None:
            reason = Why(gettext_noop("Erreur interne pendant l'envoi (%(error)s) : le message est peut-être parti. "
                                      "Vérifiez avant de renvoyer."), error=error)
            if lifecycle.mark_unknown(m, code="internal-error", now=now, token=self.token, reason=reason):
                self.result.unknown += 1
        elif lifecycle.fail(m, code="internal-error", now=now, token=self.token,
                            reason=Why(gettext_noop("Erreur interne pendant l'envoi (%(error)s) : message non envoyé."),
                                       error=error)):
            self.result.failed += 1

    def account_unusable(self, m: Message, account: EmailAccount, error: SendError, now: dt.datetime) -> None:
        """The account's server cannot take ``m`` now (``error`` raised before it left): a
        configuration that cannot work fails it with the reason; an unreachable server pauses
        the account, and ``m`` waits (its attempt given back)."""
        if error.permanent:
            if error.message not in self.result.config_errors:
                self.result.config_errors.append(error.message)
            lifecycle.fail(m, code=error.code, reason=error.message, now=now, token=self.token)
            self.result.failed += 1
            return
        until = lifecycle.account_pause(account, reason=error.message, now=now)
        if account.name not in self.result.paused:
            self.result.paused.append(account.name)
        if lifecycle.defer(m, until=until, code=lifecycle.WaitReason.PAUSED,
                           reason=send_checks.paused_reason(account, until), now=now, token=self.token):
            self.result.deferred += 1

    def close(self) -> None:
        for sender in self.senders.values():
            try:
                sender.close()
            except Exception:  # noqa: BLE001 - closing a dead connection: nothing left to save
                logger.warning("Closing the SMTP connection of %s failed", sender.account, exc_info=True)
        self.senders.clear()
        if self.sms_backend is not None:
            try:
                self.sms_backend.close()
            except Exception:  # noqa: BLE001
                logger.warning("Closing the SMS gateway failed", exc_info=True)


def probe_paused_accounts(*, now: dt.datetime) -> list[str]:
    """Try the paused accounts whose next probe is due (one connection each): those that answer
    are resumed and their messages due at once; the others stay paused until the next probe.
    Returns the names of the accounts resumed."""
    resumed = []
    for account in EmailAccount.objects.filter(paused_at__isnull=False, probe_at__lte=now):
        sender = AccountSender(account)
        try:
            sender.open()
        except SendError as exc:
            if not exc.permanent:
                lifecycle.account_pause(account, reason=exc.message, now=now)
                continue
            # A configuration error: the account answers; its messages will fail with the reason.
        finally:
            sender.close()
        lifecycle.account_resume(account, now=now)
        resumed.append(account.name)
    return resumed


def dispatch_pending(*, mailing_id: int | None = None, limit: int = BATCH_SIZE, now: dt.datetime | None = None,
                     time_box_seconds: float | None = None) -> DispatchResult:
    """Send what is due (of one mailing, or all), in batches of ``limit``, until nothing due is
    left or the time box (``time_box()`` unless given) is over; return the counts. Never raises
    for one message's failure: it is recorded on the row. Safe to run concurrently and
    repeatedly: a row is sent by the run that claimed it only, and each outcome is written before
    the next message leaves."""
    # Without ``now`` (a fixed time, for tests), each message at its own time: a long run must
    # not judge quiet hours, quotas and pauses by its start.
    clock = timezone.now if now is None else lambda: now
    box = time_box() if time_box_seconds is None else time_box_seconds
    deadline = time.monotonic() + box
    result = DispatchResult()
    result.recovered, result.reconciled = lifecycle.recover_interrupted(now=clock())
    probe_paused_accounts(now=clock())
    run = _Run(clock=clock, result=result)
    handed = False
    try:
        while not result.timed_out:
            batch = _claim(mailing_id=mailing_id, limit=limit, now=clock(), token=run.token, result=result)
            if not batch:
                break
            try:
                for m in batch:
                    # Checked once this run has handed something over: a run slowed down
                    # before its first message (a loaded machine, a long recovery) still makes
                    # progress, so a chain of continuations always ends.
                    if handed and time.monotonic() >= deadline:
                        result.timed_out = True
                        break
                    handed = True
                    try:
                        run.send_one(m)
                    except Exception as exc:  # noqa: BLE001 - one message's bug, not the run's
                        logger.exception("Dispatch of message %s failed unexpectedly", m.pk)
                        run.settle_unexpected(m, exc)
            finally:
                try:
                    run.flush()  # the last SENT of the batch: no hand-over follows it
                finally:
                    # Whatever was claimed and not handed over (time box, an exception): back to
                    # PENDING at once, attempts intact, for the continuation or the next run.
                    result.released += lifecycle.release(batch, token=run.token, now=clock())
    finally:
        run.close()
    return result


# ---------------------------------------------------------------------------------------------
# Building an email
# ---------------------------------------------------------------------------------------------


def _attachment_content(att: dict) -> bytes:
    path = att.get("path") or ""
    if not path:
        raise SendError(Why(gettext_noop("La pièce jointe « %(name)s » n'est plus disponible."),
                            name=att.get("filename", "?")), permanent=True, code="attachment")
    try:
        if Path(path).is_absolute():
            return Path(path).read_bytes()
        with default_storage.open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SendError(
            Why(gettext_noop("La pièce jointe « %(name)s » est introuvable."), name=att.get("filename", path)),
            permanent=True, code="attachment"
        ) from exc


def _new_message_id(account: EmailAccount) -> str:
    return make_msgid(domain=account.email.rsplit("@", 1)[-1] or None)


class _Email(EmailMultiAlternatives):
    """Django's email, whose MIME boundaries are chosen when the message is built: left unset,
    the standard library picks each one by compiling a regular expression over the whole text
    (a unique one per message, so never cached), about a twentieth of a message's cost. A random
    128-bit token cannot occur in the text by chance, which is what that search guards against.
    Only public API: ``EmailMessage.message()`` and ``Message.set_boundary()``."""

    def message(self, *args, **kwargs):
        msg = super().message(*args, **kwargs)
        for part in msg.walk():
            if part.is_multipart() and part.get_boundary() is None:
                part.set_boundary(f"==============={uuid.uuid4().hex}==")
        return msg


def _build_email(m: Message) -> EmailMultiAlternatives:
    """``m`` as an email, with the Message-ID its hand-over wrote (``m.provider_id``)."""
    account = m.account
    headers = {"Message-ID": m.provider_id or _new_message_id(account)}
    if m.mailing.read_receipt:
        headers["Disposition-Notification-To"] = account.email
    email = _Email(subject=m.subject, body=m.body, from_email=account.from_header, to=[m.to], headers=headers)
    # A line break in a header (a display name stored before the forms refused it) fails this
    # message here, before it is handed over, rather than Django in the middle of the batch.
    check_header_values(email, account=account)
    if m.body_html:
        email.attach_alternative(m.body_html, "text/html")
    for att in m.attachments or []:
        mimetype = att.get("mimetype") or mimetypes.guess_type(att.get("filename", ""))[0] or "application/octet-stream"
        email.attach(att.get("filename") or "piece-jointe", _attachment_content(att), mimetype)
    return email


def _history_extra(m: Message) -> dict:
    """What the history keeps of a sent email, per the email type's options."""
    extra: dict = {}
    if not m.mailing.save_sent:
        extra.update(body="", body_html="", body_kept=False)
    if m.attachments:
        from messaging.attachments import SOURCE_UPLOAD

        kept = []
        for att in m.attachments:
            if att.get("source") == SOURCE_UPLOAD:
                # A file attached once from the send window is stored already, once for the
                # message and its resends: kept as it is, whatever the email type's option.
                kept.append(att)
            elif m.mailing.keep_attachments:
                name = f"historique/{m.pk}/{att.get('filename') or 'piece-jointe'}"
                try:
                    stored = default_storage.save(name, ContentFile(_attachment_content(att)))
                except SendError:
                    stored = att.get("path", "")
                kept.append({**att, "path": stored, "kept": True})
            else:
                kept.append({"filename": att.get("filename", ""), "mimetype": att.get("mimetype", "")})
        extra["attachments"] = kept
    return extra
