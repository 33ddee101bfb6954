"""Writing to the outbox: the one path every way of sending goes through.

``mailing_create`` records a request (Mailing) and one Message per recipient with the exact text
that recipient will get, then asks django-q2 to dispatch once the transaction commits. Nothing
here talks to a gateway: messaging.dispatch does, from these rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import chain, islice

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

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
    Signature,
    SmsTemplate,
)
from messaging.policy import Recipient
from messaging.purpose import copy_of, earlier_messages
from patients.models import Appointment
from patients.selectors import following_appointments
from practice.bulk import fast_path

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
    "status", "reason", "note", "dedupe_key", "not_before", "purpose",
)

# The other columns _insert_messages writes: the model's defaults (and created_at / updated_at).
_MESSAGE_DEFAULTS = {
    "body_kept": True,
    "error_code": "",
    "provider_id": "",
    "attempts": 0,
    "claimed_at": None,
    "claimed_by": "",
    "handed_at": None,
    "sent_at": None,
    "delivered_at": None,
    "hidden": False,
    "note": "",
}

# On PostgreSQL the rows of one mailing go in at most this many INSERT statements: the query
# count does not depend on the number of messages. Up to _INSERT_MIN_ROWS messages (every
# treatment run, most mailings), one statement.
INSERT_STATEMENTS = 8
_INSERT_MIN_ROWS = 1000
# The first and last statements are this many times smaller than the others. The server
# inserts a statement's rows a little slower than they are composed: it waits, idle, for the
# first statement, and once the last row is composed it still has the last statement to do,
# which nothing overlaps.
_EDGE_STATEMENT_SHARE = 4


def _statement_sizes(count: int) -> list[int]:
    """How many of ``count`` rows each INSERT statement takes: one statement up to
    ``_INSERT_MIN_ROWS``, otherwise one per ``_INSERT_MIN_ROWS`` rows up to
    ``INSERT_STATEMENTS``, of equal sizes but the first and the last, smaller."""
    if count <= _INSERT_MIN_ROWS:
        return [max(count, 1)]
    n = min(INSERT_STATEMENTS, math.ceil(count / _INSERT_MIN_ROWS))
    if n == 2:
        last = max(1, count // (_EDGE_STATEMENT_SHARE + 1))
        return [count - last, last]
    edge = max(1, count // (_EDGE_STATEMENT_SHARE * (n - 2) + 2))
    size, larger = divmod(count - 2 * edge, n - 2)
    return [edge] + [size + 1] * larger + [size] * (n - 2 - larger) + [edge]


def _insert_messages(names: Sequence[str], rows: Iterable[tuple], *, count: int) -> None:
    """Insert outbox rows: tuples of values for the Message attnames ``names``, about ``count``
    of them (to size the statements), possibly produced as they are inserted.

    On PostgreSQL: ``INSERT … SELECT … FROM unnest(arrays)``, one array per column (a column with
    the same value in every row of a statement is one parameter), in at most
    ``INSERT_STATEMENTS`` statements sent in pipeline mode. The server inserts a statement's
    rows while the next ones are composed (merging 10,000 messages and inserting them take about
    the same time, on two cores). The foreign-key checks of the message table run at the end of
    each statement instead of all at commit, so they overlap too. A query made while composing
    (a merge field reading the database) simply waits for the statements sent before it. The
    unique index is checked as usual: a dedupe_key written twice raises IntegrityError.
    Elsewhere (the demo's SQLite), ``bulk_create`` in batches."""
    now = timezone.now()
    if not fast_path():
        Message.objects.bulk_create(
            [Message(**{**_MESSAGE_DEFAULTS, **dict(zip(names, row, strict=True)), "created_at": now,
                        "updated_at": now}) for row in rows],
            batch_size=500,
        )
        return
    sizes = _statement_sizes(count)
    # ``count`` may be an estimate: the last statement takes whatever rows remain.
    sizes_left = chain(sizes[:-1], [None])
    rows = iter(rows)
    chunk = list(islice(rows, next(sizes_left)))
    if not chunk:
        return
    meta = Message._meta
    fields = [meta.get_field(n) for n in names]
    fixed = [(meta.get_field(n), v) for n, v in _MESSAGE_DEFAULTS.items() if n not in names]
    fixed += [(meta.get_field("created_at"), now), (meta.get_field("updated_at"), now)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*fields, *(f for f, _v in fixed)])
    types = [_db_type(f) for f in fields]
    fixed = [(_db_type(f), v) for f, v in fixed]
    head = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
    connection.ensure_connection()
    pg = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(pg) as cursor:

        def run(sql: str, params=None) -> None:
            started = time.monotonic()
            cursor.execute(sql, params)
            if connection.queries_logged:
                # Outside Django's cursor wrapper: logged like a query, so counts stay true.
                connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})

        checked = ""
        if len(sizes) > 1:  # several statements: their checks overlap composing too
            run(_FOREIGN_KEYS_SQL, [meta.db_table])
            checked = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        if checked:
            run(f"SET CONSTRAINTS {checked} IMMEDIATE")
        with pg.pipeline():
            while chunk:
                sql, params = _insert_select(fields, types, chunk, fixed)
                run(head + sql, params)
                chunk = list(islice(rows, next(sizes_left, 0)))
        if checked:
            # Back to deferred, as Django creates them (only reached without error: after one,
            # the transaction or savepoint is rolled back, and SET CONSTRAINTS with it).
            run(f"SET CONSTRAINTS {checked} DEFERRED")


