"""Dispatch: from PENDING rows of the outbox to the gateways, exactly once.

``dispatch_pending`` (run by django-q2 after each request and every minute by the schedule):

1. rows stuck in SENDING for too long (a worker died mid-send) become UNKNOWN: the gateway may
   have accepted them, so they are never re-sent blindly; staff decide ("Renvoyer");
2. due PENDING rows are claimed with ``select_for_update(skip_locked=True)`` and marked SENDING
   in the same transaction, so two workers never hold the same row; SMS inside the practice's
   quiet hours and emails beyond their account's hourly/daily quota are not claimed but given a
   ``not_before`` (they wait, they do not fail);
3. each claimed row is sent outside any transaction, then its outcome recorded: SENT with the
   gateway id, FAILED with a French reason (permanent error, or too many attempts), back to
   PENDING with a backoff (transient error), or UNKNOWN (ambiguous error).

``now`` is the clock of the whole run; tests pass a fixed one.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import time
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from email.utils import make_msgid
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from messaging.backends import SendError
from messaging.backends.email import AccountSender
from messaging.models import Channel, EmailAccount, Mailing, MailingOrigin, Message, MessageStatus

logger = logging.getLogger(__name__)

# Statuses that used a slot of the account's quota (the message left, or may have).
QUOTA_STATUSES = [MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN]
# Messages claimed at a time by one worker: what a crash mid-batch can leave "incertain".
BATCH_SIZE = 100
# Minutes to wait before the 2nd, 3rd... attempt after a transient error.
BACKOFF_MINUTES = [1, 5, 15, 60, 180]


APPOINTMENT_CHANGED_REASON = (
    "Le rendez-vous a été déplacé / annulé après la préparation du message : message non envoyé."
)
# Mailings whose messages the scheduler tracks itself (scheduler.checks knows each one's purpose:
# a "cancelled appointment" notice is about a cancelled appointment, a moved reminder is
# re-queued with the new time), so the generic check below leaves them alone.
SCHEDULER_ORIGINS = (MailingOrigin.TREATMENT, MailingOrigin.EVENT)


def appointment_changed_reasons(messages) -> dict[int, str]:
    """{message id: reason} for messages written about an appointment that has since moved
    (another start than the one snapshotted in ``appointment_start``), been cancelled or
    postponed, or deleted: their text quotes the old appointment. A present, missed or excused
    appointment keeps its messages (a missed-appointment follow-up is about a missed one).
    Messages without a snapshot (written before it existed, resends) and the scheduler's own are
    not judged here. One query whatever the number."""
    from patients.models import Appointment, AppointmentState

    judged = [
        m for m in messages
        if m.appointment_start is not None and m.mailing.origin not in SCHEDULER_ORIGINS
    ]
    if not judged:
        return {}
    appts = Appointment.objects.only("pk", "start", "state").in_bulk(
        {m.appointment_id for m in judged if m.appointment_id}
    )
    kept_states = {AppointmentState.PRESENT, AppointmentState.MISSED, AppointmentState.EXCUSED}
    gone_states = {AppointmentState.CANCELLED, AppointmentState.POSTPONED}
    out: dict[int, str] = {}
    for m in judged:
        appt = appts.get(m.appointment_id)
        if appt is None:  # deleted since (the foreign key was set to NULL)
            out[m.pk] = APPOINTMENT_CHANGED_REASON
        elif appt.state in kept_states:
            continue
        elif appt.state in gone_states or appt.start != m.appointment_start:
            out[m.pk] = APPOINTMENT_CHANGED_REASON
    return out


# Callables ``(messages) -> {message id: reason}`` naming claimed rows that are no longer true;
# those rows are CANCELLED with the reason instead of sent. The generic appointment check is
# built in; apps append their own (the scheduler: its reminders, follow-ups and event notices).
RELEVANCE_CHECKS: list = [appointment_changed_reasons]


def max_attempts() -> int:
    return int(getattr(settings, "MESSAGING_MAX_ATTEMPTS", 5))


def stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "MESSAGING_STALE_SENDING_MINUTES", 10)))


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt once ``attempts`` attempts have failed."""
    index = min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1
    return dt.timedelta(minutes=BACKOFF_MINUTES[index])


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    deferred: int = 0
    reconciled: int = 0
    message_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "message_ids"}


def _fmt(moment: dt.datetime, tz: dt.tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%d/%m/%Y} à {local:%H}h{local:%M}"


