"""The life of a message: its states and the only code that moves it from one to the next.

Every write of ``Message.status`` goes through this module (the outbox writes a new row as
PENDING, or SKIPPED when nobody can receive it: that is the row's birth, not a transition).
Each transition is ONE conditional UPDATE that names the state it starts from; it must change
exactly one row, otherwise it is refused (the function returns False and changes nothing): a
message taken meanwhile by another worker, cancelled by staff or already recorded is never
overwritten by a late writer.

::

                    outbox (creation)                      outbox (creation)
                          |                                       |
                          v                                       v
        +----------->  PENDING  <------------------+           SKIPPED (nobody to send it to)
        |        (waiting when not_before is set:   |
        |         quiet hours, quota, paused        |
        |         account, retry after backoff;     |
        |         send_now: staff send one held by  |
        |         the quiet hours at once)          |
        |                 |                         |
        |  defer          | claim (one worker,      | release (time box, batch given back:
        |  (waiting code) |  claimed_by = its run)  |  the attempt is not spent)
        |                 v                         |
        +------------  SENDING  --------------------+
                    (claimed, not handed over)
                      |        |             \\
             cancel   |        | hand_over    \\  recover: the worker died before handing it
     (appointment,    |        | (handed_at,   \\  over -> back to PENDING, sent by the next run
      STOP, consent)  v        |  attempts+1)   \\
                  CANCELLED    v
                         SENDING + handed_at  ("in flight": at most ONE per worker)
                      /     |      |      \\           \\
            mark_sent   fail  mark_unknown  retry_later   defer (account unreachable before the
               |          |        |       (backoff)       message left: paused, attempt refunded)
               v          v        v          -> PENDING
             SENT      FAILED   UNKNOWN ("incertain": may have left; never re-sent blindly)
               |                   ^
               |                   | recover: the worker died while it was in flight
               v
       DELIVERED / FAILED  (delivery reports: see the gateway section at the end of this file)

Crash safety. A worker records each outcome before it hands the next message to a gateway, so a
crash (SIGKILL, task timeout, power loss) leaves at most one message "in flight" per worker:
``handed_at`` is set and the status is still SENDING. ``recover_interrupted`` (run at the start
of every dispatch) tells the two kinds of rows an interrupted worker leaves apart: handed over
-> UNKNOWN (the gateway may have it), never handed over -> PENDING (sent by the next run, once).

A worker hands a message over in the same commit as it records the SENT of the one before and
reads what the next one's last-moment checks need (``hand_over_next``: one statement on
PostgreSQL). A message handed over that then does not reach its gateway (a check refuses it, it
cannot be built, its server cannot be reached) is taken back (``take_back``: in flight -> SENDING
not handed over, attempt given back) before its outcome is written.

Attempts are counted when a message is handed over, not when it is claimed: releasing a claim
(time box, a crash before the gateway call, a paused account) never spends an attempt.

``now`` is passed by the caller (dispatch has one clock per run; tests pass a fixed time).

Reasons. A transition that says why takes a ``messaging.reasons.Why`` (a catalogue string and
its parameters) or a plain text, and writes it to two columns in the same UPDATE: ``reason``, the
French text (as it always was), and ``reason_i18n``, the msgid and parameters the pages render
in the reader's language (None for a plain text). A transition that clears the reason clears both.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from messaging.models import Channel, EmailAccount, Message, MessageStatus
from messaging.reasons import Clock, Why, restored, stored
from practice.bulk import Read, Together

logger = logging.getLogger(__name__)

# Minutes to wait before the 2nd, 3rd... attempt after a transient error.
BACKOFF_MINUTES = [1, 5, 15, 60, 180]


class WaitReason(models.TextChoices):
    """Why a PENDING message has a ``not_before`` (stored in ``error_code``)."""

    QUIET = "quiet", "Heures de silence du cabinet"
    QUOTA = "quota", "Quota du compte email"
    PAUSED = "paused", "Compte email injoignable (en pause)"
    RETRY = "retry", "Nouvel essai après une erreur passagère"
    RELEASED = "released", "Rendu par un envoi interrompu"


def max_attempts() -> int:
    return int(getattr(settings, "MESSAGING_MAX_ATTEMPTS", 5))


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt once ``attempts`` attempts have failed."""
    ladder = getattr(settings, "MESSAGING_BACKOFF_MINUTES", None) or BACKOFF_MINUTES
    index = min(max(attempts, 1), len(ladder)) - 1
    return dt.timedelta(minutes=ladder[index])