# The deferrable foreign keys of a table (looked up each time: a migration may rename them
# under a running process).
_FOREIGN_KEYS_SQL = (
    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' AND condeferrable "
    "ORDER BY conname"
)


def _db_type(field) -> str:
    if field.get_internal_type() == "JSONField":
        return "text"  # sent as its JSON text, cast to jsonb in the SELECT
    # No length: a value too long fails on insert (a cast to varchar(n) would cut it).
    return re.sub(r"\(.*\)", "", field.db_type(connection))


# Separator of the joined text of a text column (ASCII "unit separator": no message holds it;
# checked for each column, which falls back to a list otherwise).
_TEXT_SEPARATOR = "\x1f"
_TEXT_TYPES = frozenset({"text", "varchar"})
# Integer columns: their values joined by str() (None as 'None', given as the null string).
_INTEGER_TYPES = frozenset({"integer", "bigint", "smallint"})
_INTEGER_VALUES = frozenset({int, type(None)})


def _array(sql_type: str, column: tuple) -> tuple[str, object]:
    """The SQL of one column's array of values and its parameter.

    psycopg dumps a list parameter element by element in Python, about 0.6 µs each (eight
    varying columns in a 10,000-message mailing: 50 ms, on the critical path). Here the values are
    joined into one text at C speed instead, and the server splits it (``string_to_array``):
    text with a separator no message holds, integers through ``str()``. Other columns (times:
    ``str()`` of a datetime is slower than psycopg), and a column that does not fit (a separator
    inside a value, a value of another type), go as a list."""
    if sql_type in _TEXT_TYPES:
        try:
            joined = _TEXT_SEPARATOR.join(column)
        except TypeError:  # a value that is not a str (None, a lazy translation)
            pass
        else:
            if joined.count(_TEXT_SEPARATOR) == len(column) - 1:
                return f"string_to_array(%b::text, %b::text)::{sql_type}[]", [joined, _TEXT_SEPARATOR]
    elif sql_type in _INTEGER_TYPES and set(map(type, column)) <= _INTEGER_VALUES:
        return f"string_to_array(%b::text, ',', 'None')::{sql_type}[]", [",".join(map(str, column))]
    return f"%b::{sql_type}[]", [list(column)]