# ---------------------------------------------------------------------------------------------
# Quiet hours and quotas
# ---------------------------------------------------------------------------------------------


def quiet_until(moment: dt.datetime, *, start: dt.time, end: dt.time, tz: dt.tzinfo) -> dt.datetime | None:
    """When SMS may leave again if ``moment`` falls in the quiet hours [start, end) (local time,
    the window may cross midnight), else None. Computed on the local calendar, so a DST night
    still opens at ``end`` local time."""
    if start == end:
        return None
    local = moment.astimezone(tz)
    t = local.time()
    if start > end:  # e.g. 20:00 -> 08:00
        if t >= start:
            opening = local.date() + dt.timedelta(days=1)
        elif t < end:
            opening = local.date()
        else:
            return None
    else:  # e.g. 12:00 -> 14:00
        if not (start <= t < end):
            return None
        opening = local.date()
    return dt.datetime.combine(opening, end).replace(tzinfo=tz)


def _practice_tz(practice) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(practice.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class _Quota:
    """Slots left on one account at ``now``: sends of the last hour / 24 hours (rolling, as
    providers count them) against the account's limits."""

    def __init__(self, account: EmailAccount, now: dt.datetime):
        self.account = account
        self.now = now
        self.limits = [
            (limit, span, label)
            for limit, span, label in (
                (account.hourly_limit, dt.timedelta(hours=1), "heure"),
                (account.daily_limit, dt.timedelta(hours=24), "jour"),
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

    def take(self) -> tuple[dt.datetime, str] | None:
        """Use a slot now, or return (when the next slot opens, the French reason)."""
        worst: tuple[dt.datetime, str] | None = None
        for limit, span, label in self.limits:
            window = [t for t in self.times if t > self.now - span]
            if len(window) >= limit:
                until = window[len(window) - limit] + span
                if worst is None or until > worst[0]:
                    worst = (until, f"le compte « {self.account.name} » a atteint sa limite de {limit} envois par {label}")
        if worst is None:
            self.times.append(self.now)
        return worst


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------


def reconcile_stale_sending(*, now: dt.datetime | None = None) -> int:
    """Turn rows left in SENDING longer than MESSAGING_STALE_SENDING_MINUTES (their worker died
    or was killed) into UNKNOWN. Returns how many."""
    now = now or timezone.now()
    return Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - stale_after()).update(
        status=MessageStatus.UNKNOWN,
        reason="L'envoi a été interrompu (traitement arrêté en cours d'envoi) : impossible de savoir si le "
        "message est parti. Vérifiez auprès du destinataire avant de renvoyer.",
        error_code="interrupted",
        updated_at=now,
    )


def _claim(*, mailing_id: int | None, limit: int, now: dt.datetime, result: DispatchResult) -> list[Message]:
    from practice.models import Practice

    practice = Practice.get()
    tz = _practice_tz(practice)
    with transaction.atomic():
        due = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=MessageStatus.PENDING)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        )
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

        stale: dict[int, str] = {}
        for check in RELEVANCE_CHECKS:
            stale.update(check(rows))
        claimed: list[Message] = []
        sms_wait = quiet_until(now, start=practice.quiet_start, end=practice.quiet_end, tz=tz)
        quotas = {
            account_id: _Quota(accounts[account_id], now)
            for account_id in {m.account_id for m in rows if m.channel == Channel.EMAIL and m.account_id}
        }
        for m in rows:
            if m.pk in stale:
                _finish(m, MessageStatus.CANCELLED, reason=stale[m.pk], code="stale", now=now)
                continue
            if m.channel == Channel.SMS and sms_wait is not None:
                _defer(m, until=sms_wait, code="quiet",
                       reason=f"Heures de silence du cabinet : envoi prévu le {_fmt(sms_wait, tz)}.", now=now)
                result.deferred += 1
                continue
            if m.channel == Channel.EMAIL:
                if m.account_id is None:
                    _finish(m, MessageStatus.FAILED, reason="Aucun compte email d'envoi.", code="no-account", now=now)
                    result.failed += 1
                    continue
                wait = quotas[m.account_id].take()
                if wait is not None:
                    until, why = wait
                    _defer(m, until=until, code="quota", reason=f"En attente (quota) : {why} ; envoi prévu le {_fmt(until, tz)}.", now=now)
                    result.deferred += 1
                    continue
            if m.channel not in (Channel.SMS, Channel.EMAIL):
                _finish(m, MessageStatus.FAILED, reason="Canal non pris en charge par l'envoi automatique.", code="channel", now=now)
                result.failed += 1
                continue
            claimed.append(m)
        if claimed:
            Message.objects.filter(pk__in=[m.pk for m in claimed]).update(
                status=MessageStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
            )
            for m in claimed:
                m.status, m.claimed_at, m.attempts = MessageStatus.SENDING, now, m.attempts + 1
    return claimed