def stale_after() -> dt.timedelta:
    """How long a claim may stay without news before its worker is taken for dead. Longer than
    the dispatch time box plus one SMTP timeout, so a live worker's claim never looks dead."""
    seconds = getattr(settings, "MESSAGING_STALE_SENDING_SECONDS", None)
    if seconds is None:
        seconds = 60 * int(getattr(settings, "MESSAGING_STALE_SENDING_MINUTES", 10))
    return dt.timedelta(seconds=float(seconds))


def new_token() -> str:
    """The identity of one dispatch run: every claim it takes carries it."""
    return uuid.uuid4().hex


def _clip(text: str, size: int = 500) -> str:
    return (text or "")[:size]


# What a reason is given as: a ``messaging.reasons.Why`` (shown in the reader's language) or a
# plain text (shown as stored).
ReasonText = Why | str


def _reason(reason: ReasonText | None) -> dict:
    """The columns of a message's reason: the French text (``reason``) and, for a ``Why``, its
    msgid and parameters (``reason_i18n``), written together so they never disagree."""
    text, data = stored(reason)
    return {"reason": text, "reason_i18n": data}


NO_REASON = {"reason": "", "reason_i18n": None}


def _one(queryset, **changes) -> bool:
    """Apply ``changes`` to the single row ``queryset`` names; True when exactly one changed."""
    changed = queryset.update(**changes)
    if changed > 1:  # a pk filter cannot match two rows; guard the contract anyway
        raise AssertionError(f"A transition changed {changed} rows")
    return changed == 1


def _refused(m: Message, transition: str) -> None:
    logger.info("Transition %s refused for message %s (state changed meanwhile)", transition, m.pk)


# ---------------------------------------------------------------------------------------------
# Claiming and giving back
# ---------------------------------------------------------------------------------------------


def claim(rows: list[Message], *, token: str, now: dt.datetime) -> list[Message]:
    """PENDING -> SENDING for ``rows`` (locked by the caller with ``select_for_update``), held by
    the run ``token``. Returns the rows claimed (all of them: the caller's lock guarantees they
    are PENDING), updated in memory."""
    if not rows:
        return []
    changed = Message.objects.filter(pk__in=[m.pk for m in rows], status=MessageStatus.PENDING).update(
        status=MessageStatus.SENDING, claimed_by=token, claimed_at=now, handed_at=None, updated_at=now
    )
    if changed != len(rows):  # the caller did not lock them: refuse rather than guess which
        raise AssertionError("claim() needs rows locked with select_for_update")
    for m in rows:
        m.status, m.claimed_by, m.claimed_at, m.handed_at = MessageStatus.SENDING, token, now, None
    return rows


def release(messages: list[Message], *, token: str, now: dt.datetime) -> int:
    """SENDING (ours, not handed over) -> PENDING, due at once: the run stops (time box) and
    gives back what it did not send. No attempt was spent on them. Returns how many."""
    ids = [m.pk for m in messages]
    if not ids:
        return 0
    return Message.objects.filter(
        pk__in=ids, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=True
    ).update(status=MessageStatus.PENDING, claimed_by="", updated_at=now)


def defer(m: Message, *, until: dt.datetime, code: str, reason: ReasonText, now: dt.datetime, token: str = "") -> bool:
    """Make ``m`` wait until ``until`` with a coded reason (WaitReason): from PENDING, or from
    SENDING held by ``token`` (claimed, or handed over but known not to have left: an account
    unreachable before the message was transmitted). The attempt a hand-over counted is given
    back: waiting spends no attempt."""
    changes = dict(not_before=until, error_code=_clip(code, 40), updated_at=now, **_reason(reason))
    if token:
        queryset = Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token)
        refund = m.handed_at is not None
        changes.update(status=MessageStatus.PENDING, claimed_by="", handed_at=None)
        if refund:
            changes["attempts"] = F("attempts") - 1
        done = _one(queryset, **changes)
        if done:
            m.status, m.handed_at = MessageStatus.PENDING, None
            m.attempts -= 1 if refund else 0
    else:
        done = _one(Message.objects.filter(pk=m.pk, status=MessageStatus.PENDING), **changes)
    if not done:
        _refused(m, "defer")
    m.not_before = until
    return done