def _insert_select(fields, types: list[str], chunk: list[tuple], fixed: list[tuple]) -> tuple[str, list]:
    """The ``SELECT … FROM unnest(…)`` of one INSERT and its parameters (binary format):
    ``types`` are the fields' SQL types, ``fixed`` (SQL type, value) of the columns that take
    one value for every row."""
    columns = []
    for field, column in zip(fields, zip(*chunk, strict=True), strict=True):
        if field.get_internal_type() == "JSONField":
            column = tuple(json.dumps(v) if v else "[]" for v in column)
        columns.append(column)
    # A column with the same value in every row is one parameter (dumping thousands of equal
    # elements costs as much as the others); one array at least gives the number of rows.
    varying = [len(chunk) > 1 and column.count(column[0]) != len(column) for column in columns]
    if len(chunk) > 1 and not any(varying):
        varying[0] = True
    exprs, scalars, arrays, aliases = [], [], [], []
    for i, (field, sql_type, column) in enumerate(zip(fields, types, columns, strict=True)):
        cast = "::jsonb" if field.get_internal_type() == "JSONField" else ""
        if varying[i]:
            exprs.append(f"v.c{i}{cast}")
            aliases.append(f"c{i}")
            arrays.append(_array(sql_type, column))
        else:
            exprs.append(f"%b::{sql_type}{cast}")
            scalars.append(column[0])
    for sql_type, value in fixed:
        exprs.append(f"%b::{sql_type}")
        scalars.append(value)
    sql = f"SELECT {', '.join(exprs)}"
    if arrays:
        sql += f" FROM unnest({', '.join(a for a, _ in arrays)}) AS v({', '.join(aliases)})"
    return sql, [*scalars, *(value for _, values in arrays for value in values)]


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

    ``recipients`` may be a sequence, or an iterable given with ``count``, the number of
    recipients it is expected to yield: it is then consumed as the messages are written, so that
    the caller's work on each recipient overlaps the server's inserts (the mass mailing chooses
    its recipients so). An estimate is enough: it only sizes the INSERT statements.
    """
    if channel not in (Channel.SMS, Channel.EMAIL):
        raise ValueError(f"Canal non pris en charge : {channel}")
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
            raise ValueError("Le message est vide.")
    else:
        subject_source = email_subject if email_subject is not None else (email_template.subject if email_template else "")
        body_source = email_body_html if email_body_html is not None else (email_template.body_html if email_template else "")
        account = account or (email_template.account if email_template else None)
        if account is None:
            raise ValueError("Choisissez le compte email d'envoi.")
        if not subject_source.strip():
            raise ValueError("L'objet de l'email est vide.")
        if not body_source.strip():
            raise ValueError("Le message est vide.")
        if signature is DEFAULT:
            signature = (email_template.signature if email_template else None) or account.default_signature

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
            about = [a.pk for r in recipients if (a := r.appointment or appointment) is not None]
        earlier = earlier_messages(appointment_ids=about, channel=channel, purpose=purpose)

    def loaded_recipients():
        """The recipients, checked as they come: at the first instance the caller did not load
        with the relations the merge reads, they are all loaded (a query made between two INSERT
        statements waits for them, see _insert_messages)."""
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
        for r in loaded_recipients():
            patient = r.patient
            appt = r.appointment or appointment
            patient_id = patient.pk if patient is not None else None
            appt_id = appt.pk if appt is not None else None
            status, reason = MessageStatus.PENDING, ""
            same = (patient_id, r.address.lower())
            if r.skip_reason:
                status, reason = MessageStatus.SKIPPED, r.skip_reason
            elif same in seen:
                status = MessageStatus.SKIPPED
                reason = f"Même destinataire que « {seen[same]} » dans cet envoi : un seul message envoyé."
            elif earlier and (first := copy_of(earlier, appt)) is not None:
                status, reason = MessageStatus.SKIPPED, first.text(purpose)
            else:
                seen[same] = r.role_label
            subject = body_html = note = ""
            attachments = []
            after = following.get((patient_id, appt_id), False) if following is not None and patient_id else None
            if sms:
                composed = compose_sms(body=body_source, patient=patient, appointment=appt, recipient=r.person,
                                       today=today, custom=custom, practice=practice, next_appointment=after)
                body, sms_parts = composed.text, composed.segments.parts
            else:
                email = compose_email(subject=subject_source, body_html=body_source, signature=signature,
                                      patient=patient, appointment=appt, recipient=r.person, today=today,
                                      custom=custom, practice=practice, next_appointment=after)
                subject, body_html, body, sms_parts = email.subject[:255], email.html, email.text, 0
                if rules and patient is not None and status == MessageStatus.PENDING:
                    from messaging.attachments import attachments_for

                    found = attachments_for(template=email_template, patient=patient)
                    attachments = [
                        {"filename": a.filename, "path": str(a.path), "mimetype": a.mimetype, "source": a.source}
                        for a in found
                    ]
                    # The email leaves without what a rule did not find: staff see why in the
                    # history and the report.
                    note = " ".join(found.warnings)[:500]
            if status == MessageStatus.PENDING and not body.strip():
                status, reason = MessageStatus.SKIPPED, "Le message est vide pour ce destinataire."
            pending += status == MessageStatus.PENDING
            # In the order of ROW_COLUMNS.
            yield (
                mailing_id, channel, patient_id, appt_id,
                # Snapshot checked at send time (send_checks.appointment_check).
                appt.start if appt is not None else None,
                r.role, r.name[:200], r.address[:254], account_id, subject, body, body_html, attachments,
                sms_parts, status, reason, note, dedupe_key(base, patient_id, r.role, r.address, appt_id),
                not_before, purpose,
            )

    # Composed while the rows are inserted (see _insert_messages).
    _insert_messages(ROW_COLUMNS, message_rows(), count=count)
    if schedule_dispatch and pending:
        transaction.on_commit(partial(_schedule_dispatch, mailing.pk, pending))
    return mailing


@transaction.atomic
def message_resend(*, message: Message, requested_by) -> Mailing:
    """Send ``message`` again, as it was written, to the same address: a new Mailing (origin
    RESEND) with one PENDING Message, dispatched on commit. Raises ValueError when its content
    was not kept (email type without "save sent emails"), when it was skipped, or when its
    recipient no longer accepts the channel (STOP replied, consent withdrawn), with the reason."""
    if not message.body_kept:
        raise ValueError("Le contenu de ce message n'a pas été conservé : il ne peut pas être renvoyé.")
    if message.status == MessageStatus.SKIPPED or not message.to:
        raise ValueError("Ce message n'avait pas de destinataire valide : il ne peut pas être renvoyé.")
    if message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
        # It has not left yet: a second copy would reach the patient twice.
        raise ValueError("Ce message n'est pas encore parti : il sera envoyé, inutile de le renvoyer.")
    from messaging.send_checks import consent_refusal

    refusal = consent_refusal(message)  # the person's file as it stands now (STOP, consent withdrawn)
    if refusal is not None:
        raise ValueError(f"Renvoi impossible : {refusal.label}")
    original = message.mailing
    mailing = Mailing.objects.create(
        origin=MailingOrigin.RESEND,
        channel=message.channel,
        requested_by=requested_by,
        label=f"Renvoi du message n°{message.pk}",
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


def message_hide(*, message: Message) -> None:
    """Remove ``message`` from the patient's history (the row stays for the send log)."""
    Message.objects.filter(pk=message.pk).update(hidden=True, updated_at=timezone.now())