def _defer(m: Message, *, until: dt.datetime, code: str, reason: str, now: dt.datetime) -> None:
    Message.objects.filter(pk=m.pk).update(not_before=until, error_code=code, reason=reason[:500], updated_at=now)


def _finish(m: Message, status: str, *, reason: str, code: str, now: dt.datetime) -> None:
    Message.objects.filter(pk=m.pk).update(status=status, reason=reason[:500], error_code=code[:40], updated_at=now)


# ---------------------------------------------------------------------------------------------
# Recording outcomes
# ---------------------------------------------------------------------------------------------


def _still_ours(rows: list[Message], now: dt.datetime) -> set[int]:
    """Refresh the claim of ``rows`` just before calling the gateway, in one UPDATE; return the
    ids still ours. A row reconciled to UNKNOWN meanwhile is not SENDING any more: it is left
    out and must not be sent (no worker claims anything but PENDING, so the rows still SENDING
    after the UPDATE are exactly ours)."""
    ids = [m.pk for m in rows]
    if not ids:
        return set()
    refreshed = Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(claimed_at=now)
    if refreshed == len(ids):
        return set(ids)
    return set(Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).values_list("pk", flat=True))


# The claim is refreshed for the rest of a batch when sending it takes this long (a slow
# server), so that reconcile_stale_sending never takes a row we are about to send for a dead one.
REFRESH_CLAIM_SECONDS = 60.0


class _Claimed:
    """The rows of one batch still ours, re-checked in bulk when the batch runs long."""

    def __init__(self, rows: list[Message], now: dt.datetime, claimed_at: float | None = None):
        """``claimed_at``: when (``time.monotonic()``) this run claimed ``rows``, if it knows. Less
        than REFRESH_CLAIM_SECONDS ago, they are ours without asking: another run takes a
        claim for a dead worker's only after MESSAGING_STALE_SENDING_MINUTES."""
        self.rows, self.now = rows, now
        if claimed_at is not None and time.monotonic() - claimed_at <= REFRESH_CLAIM_SECONDS:
            self.ours, self.checked_at = {m.pk for m in rows}, claimed_at
        else:
            self.ours, self.checked_at = _still_ours(rows, now), time.monotonic()

    def __contains__(self, m: Message) -> bool:
        elapsed = time.monotonic() - self.checked_at
        if elapsed > REFRESH_CLAIM_SECONDS:
            # Refreshed to the time it is now: a claim left at the batch's start would look
            # stale to another run's reconcile_stale_sending once the batch is long enough.
            self.now = max(self.now + dt.timedelta(seconds=elapsed), timezone.now())
            pending = [r for r in self.rows if r.pk in self.ours]
            self.ours = _still_ours(pending, self.now)
            self.checked_at = time.monotonic()
        return m.pk in self.ours


def _record_sent(m: Message, provider_id: str, now: dt.datetime, extra: dict | None = None) -> None:
    Message.objects.filter(pk=m.pk, status__in=[MessageStatus.SENDING, MessageStatus.UNKNOWN]).update(
        status=MessageStatus.SENT,
        provider_id=provider_id[:100],
        sent_at=now,
        reason="",
        error_code="",
        not_before=None,
        updated_at=now,
        **(extra or {}),
    )