def _handing(*, pk: int, token: str, now: dt.datetime, provider_id: str | None = None):
    """The hand-over's UPDATE (see ``hand_over``): the row, and its changes."""
    changes = {"provider_id": provider_id} if provider_id is not None else {}
    return (
        Message.objects.filter(pk=pk, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=True),
        dict(handed_at=now, claimed_at=now, attempts=F("attempts") + 1, updated_at=now, **changes),
    )


def _handing_values(m: Message, token: str, now: dt.datetime, provider_id: str) -> dict:
    values = dict(pk=m.pk, token=token, now=now)
    if provider_id:
        values["provider_id"] = _clip(provider_id, 100)
    return values


def _handed(m: Message, done: bool, now: dt.datetime, provider_id: str) -> None:
    if done:
        m.handed_at, m.claimed_at, m.attempts = now, now, m.attempts + 1
        if provider_id:
            m.provider_id = provider_id
    else:
        _refused(m, "hand_over")


def hand_over(m: Message, *, token: str, now: dt.datetime, provider_id: str = "") -> bool:
    """SENDING (ours, not handed over) -> in flight: from now on the gateway may have it, so a
    crash makes it UNKNOWN rather than PENDING. Counts the attempt and renews the claim. False
    when the message is not ours any more (recovered as dead, cancelled): it must not be sent.
    ``provider_id``: the id known before it leaves (an email's Message-ID), kept with it so an
    email left UNKNOWN ("incertain") still tells staff which message to look for."""
    queryset, changes = _handing(**_handing_values(m, token, now, provider_id))
    done = _one(queryset, **changes)
    _handed(m, done, now, provider_id)
    return done


def take_back(m: Message, *, token: str, now: dt.datetime, provider_id: str | None = None) -> bool:
    """In flight -> SENDING (ours, not handed over), for a message handed over that never
    reached its gateway: a last-moment check read with its hand-over refused it, or it could
    not be built, or its server could not be reached. A crash from here gives it back as
    PENDING, not UNKNOWN; the attempt is given back. ``provider_id``: what the row held before
    the hand-over wrote an email's Message-ID (put back)."""
    changes = {"provider_id": provider_id} if provider_id is not None else {}
    done = _one(
        Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=False),
        handed_at=None, attempts=F("attempts") - 1, updated_at=now, **changes,
    )
    if done:
        m.handed_at, m.attempts = None, m.attempts - 1
        if provider_id is not None:
            m.provider_id = provider_id
    else:
        _refused(m, "take_back")
    return done


def send_now(m: Message, *, by, now: dt.datetime) -> bool:
    """PENDING held by the quiet hours -> PENDING due at once: staff's explicit choice (``by``,
    a user) to send it now, during the practice's quiet hours. Recorded on the message
    (``send_now_by``, ``send_now_at``) for the history and the journal; dispatch does not hold
    that attempt for the quiet hours (``send_checks.released_now``; a retry after a transient
    error waits like any SMS), while every other last-moment check (appointment, consent and
    STOP, purpose, account) still applies. Only from a message still held by the quiet hours
    and not yet released: False otherwise (claimed meanwhile, sent, cancelled, released by
    someone else), and nothing changes."""
    done = _one(
        Message.objects.filter(pk=m.pk, status=MessageStatus.PENDING, error_code=WaitReason.QUIET,
                               send_now_at__isnull=True),
        not_before=now, error_code="", send_now_by=by, send_now_at=now, updated_at=now, **NO_REASON,
    )
    if done:
        m.not_before, m.error_code, m.reason, m.send_now_by, m.send_now_at = now, "", "", by, now
        m.reason_i18n = None
    else:
        _refused(m, "send_now")
    return done


