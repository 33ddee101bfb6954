"""Writing to the outbox: the one path every way of sending goes through.

``mailing_create`` records a request (Mailing) and one Message per recipient with the exact text
that recipient will get, then asks django-q2 to dispatch once the transaction commits. Nothing
here talks to a gateway: messaging.dispatch does, from these rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Collection, Iterable, Sequence
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from messaging.compose import compose_email, compose_sms
from messaging.merge import CustomFields
from messaging.models import (
    Channel,
    EmailAccount,
    EmailTemplate,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    Purpose,
    RecipientRole,
    Signature,
    SmsTemplate,
)
from messaging.policy import Reason, Recipient, missing_data_note, missing_data_text
from messaging.purpose import copy_of, earlier_messages
from messaging.reasons import Why, stored
from patients.models import Appointment
from patients.selectors import following_appointments
from practice.bulk import insert_rows

logger = logging.getLogger(__name__)


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


# "Use the template's (or the account's) signature", as opposed to None: no signature at all.
DEFAULT = _Default()


def dedupe_key(base: str, patient_id: int | None, role: str, address: str, appointment_id: int | None) -> str:
    """Deterministic identity of one message of one request: the same request written twice
    yields the same keys, which the unique constraint refuses."""
    key = f"{base}|{patient_id or '-'}|{role}|{address}|{appointment_id or '-'}"
    if len(key) > 200:
        key = "h:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _schedule_dispatch(mailing_id: int, pending: int = 1) -> None:
    """Queue the dispatch of a mailing: one task per cluster worker for a mailing of several
    batches, so that every core sends (the tasks share the rows through skip-locked claims;
    each keeps its own SMTP connection), one task otherwise."""
    from django.conf import settings
    from django_q.tasks import async_task

    from messaging.dispatch import BATCH_SIZE

    workers = int(settings.Q_CLUSTER.get("workers") or 1)
    tasks = max(1, min(workers, math.ceil(pending / BATCH_SIZE)))
    try:
        # In one transaction: the tasks are queued together or not at all, and django-q's ORM
        # broker, which closes "old" connections before each task it queues outside one (every
        # connection, with CONN_MAX_AGE=0), does not reconnect twice at the end of a request.
        with transaction.atomic():
            for i in range(tasks):
                name = f"envoi-{mailing_id}" + (f"-{i + 1}" if tasks > 1 else "")
                async_task("messaging.tasks.dispatch_task", mailing_id=mailing_id, task_name=name)
    except Exception:  # noqa: BLE001
        # The rows are committed; the every-minute schedule sends them if the broker hiccups.
        logger.exception("Could not queue the dispatch of mailing %s; the schedule will pick it up", mailing_id)


_PATIENT_RELATIONS = ("practitioner", "civil_guardian", "financial_guardian")
_APPOINTMENT_RELATIONS = ("practitioner", "chair", "nature", "patient")
_PATIENT_LOADED, _APPOINTMENT_LOADED = frozenset(_PATIENT_RELATIONS), frozenset(_APPOINTMENT_RELATIONS)


def _loaded(instance, relations: frozenset[str]) -> bool:
    return relations <= instance._state.fields_cache.keys()


def _preload(recipients: Sequence[Recipient], appointment: Appointment | None) -> None:
    """Load what the merge reads onto the recipients' own patients and appointments, at most
    one query per relation whatever N is.

    Callers (the mass mailing, the scheduler) usually loaded them already
    (``patients.selectors.appointments_for_messages``, ``select_related``): only the instances
    missing a relation are given to ``prefetch_related_objects`` (which costs time per instance
    even when there is nothing to fetch). ``mailing_create`` calls this only when it meets the
    first instance missing one: a pass over thousands of scattered instances costs about 2 µs
    each in cache misses alone."""
    patients, appointments = {}, {}
    for r in recipients:
        if (p := r.patient) is not None and not _loaded(p, _PATIENT_LOADED):
            patients[id(p)] = p
        if (a := r.appointment) is not None and not _loaded(a, _APPOINTMENT_LOADED):
            appointments[id(a)] = a
    if appointment is not None and not _loaded(appointment, _APPOINTMENT_LOADED):
        appointments[id(appointment)] = appointment
    if patients:
        prefetch_related_objects(list(patients.values()), *_PATIENT_RELATIONS)
    if appointments:
        prefetch_related_objects(list(appointments.values()), *_APPOINTMENT_RELATIONS)


# The columns mailing_create gives for each message, in the order of its row tuples.
ROW_COLUMNS = (
    "mailing_id", "channel", "patient_id", "appointment_id", "appointment_start", "recipient_role",
    "recipient_name", "to", "account_id", "subject", "body", "body_html", "attachments", "sms_parts",
    "status", "reason", "note", "dedupe_key", "not_before", "purpose", "error_code", "missing_kept",
)
# What mailing_create writes: those, and the reason's msgid and parameters (messaging.reasons),
# last so that rows written in the order of ROW_COLUMNS (tests, tools) leave it NULL.
WRITTEN_COLUMNS = (*ROW_COLUMNS, "reason_i18n")


def skip_why(r: Recipient) -> Why | str:
    """Why ``r`` is left out, to store with its message: a ``Why`` (shown in the reader's
    language) when the text is the policy's label or was written as one, else the text as it
    was written (a more precise sentence, in the language of whoever asked for the mailing)."""
    text = r.skip_reason
    if isinstance(text, Why):
        return text
    if r.reason is not None and text == str(r.reason.label):
        return Why.of(r.reason.label)
    return text

@transaction.atomic
def mailing_create(
    *,
    channel: str,
    origin: str,
    requested_by,
    recipients: Iterable[Recipient],
    count: int | None = None,
    sms_body: str | None = None,
    email_subject: str | None = None,
    email_body_html: str | None = None,
    template: SmsTemplate | EmailTemplate | None = None,
    account: EmailAccount | None = None,
    signature: Signature | None | _Default = DEFAULT,
    appointment: Appointment | None = None,
    idempotency_key: str | None = None,
    not_before: dt.datetime | None = None,
    label: str = "",
    today: dt.date | None = None,
    schedule_dispatch: bool = True,
    custom: CustomFields | None = None,
    purpose: str = Purpose.OTHER,
    send_again: bool = False,
    about: Iterable[int] | None = None,
    extra_attachments: Sequence[dict] = (),
    keep_missing: bool = False,
    keep_missing_rows: Collection[int] = (),
) -> Mailing:
    """Record one request to send and its messages; return the Mailing.

    Each recipient gets one Message with the exact merged text (SMS: ``sms_body`` or the
    template's; email: subject, HTML, text alternative and the attachments resolved for its
    patient), status PENDING, or SKIPPED with the recipient's skip reason (no consent, no valid
    mobile or email) or when the same address already receives this request for that patient.
    A recipient's own ``appointment`` wins over ``appointment``.

    With an ``idempotency_key`` already used, nothing is written and the existing Mailing is
    returned (a double click, a re-run). Dispatch is queued on commit unless
    ``schedule_dispatch`` is False. Raises ValueError on an empty message or an email without
    account. Queries: a constant number for N recipients (bulk insert). ``custom``: the
    practice's custom fields, when the caller loaded them.

    ``purpose`` (``messaging.models.Purpose``) is recorded on each message: a recipient whose
    appointment already had a message of that purpose on this channel within the practice's
    period is SKIPPED with the reason naming the first (``messaging.purpose``), unless
    ``send_again`` (staff chose to send it again; recorded on the Mailing, so the send-time
    check leaves it alone too). One query for the whole mailing: the appointments are read from
    ``recipients``, or from ``about`` (their ids) when ``recipients`` is consumed lazily.

    ``extra_attachments``: attachment entries (``messaging.attachments.upload_entries``: files
    attached once from the send window) every email message to send carries, after those of
    the template's rules.

    ``recipients`` may be a sequence, or an iterable given with ``count``, the number of
    recipients it is expected to yield: it is then consumed as the messages are written, so that
    the caller's work on each recipient overlaps the server's inserts (the mass mailing chooses
    its recipients so). An estimate is enough: it only sizes the INSERT statements.

    A message whose required merge data is missing for its recipient (an appointment code and
    no appointment, an address code and no address: ``messaging.merge.MergeContext.required``)
    is SKIPPED with ``Reason.MISSING_DATA``'s text naming the codes, unless ``keep_missing``
    (staff explicitly kept such messages: they leave, with a note saying so, ``missing_kept``
    set). ``keep_missing_rows``: the positions in ``recipients`` (from 0) of the only recipients
    for whom that choice was made (a retry keeps the choice of the send it retries, row by row).
    """
    if channel not in (Channel.SMS, Channel.EMAIL):
        raise ValueError(gettext("Canal non pris en charge : %(channel)s") % {"channel": channel})
    if idempotency_key:
        existing = Mailing.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing

    sms_template = template if isinstance(template, SmsTemplate) else None
    email_template = template if isinstance(template, EmailTemplate) else None
    if channel == Channel.SMS:
        body_source = sms_body if sms_body is not None else (sms_template.body if sms_template else "")
        # Browsers post CRLF; a CR would be sent and counted as one more character.
        body_source = body_source.replace("\r\n", "\n").replace("\r", "\n")
        subject_source = ""
        if not body_source.strip():
            raise ValueError(gettext("Le message est vide."))
    else:
        subject_source = email_subject if email_subject is not None else (email_template.subject if email_template else "")
        body_source = email_body_html if email_body_html is not None else (email_template.body_html if email_template else "")
        account = account or (email_template.account if email_template else None)
        if account is None:
            raise ValueError(gettext("Choisissez le compte email d'envoi."))
        if not subject_source.strip():
            raise ValueError(gettext("L'objet de l'email est vide."))
        if not body_source.strip():
            raise ValueError(gettext("Le message est vide."))
        if signature is DEFAULT:
            signature = (email_template.signature if email_template else None) or account.default_signature

    sms = channel == Channel.SMS
    mailing = Mailing(
        origin=origin,
        channel=channel,
        requested_by=requested_by,
        label=label[:200],
        sms_template=sms_template,
        email_template=email_template,
        account=account if channel == Channel.EMAIL else None,
        subject_source=subject_source[:255],
        body_source=body_source,
        save_sent=email_template.save_sent if email_template else True,
        keep_attachments=email_template.keep_attachments if email_template else True,
        read_receipt=email_template.read_receipt if email_template else False,
        idempotency_key=idempotency_key or None,
        send_again=send_again,
        asks_reply=bool(sms and sms_template is not None and sms_template.asks_reply),
    )
    try:
        with transaction.atomic():
            mailing.save()
    except IntegrityError:
        # The same key committed by a concurrent request in between: that one wins.
        existing = Mailing.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        raise

    today = today or timezone.localdate()  # once: it reads the time zone of the thread
    custom = custom or CustomFields.load()
    from practice.models import Practice

    practice = Practice.get()
    rules = list(email_template.attachments.all()) if email_template is not None else []
    base = f"k:{idempotency_key}" if idempotency_key else f"m:{mailing.pk}"
    seen: dict[tuple, str] = {}
    pending = 0
    account_id = mailing.account_id

    sms = channel == Channel.SMS
    mailing_id = mailing.pk
    if count is None:
        count = len(recipients)
    following = None
    if "@PROCHRDV" in body_source + subject_source + (getattr(signature, "body_html", "") or ""):
        # @PROCHRDV of every message in one query rather than one each.
        recipients = list(recipients)
        following = following_appointments(
            (r.patient, r.appointment or appointment) for r in recipients if r.patient is not None
        )

    earlier = {}
    if purpose != Purpose.OTHER and not send_again:
        if about is None:
            recipients = list(recipients)
            about = [a.pk for r in recipients for a in (r.appointments if r.grouped else (r.appointment or appointment,))
                     if a is not None]
        earlier = earlier_messages(appointment_ids=about, channel=channel, purpose=purpose)
    # dedupe key -> [(appointment id, start)] of each message listing several appointments.
    covered: dict[str, list[tuple[int, dt.datetime]]] = {}

    def loaded_recipients():
        """The recipients, checked as they come: at the first instance the caller did not load
        with the relations the merge reads, they are all loaded (a query made between two INSERT
        statements waits for them, see practice.bulk.insert_rows)."""
        recipients_left = iter(recipients)
        for r in recipients_left:
            patient, appt = r.patient, r.appointment or appointment
            if (patient is not None and not _loaded(patient, _PATIENT_LOADED)) or (
                appt is not None and not _loaded(appt, _APPOINTMENT_LOADED)
            ):
                rest = [r, *recipients_left]
                _preload(rest, appointment)
                yield from rest
                return
            yield r

    def message_rows():
        nonlocal pending
        for position, r in enumerate(loaded_recipients()):
            keep = keep_missing or position in keep_missing_rows
            if r.grouped and earlier:
                r = without_copies(r, earlier)
            patient = r.patient
            appt = r.appointment or appointment
            patient_id = patient.pk if patient is not None else None
            appt_id = appt.pk if appt is not None else None
            status, reason, code = MessageStatus.PENDING, "", ""
            same = (patient_id, r.address.lower())
            if r.skip_reason:
                status, reason = MessageStatus.SKIPPED, skip_why(r)
            elif same in seen:
                status = MessageStatus.SKIPPED
                reason = Why(gettext_noop("Même destinataire que « %(first)s » dans cet envoi : un seul message envoyé."),
                             first=str(seen[same]))
            elif earlier and (first := copy_of(earlier, appt)) is not None:
                status, reason = MessageStatus.SKIPPED, first.text(purpose)
            else:
                seen[same] = r.role_label
            subject = body_html = note = ""
            attachments = []
            after = following.get((patient_id, appt_id), False) if following is not None and patient_id else None
            # A correspondent reads @COR* and @LIBRE (their relationship with the practitioner).
            correspondent = r.person if r.role == RecipientRole.CORRESPONDENT else None
            if sms:
                composed = compose_sms(body=body_source, patient=patient, appointment=appt, recipient=r.person,
                                       correspondent=correspondent, today=today, custom=custom, practice=practice,
                                       next_appointment=after, appointments=r.appointments if r.grouped else None)
                body, sms_parts, missing = composed.text, composed.segments.parts, composed.missing
            else:
                email = compose_email(subject=subject_source, body_html=body_source, signature=signature,
                                      patient=patient, appointment=appt, recipient=r.person,
                                      correspondent=correspondent, today=today,
                                      custom=custom, practice=practice, next_appointment=after)
                subject, body_html, body, sms_parts = email.subject[:255], email.html, email.text, 0
                missing = email.missing
                if rules and patient is not None and status == MessageStatus.PENDING and (keep or not missing):
                    from messaging.attachments import attachments_for

                    found = attachments_for(template=email_template, patient=patient)
                    attachments = [
                        {"filename": a.filename, "path": str(a.path), "mimetype": a.mimetype, "source": a.source}
                        for a in found
                    ]
                    # The email leaves without what a rule did not find: staff see why in the
                    # history and the report.
                    note = " ".join(found.warnings)[:500]
                if extra_attachments and status == MessageStatus.PENDING:
                    attachments = [*attachments, *extra_attachments]
            kept = False
            if status == MessageStatus.PENDING and not body.strip():
                status, reason = MessageStatus.SKIPPED, Why(gettext_noop("Le message est vide pour ce destinataire."))
            elif status == MessageStatus.PENDING and missing:
                if keep:
                    kept = True
                    note = " ".join(p for p in (missing_data_note(missing), note) if p)[:500]
                else:
                    status, reason = MessageStatus.SKIPPED, missing_data_text(missing)  # stored() cuts it
                    code = Reason.MISSING_DATA.value
            pending += status == MessageStatus.PENDING
            key = dedupe_key(base, patient_id, r.role, r.address, appt_id)
            if r.grouped and status == MessageStatus.PENDING:
                covered[key] = [(a.pk, a.start) for a in r.appointments]
            # In the order of WRITTEN_COLUMNS.
            reason, reason_i18n = stored(reason)
            yield (
                mailing_id, channel, patient_id, appt_id,
                # Snapshot checked at send time (send_checks.appointment_check).
                appt.start if appt is not None else None,
                r.role, r.name[:200], r.address[:254], account_id, subject, body, body_html, attachments,
                sms_parts, status, reason, note, key, not_before, purpose, code, kept, reason_i18n,
            )

    # Composed while the rows are inserted (practice.bulk.insert_rows).
    insert_rows(Message, WRITTEN_COLUMNS, message_rows(), count=count)
    if covered:
        _link_covered(mailing_id, covered)
    if schedule_dispatch and pending:
        transaction.on_commit(partial(_schedule_dispatch, mailing.pk, pending))
    return mailing


def without_copies(r: Recipient, earlier: dict) -> Recipient:
    """``r``, a message standing for several recipients (one SMS to a family's number), without
    those whose appointment already had a message of the purpose (``messaging.purpose``): the
    first one left leads it. Unchanged when none or all of them had one (all: the outbox skips
    it with the reason naming the first)."""
    members = [r.with_grouped(()), *r.grouped]
    keep = [m for m in members if copy_of(earlier, m.appointment) is None]
    if not keep or len(keep) == len(members):
        return r
    return keep[0].with_grouped(tuple(keep[1:]))


def _link_covered(mailing_id: int, covered: dict[str, list[tuple[int, dt.datetime]]]) -> None:
    """Link each message listing several appointments to every one of them (two queries)."""
    from messaging.models import CoveredAppointment

    ids = dict(Message.objects.filter(mailing_id=mailing_id, dedupe_key__in=list(covered))
               .values_list("dedupe_key", "pk"))
    CoveredAppointment.objects.bulk_create([
        CoveredAppointment(message_id=ids[key], appointment_id=appointment_id, appointment_start=start)
        for key, rows in covered.items() if key in ids for appointment_id, start in rows
    ])


@transaction.atomic
def message_resend(*, message: Message, requested_by) -> Mailing:
    """Send ``message`` again, as it was written, to the same address: a new Mailing (origin
    RESEND) with one PENDING Message, dispatched on commit. Raises ValueError when its content
    was not kept (email type without "save sent emails"), when it was skipped, or when its
    recipient no longer accepts the channel (STOP replied, consent withdrawn), with the reason."""
    if not message.body_kept:
        raise ValueError(gettext("Le contenu de ce message n'a pas été conservé : il ne peut pas être renvoyé."))
    if message.status == MessageStatus.SKIPPED or not message.to:
        raise ValueError(gettext("Ce message n'avait pas de destinataire valide : il ne peut pas être renvoyé."))
    if message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
        # It has not left yet: a second copy would reach the patient twice.
        raise ValueError(gettext("Ce message n'est pas encore parti : il sera envoyé, inutile de le renvoyer."))
    from messaging.send_checks import consent_refusal

    refusal = consent_refusal(message)  # the person's file as it stands now (STOP, consent withdrawn)
    if refusal is not None:
        raise ValueError(gettext("Renvoi impossible : %(reason)s") % {"reason": refusal.label})
    original = message.mailing
    mailing = Mailing.objects.create(
        origin=MailingOrigin.RESEND,
        channel=message.channel,
        requested_by=requested_by,
        label=gettext("Renvoi du message n°%(number)s") % {"number": message.pk},
        sms_template=original.sms_template,
        email_template=original.email_template,
        account=message.account,
        subject_source=message.subject,
        body_source=message.body_html or message.body,
        save_sent=original.save_sent,
        keep_attachments=original.keep_attachments,
        read_receipt=original.read_receipt,
        send_again=True,  # "Renvoyer" is staff's explicit choice to send it again
    )
    Message.objects.create(
        mailing=mailing,
        channel=message.channel,
        patient_id=message.patient_id,
        appointment_id=message.appointment_id,
        purpose=message.purpose,
        recipient_role=message.recipient_role,
        recipient_name=message.recipient_name,
        to=message.to,
        account=message.account,
        subject=message.subject,
        body=message.body,
        body_html=message.body_html,
        attachments=[a for a in message.attachments if a.get("path")],
        note=message.note,
        sms_parts=message.sms_parts,
        dedupe_key=f"m:{mailing.pk}|resend|{message.pk}",
    )
    transaction.on_commit(partial(_schedule_dispatch, mailing.pk))
    return mailing


# Why "Envoyer maintenant" is refused, by what the message became meanwhile.
_NOT_HELD = {
    MessageStatus.SENDING: gettext_lazy("Ce message est déjà en cours d'envoi."),
    MessageStatus.SENT: gettext_lazy("Ce message est déjà parti."),
    MessageStatus.DELIVERED: gettext_lazy("Ce message est déjà parti."),
}


def message_send_now(*, message: Message, requested_by) -> None:
    """Send at once ``message``, an SMS held by the practice's quiet hours: staff's explicit
    choice, recorded with who and when (``lifecycle.send_now``), then its dispatch is queued on
    commit. The message still goes through every other last-moment check (STOP, consent, its
    appointment cancelled or moved...). Raises ValueError with the reason (active language) when it is not
    held by the quiet hours (any more): a double click or a second person sends nothing twice."""
    from messaging import lifecycle

    if message.send_now_at is not None:
        raise ValueError(gettext("L'envoi immédiat de ce message a déjà été demandé."))
    now = timezone.now()
    with transaction.atomic():
        if not lifecycle.send_now(message, by=requested_by, now=now):
            current = Message.objects.filter(pk=message.pk).values_list("status", "send_now_at").first()
            if current is not None and current[1] is not None:
                raise ValueError(gettext("L'envoi immédiat de ce message a déjà été demandé."))
            status = current[0] if current else ""
            raise ValueError(str(_NOT_HELD.get(status) or gettext(
                "Ce message n'attend pas la fin des heures de silence : rien à envoyer maintenant.")))
        transaction.on_commit(partial(_schedule_dispatch, message.mailing_id))
    logger.info("Message %s held by the quiet hours sent now at the request of %s", message.pk, requested_by)


def message_hide(*, message: Message) -> None:
    """Remove ``message`` from the patient's history (the row stays for the send log)."""
    Message.objects.filter(pk=message.pk).update(hidden=True, updated_at=timezone.now())