class _SentLog:
    """SENT outcomes of a batch, written together: one UPDATE per kind of history kept (the
    provider ids in a CASE) instead of one per message. Rows with attachments, whose kept copies
    differ per row, are written one by one. Flushed after each batch: a crash before the flush
    leaves the rows in SENDING, which reconcile_stale_sending turns into UNKNOWN (never re-sent),
    as a crash between the gateway call and a per-row UPDATE did."""

    CHUNK = 500

    def __init__(self, now: dt.datetime):
        self.now = now
        self.groups: dict[tuple, list[tuple[int, str]]] = defaultdict(list)

    def add(self, m: Message, provider_id: str, extra: dict) -> None:
        if "attachments" in extra:
            _record_sent(m, provider_id, self.now, extra)
            return
        self.groups[tuple(sorted(extra.items()))].append((m.pk, provider_id[:100]))

    def flush(self) -> None:
        if connection.vendor == "postgresql":
            for extra, sent in self.groups.items():
                self._flush_postgresql(dict(extra), sent)
            self.groups.clear()
            return
        for extra, sent in self.groups.items():
            for i in range(0, len(sent), self.CHUNK):
                chunk = sent[i : i + self.CHUNK]
                Message.objects.filter(
                    pk__in=[pk for pk, _ in chunk], status__in=[MessageStatus.SENDING, MessageStatus.UNKNOWN]
                ).update(
                    status=MessageStatus.SENT,
                    provider_id=Case(*(When(pk=pk, then=Value(pid)) for pk, pid in chunk), default=F("provider_id")),
                    sent_at=self.now,
                    reason="",
                    error_code="",
                    not_before=None,
                    updated_at=self.now,
                    **dict(extra),
                )
        self.groups.clear()

    def _flush_postgresql(self, extra: dict, sent: list[tuple[int, str]]) -> None:
        """The same UPDATE with the ids and provider ids as two arrays: resolving a CASE of
        hundreds of WHENs cost Django more than sending the emails."""
        table, q = Message._meta.db_table, connection.ops.quote_name
        values = {"status": MessageStatus.SENT, "sent_at": self.now, "reason": "", "error_code": "",
                  "not_before": None, "updated_at": self.now, **extra}
        fields = [Message._meta.get_field(name) for name in values]
        assignments = ", ".join(f"{q(f.column)} = %s" for f in fields)
        params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {q(table)} AS m SET {assignments}, {q('provider_id')} = v.provider_id "
                "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, provider_id) "
                f"WHERE m.{q('id')} = v.id AND m.{q('status')} IN (%s, %s)",
                [*params, [pk for pk, _ in sent], [pid for _, pid in sent], MessageStatus.SENDING,
                 MessageStatus.UNKNOWN],
            )


def _record_error(m: Message, error: SendError, now: dt.datetime, result: DispatchResult) -> None:
    code = (error.code or "")[:40]
    if error.ambiguous:
        _finish(m, MessageStatus.UNKNOWN, reason=error.message, code=code, now=now)
        result.unknown += 1
    elif error.permanent:
        _finish(m, MessageStatus.FAILED, reason=error.message, code=code, now=now)
        result.failed += 1
    elif m.attempts >= max_attempts():
        _finish(
            m, MessageStatus.FAILED, reason=f"{error.message} Abandon après {m.attempts} tentatives.", code=code, now=now
        )
        result.failed += 1
    else:
        retry_at = now + backoff(m.attempts)
        Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.PENDING,
            not_before=retry_at,
            reason=f"Tentative {m.attempts} échouée, nouvel essai à {timezone.localtime(retry_at):%Hh%M} : {error.message}"[:500],
            error_code=code,
            updated_at=now,
        )
        result.retried += 1


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------


def _send_sms(rows: list[Message], now: dt.datetime, result: DispatchResult, claimed_at: float | None = None) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from messaging.backends.sms import SmsMessage, get_sms_backend
    from practice.models import Practice

    try:
        backend = get_sms_backend()
    except ImproperlyConfigured as exc:
        for m in rows:
            _record_error(m, SendError(f"Passerelle SMS non configurée : {exc}", permanent=True, code="config"), now, result)
        return
    sender = Practice.get().sms_sender_name
    claimed = _Claimed(rows, now, claimed_at)
    log = _SentLog(now)
    def record(m: Message, sms: SmsMessage) -> None:
        if sms.error is not None:
            _record_error(m, sms.error, now, result)
        else:
            log.add(m, sms.provider_id, {})
            result.sent += 1

    try:
        if getattr(backend, "in_process", False):
            # Gateways that answer at once (sandbox, locmem, console) take the batch in one call:
            # no claim can go stale meanwhile, and the sandbox stores it in one INSERT.
            batch = [(m, SmsMessage(to=m.to, body=m.body, sender=sender, reference=str(m.pk)))
                     for m in rows if m in claimed]
            backend.send_messages([sms for _, sms in batch])
            for m, sms in batch:
                record(m, sms)
        else:
            # A remote gateway, one request at a time, re-checking the claim as the batch runs.
            for m in rows:
                if m not in claimed:
                    continue
                sms = SmsMessage(to=m.to, body=m.body, sender=sender, reference=str(m.pk))
                backend.send_messages([sms])
                record(m, sms)
    finally:
        log.flush()