# ---------------------------------------------------------------------------------------------
# Outcomes of a message in flight
# ---------------------------------------------------------------------------------------------


def _recording_sent(*, pk: int, token: str, now: dt.datetime, provider_id: str, **extra):
    """The UPDATE of ``mark_sent``: the row, and its changes."""
    return (
        Message.objects.filter(pk=pk, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=False),
        dict(status=MessageStatus.SENT, provider_id=provider_id, sent_at=now, error_code="",
             not_before=None, claimed_by="", updated_at=now, **NO_REASON, **extra),
    )


def _sent_values(m: Message, provider_id: str, now: dt.datetime, token: str, extra: dict | None) -> dict:
    return dict(pk=m.pk, token=token, now=now, provider_id=_clip(provider_id, 100), **(extra or {}))


def _recorded_sent(m: Message, done: bool, provider_id: str, now: dt.datetime, reports: bool) -> None:
    if done:
        m.status, m.provider_id, m.sent_at = MessageStatus.SENT, provider_id, now
        if reports and m.channel == Channel.SMS:
            # A delivery report may have come before this write: kept, it applies now.
            apply_kept_events([provider_id], now=now)
    else:
        # The gateway took it but the row was settled meanwhile: say so loudly, it is a bug.
        logger.error("Message %s was sent (%s) but its row was no longer ours", m.pk, provider_id)


def mark_sent(m: Message, *, provider_id: str, now: dt.datetime, token: str, extra: dict | None = None,
              reports: bool = True) -> bool:
    """In flight -> SENT with the gateway's id (Message-ID for an email). ``extra``: what the
    history keeps of it (content dropped, attachments kept), written in the same UPDATE.
    ``reports``: whether the SMS gateway sends delivery reports (then those that came before
    this write, kept, apply now; a gateway without webhooks spares the query)."""
    queryset, changes = _recording_sent(**_sent_values(m, provider_id, now, token, extra))
    done = _one(queryset, **changes)
    _recorded_sent(m, done, provider_id, now, reports)
    return done


@dataclass
class Sent:
    """A message its gateway took, whose SENT is written with the next hand-over of the same
    worker (``hand_over_next``), or alone (``record``) when no other message follows: either
    way before any other message of that worker is handed to a gateway."""

    message: Message
    provider_id: str
    now: dt.datetime
    extra: dict = field(default_factory=dict)
    reports: bool = True

    def record(self, *, token: str) -> bool:
        """Write it now, alone (``mark_sent``)."""
        return mark_sent(self.message, provider_id=self.provider_id, now=self.now, token=token, extra=self.extra,
                         reports=self.reports)


def hand_over_next(m: Message, *, token: str, now: dt.datetime, together: Together, provider_id: str = "",
                   sent: Sent | None = None, read: Read | None = None) -> tuple[bool | None, bool, tuple | None]:
    """``mark_sent`` for ``sent`` (the message this worker sent before, if not recorded yet),
    then ``hand_over`` for ``m``, in ONE commit (one statement on PostgreSQL: see
    ``practice.bulk.Together``), with ``read`` (what ``m``'s last-moment checks need, read in the
    same round trip when ``m`` was handed over). Each outcome stays durable before the next
    message leaves: ``m`` may reach its gateway only once this returns. When a check then
    refuses ``m``, ``take_back`` it before its outcome.

    Returns (``sent`` recorded, or None without one; ``m`` handed over; the row read or None)."""
    writes = []
    if sent is not None:
        writes.append((_recording_sent, _sent_values(sent.message, sent.provider_id, sent.now, token, sent.extra)))
    writes.append((_handing, _handing_values(m, token, now, provider_id)))
    counts, row = together.run(writes, read)
    recorded = None
    if sent is not None:
        recorded = counts[0] == 1
        _recorded_sent(sent.message, recorded, sent.provider_id, sent.now, sent.reports)
    handed = counts[-1] == 1
    _handed(m, handed, now, provider_id)
    return recorded, handed, row