def _attachment_content(att: dict) -> bytes:
    path = att.get("path") or ""
    if not path:
        raise SendError(f"La pièce jointe « {att.get('filename', '?')} » n'est plus disponible.", permanent=True, code="attachment")
    try:
        if Path(path).is_absolute():
            return Path(path).read_bytes()
        with default_storage.open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SendError(
            f"La pièce jointe « {att.get('filename', path)} » est introuvable.", permanent=True, code="attachment"
        ) from exc


def _build_email(m: Message) -> EmailMultiAlternatives:
    account = m.account
    headers = {"Message-ID": make_msgid(domain=account.email.rsplit("@", 1)[-1] or None)}
    if m.mailing.read_receipt:
        headers["Disposition-Notification-To"] = account.email
    email = EmailMultiAlternatives(
        subject=m.subject, body=m.body, from_email=account.from_header, to=[m.to], headers=headers
    )
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
        if m.mailing.keep_attachments:
            kept = []
            for att in m.attachments:
                name = f"historique/{m.pk}/{att.get('filename') or 'piece-jointe'}"
                try:
                    stored = default_storage.save(name, ContentFile(_attachment_content(att)))
                except SendError:
                    stored = att.get("path", "")
                kept.append({**att, "path": stored, "kept": True})
            extra["attachments"] = kept
        else:
            extra["attachments"] = [{"filename": a.get("filename", ""), "mimetype": a.get("mimetype", "")} for a in m.attachments]
    return extra


def _send_emails(rows: list[Message], now: dt.datetime, result: DispatchResult,
                 senders: dict[int, AccountSender] | None = None, claimed_at: float | None = None) -> None:
    """Send ``rows`` through their accounts. ``senders`` (account id -> AccountSender) keeps
    each account's connection open from one batch to the next; the caller closes them. Without
    it, the connections are closed at the end."""
    own = senders is None
    senders = {} if own else senders
    by_account: dict[int, list[Message]] = defaultdict(list)
    for m in rows:
        by_account[m.account_id].append(m)
    try:
        for account_id, account_rows in by_account.items():
            sender = senders.get(account_id)
            if sender is None:
                sender = senders[account_id] = AccountSender(account_rows[0].account)
            log = _SentLog(now)
            try:
                claimed = _Claimed(account_rows, now, claimed_at)
                for m in account_rows:
                    # Built one at a time: attachments are read into memory only while sent.
                    try:
                        email = _build_email(m)
                    except SendError as exc:
                        _record_error(m, exc, now, result)
                        continue
                    if m not in claimed:
                        continue
                    try:
                        message_id = sender.send(email)
                    except SendError as exc:
                        _record_error(m, exc, now, result)
                        continue
                    log.add(m, message_id, _history_extra(m))
                    result.sent += 1
            finally:
                log.flush()
    finally:
        if own:
            _close_senders(senders)


def _close_senders(senders: dict) -> None:
    for sender in senders.values():
        try:
            sender.close()
        except Exception:  # noqa: BLE001 - closing a dead connection: nothing left to save
            logger.warning("Closing the SMTP connection of %s failed", sender.account, exc_info=True)
    senders.clear()


def dispatch_pending(*, mailing_id: int | None = None, limit: int = BATCH_SIZE, now: dt.datetime | None = None) -> DispatchResult:
    """Send what is due (of one mailing, or all), in batches of ``limit``, until nothing due is
    left; return the counts. Never raises for one message's failure: it is recorded on the row.
    Safe to run concurrently and repeatedly: a row is sent by the run that claimed it only."""
    # Without ``now`` (a fixed time, for tests), each batch at its own time: a long run (a slow
    # SMTP server, a large mailing) must not claim rows with its start time, which another run's
    # reconcile_stale_sending would take for a dead worker's, nor judge quiet hours and quotas
    # by it.
    clock = timezone.now if now is None else lambda: now
    result = DispatchResult()
    result.reconciled = reconcile_stale_sending(now=clock())
    senders: dict = {}  # one SMTP connection per account for the whole run, not per batch
    try:
        while True:
            now = clock()
            batch = _claim(mailing_id=mailing_id, limit=limit, now=now, result=result)
            if not batch:
                break
            claimed_at = time.monotonic()
            result.message_ids += [m.pk for m in batch]
            _send_sms([m for m in batch if m.channel == Channel.SMS], now, result, claimed_at)
            _send_emails([m for m in batch if m.channel == Channel.EMAIL], now, result, senders, claimed_at)
    finally:
        _close_senders(senders)
    return result