def fail(m: Message, *, code: str, reason: ReasonText, now: dt.datetime, token: str = "") -> bool:
    """-> FAILED with a coded reason: from SENDING held by ``token`` (in flight or not), or from
    PENDING when no token is given (a message that can never leave: no account, a channel that
    is not sent automatically)."""
    if token:
        queryset = Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token)
    else:
        queryset = Message.objects.filter(pk=m.pk, status=MessageStatus.PENDING)
    done = _one(queryset, status=MessageStatus.FAILED, error_code=_clip(code, 40), claimed_by="", updated_at=now,
                **_reason(reason))
    if done:
        m.status = MessageStatus.FAILED
    else:
        _refused(m, "fail")
    return done


def mark_unknown(m: Message, *, code: str, reason: ReasonText, now: dt.datetime, token: str) -> bool:
    """In flight -> UNKNOWN ("incertain"): the gateway may have accepted it (the line dropped
    after the request left). Never re-sent blindly."""
    done = _one(
        Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=False),
        status=MessageStatus.UNKNOWN, error_code=_clip(code, 40), claimed_by="", updated_at=now, **_reason(reason),
    )
    if done:
        m.status = MessageStatus.UNKNOWN
    else:
        _refused(m, "mark_unknown")
    return done


def retry_later(m: Message, *, code: str, reason: ReasonText, now: dt.datetime, token: str) -> bool:
    """In flight -> PENDING after a backoff (a transient error: the message did not leave), or
    FAILED once it has used MESSAGING_MAX_ATTEMPTS attempts."""
    if m.attempts >= max_attempts():
        return fail(m, code=code, reason=Why(gettext_noop("%(reason)s Abandon après %(n)s tentatives."),
                                             reason=reason, n=m.attempts), now=now, token=token)
    retry_at = now + backoff(m.attempts)
    local = timezone.localtime(retry_at)
    done = _one(
        Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token, handed_at__isnull=False),
        status=MessageStatus.PENDING, not_before=retry_at, claimed_by="", handed_at=None, error_code=_clip(code, 40),
        updated_at=now, **_reason(Why(gettext_noop("Tentative %(n)s échouée, nouvel essai à %(time)s : %(reason)s"),
                                      n=m.attempts, time=Clock(local), reason=reason)),
    )
    if done:
        m.status, m.not_before = MessageStatus.PENDING, retry_at
    else:
        _refused(m, "retry_later")
    return done


def cancel(m: Message, *, code: str, reason: ReasonText, now: dt.datetime, token: str = "") -> bool:
    """-> CANCELLED with a coded reason, for a message that is no longer true or wanted (its
    appointment moved or was cancelled, the person said STOP). From PENDING, or from SENDING
    held by ``token`` and not yet handed over: a message in flight can no longer be called back."""
    if token:
        queryset = Message.objects.filter(pk=m.pk, status=MessageStatus.SENDING, claimed_by=token,
                                          handed_at__isnull=True)
    else:
        queryset = Message.objects.filter(pk=m.pk, status=MessageStatus.PENDING)
    done = _one(queryset, status=MessageStatus.CANCELLED, error_code=_clip(code, 40), claimed_by="", updated_at=now,
                **_reason(reason))
    if done:
        m.status = MessageStatus.CANCELLED
    else:
        _refused(m, "cancel")
    return done


# ---------------------------------------------------------------------------------------------
# Recovery after a crash
# ---------------------------------------------------------------------------------------------

INTERRUPTED_REASON = Why(gettext_noop(
    "L'envoi a été interrompu (traitement arrêté pendant la transmission) : impossible de savoir si le "
    "message est parti. Vérifiez auprès du destinataire avant de renvoyer."
))


def recover_interrupted(*, now: dt.datetime) -> tuple[int, int]:
    """Settle the claims of workers that died (no news for ``stale_after()``): the message that
    was in flight becomes UNKNOWN, the ones never handed over go back to PENDING, due at once, with
    their attempts intact. Returns (released, unknown)."""
    stale = Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - stale_after())
    unknown = stale.filter(handed_at__isnull=False).update(
        status=MessageStatus.UNKNOWN, error_code="interrupted", claimed_by="", updated_at=now,
        **_reason(INTERRUPTED_REASON),
    )
    released = stale.filter(handed_at__isnull=True).update(
        status=MessageStatus.PENDING, claimed_by="", updated_at=now
    )
    if released or unknown:
        logger.warning("Interrupted dispatch recovered: %s message(s) back to pending, %s unknown", released, unknown)
    return released, unknown


# ---------------------------------------------------------------------------------------------
# Email accounts: paused while unreachable
# ---------------------------------------------------------------------------------------------


def probe_every() -> dt.timedelta:
    """How often a paused account is tried again (the every-minute dispatch does it)."""
    return dt.timedelta(seconds=float(getattr(settings, "MESSAGING_ACCOUNT_PROBE_SECONDS", 60)))


def account_pause(account: EmailAccount, *, reason: ReasonText, now: dt.datetime) -> dt.datetime:
    """Mark ``account`` unreachable (kept since the first failure) and return when it will be
    tried again. Its messages wait, without spending attempts, until it answers."""
    probe_at = now + probe_every()
    EmailAccount.objects.filter(pk=account.pk, paused_at__isnull=True).update(paused_at=now)
    text, data = stored(reason)
    EmailAccount.objects.filter(pk=account.pk).update(pause_reason=text, pause_reason_i18n=data, probe_at=probe_at)
    account.refresh_from_db(fields=["paused_at", "pause_reason", "pause_reason_i18n", "probe_at"])
    return probe_at


def account_resume(account: EmailAccount, *, now: dt.datetime) -> bool:
    """The account answered again: its waiting messages are due at once. True if it was paused."""
    with transaction.atomic():
        was_paused = EmailAccount.objects.filter(pk=account.pk, paused_at__isnull=False).update(
            paused_at=None, pause_reason="", pause_reason_i18n=None, probe_at=None
        )
        if was_paused:
            Message.objects.filter(
                account_id=account.pk, status=MessageStatus.PENDING, error_code=WaitReason.PAUSED
            ).update(not_before=None, updated_at=now)
    account.paused_at, account.pause_reason, account.pause_reason_i18n, account.probe_at = None, "", None, None
    return bool(was_paused)


def wake_waiting(*, code: str, now: dt.datetime) -> int:
    """Make the messages waiting for ``code`` (WaitReason) due at once, so the next dispatch
    judges them with fresh rules (the practice changed its quiet hours). Those still inside
    the new hours are deferred again, to the new end."""
    return Message.objects.filter(status=MessageStatus.PENDING, error_code=code, not_before__gt=now).update(
        not_before=now, updated_at=now
    )


def waiting_filter(now: dt.datetime) -> Q:
    """PENDING rows due at ``now`` whose account (if any) is not paused past ``now``."""
    return (
        Q(status=MessageStatus.PENDING)
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        & (Q(account__isnull=True) | Q(account__probe_at__isnull=True) | Q(account__probe_at__lte=now))
    )


# --- Gateway events: delivery reports and reconciliation (core-gateways) ---
#
# A gateway reports on an SMS after it left (delivered, failed) through its status webhook, and
# can be asked about an SMS whose outcome we do not know ("incertain"). Three rules:
# - a report never moves a message backwards (RANK): a late "sent" after "delivered" changes
#   nothing, and DELIVERED / FAILED are final;
# - a report about an id no message carries yet (the gateway answered before our write) is kept
#   (PendingDeliveryEvent) and applied by ``apply_kept_events`` once a message is recorded with
#   that id: every place that records SENT with a gateway id calls it;
# - an "incertain" SMS is settled once (``settle_unknown``): found at the gateway -> SENT with its
#   id; unknown to the gateway after a safe delay -> it never left, back to PENDING (once: the
#   GatewayCheck row forbids a second check).

# Higher rank = further along. A report never moves a message to a lower or equal rank.
RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.FAILED: 3,
}
REPORTED_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED)


def _apply_to_message(message: Message, *, status: str, error_code: str, reason: ReasonText, now: dt.datetime) -> bool:
    """Move ``message`` (locked by the caller) forward to ``status``; False when it is not further
    along (repeated or late report) or the message left the gateway's hands (cancelled, skipped)."""
    if message.status not in RANK or RANK[message.status] >= RANK[status]:
        return False
    fields = {"status": status, "updated_at": now}
    if status == MessageStatus.DELIVERED:
        fields.update(delivered_at=now, error_code="", **NO_REASON)
    elif status == MessageStatus.FAILED:
        fields.update(error_code=(error_code or "failed")[:40],
                      **_reason(reason or Why(gettext_noop("Le SMS n'a pas pu être remis."))))
    elif message.sent_at is None:
        fields["sent_at"] = now
    Message.objects.filter(pk=message.pk, status=message.status).update(**fields)
    return True


def apply_delivery_event(event, *, gateway: str, now: dt.datetime | None = None) -> bool:
    """Apply a gateway's DeliveryEvent to the message with its ``provider_id``. When no message
    carries that id yet, the event is kept and applied when one does. Returns whether a message
    changed now."""
    from messaging.models import PendingDeliveryEvent

    if not event.provider_id or event.status not in REPORTED_STATUSES:
        return False
    now = now or timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(provider_id=event.provider_id).first()
        if message is not None:
            return _apply_to_message(message, status=event.status, error_code=event.error_code,
                                     reason=event.reason, now=now)
        PendingDeliveryEvent.objects.create(
            gateway=gateway[:20], provider_id=event.provider_id[:100], status=event.status,
            error_code=(event.error_code or "")[:40], **_reason(event.reason or ""),
        )
    # The message may have been recorded between our look and our write (its recorder looked for
    # kept events before ours was committed): look again now that ours is visible to everyone.
    return bool(apply_kept_events([event.provider_id], now=now))


def apply_kept_events(provider_ids, *, now: dt.datetime | None = None) -> int:
    """Apply the kept reports about ``provider_ids`` to their messages, now recorded with those
    ids, and forget them. Called right after SENT is recorded with a gateway id. Returns how many
    messages changed."""
    from messaging.models import PendingDeliveryEvent

    ids = [pid for pid in provider_ids if pid]
    if not ids:
        return 0
    # The common case, no report came early, costs one indexed query.
    if not PendingDeliveryEvent.objects.filter(provider_id__in=ids).exists():
        return 0
    now = now or timezone.now()
    changed = 0
    with transaction.atomic():
        kept = list(PendingDeliveryEvent.objects.select_for_update().filter(provider_id__in=ids))
        messages = {m.provider_id: m for m in Message.objects.select_for_update().filter(provider_id__in={e.provider_id for e in kept})}
        done = []
        # In order of progress, so each kept report is judged against the one before it.
        for event in sorted(kept, key=lambda e: (RANK.get(e.status, 0), e.received_at, e.pk)):
            message = messages.get(event.provider_id)
            if message is None:
                continue
            if _apply_to_message(message, status=event.status, error_code=event.error_code,
                                 reason=restored(event.reason, event.reason_i18n), now=now):
                message.status = event.status
                changed += 1
            done.append(event.pk)
        PendingDeliveryEvent.objects.filter(pk__in=done).delete()
    return changed


def settle_unknown(message: Message, *, sent: bool, provider_id: str = "", reason: ReasonText = "",
                   now: dt.datetime | None = None) -> bool:
    """Settle an "incertain" message with what its gateway said: ``sent`` -> SENT with
    ``provider_id`` (kept reports about that id then apply), otherwise it never left -> PENDING,
    due at once, with ``reason``. Only from UNKNOWN; returns whether it changed."""
    now = now or timezone.now()
    queryset = Message.objects.filter(pk=message.pk, status=MessageStatus.UNKNOWN)
    if sent:
        done = queryset.update(status=MessageStatus.SENT, provider_id=provider_id[:100], sent_at=now,
                               error_code="", not_before=None, claimed_by="", updated_at=now, **_reason(reason))
        if done:
            message.status, message.provider_id = MessageStatus.SENT, provider_id
            apply_kept_events([provider_id], now=now)
    else:
        done = queryset.update(status=MessageStatus.PENDING, not_before=None, error_code="reconciled", claimed_by="",
                               handed_at=None, updated_at=now, **_reason(reason))
        if done:
            message.status = MessageStatus.PENDING
    return bool(done)
