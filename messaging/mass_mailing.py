"""Mass mailing ("publipostage") from the results of a search: SMS, email or letter.

The wizard's state is a ``MassDraft`` (plain data, kept on the server for its user by
``messaging.mass_drafts``, which also stores its preview merged once): which search, which rows
(appointments or patients), the channel and the message. From it:

- ``mass_preview`` builds, for every row, who receives it and the exact merged text (the same
  ``compose_*`` the outbox uses), its SMS count and its warnings, plus the summary;
- ``mass_mailing_send`` hands the recipients to ``messaging.outbox.mailing_create`` (the one
  path of every send) with an idempotency key drawn when the wizard started: sending the same
  draft twice returns the first mailing;
- ``mailing_progress`` / ``mailing_report`` read the outcome from the outbox rows;
- ``mailing_retry_failures`` sends again, once, to the recipients whose message FAILED only;
- letters are rendered to one PDF by ``messaging.letters`` (nothing goes through a gateway).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from patients.models import Appointment, AppointmentState, Patient
from patients.selection import SEARCH_APPOINTMENTS, SEARCH_PATIENTS
from patients.selectors import (
    appointments_for_messages_lazily,
    attach_for_messages,
    following_appointments,
    patients_for_messages,
)
from practice.bulk import gc_paused

from .compose import compose_email, compose_sms
from .cost import Estimate, new_estimate
from .html import html_to_text
from .merge import CustomFields, message_fields
from .models import (
    Channel,
    EmailAccount,
    EmailTemplate,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    Purpose,
    RecipientRole,
    SearchDefault,
    Signature,
    SmsTemplate,
)
from .outbox import DEFAULT, mailing_create
from .policy import (
    DUPLICATE_REASONS,
    ROLE_ORDER,
    ChannelPlan,
    Reason,
    Recipient,
    audience,
    correspondent_recipients,
    email_roles,
    load_for,
    missing_data_text,
    recipient_for,
    writes_to_correspondents,
)
from .purpose import copy_of, earlier_messages, purpose_of_template
from .reasons import Why

# Shown on the wizard's pages and written into the labels of what it produces (mailings,
# printed letters): in the staff member's language, like any text written during a request.
SEARCH_LABELS = {
    SEARCH_APPOINTMENTS: gettext_lazy("Recherche sur les rendez-vous"),
    SEARCH_PATIENTS: gettext_lazy("Recherche de patients"),
}
RETRY_KEY_PREFIX = "renvoi-echecs:"
SUCCESS_STATUSES = {MessageStatus.SENT, MessageStatus.DELIVERED}
WAITING_STATUSES = {MessageStatus.PENDING, MessageStatus.SENDING}


# ---------------------------------------------------------------------------------------------
# The wizard's state
# ---------------------------------------------------------------------------------------------


@dataclass
class MassDraft:
    """What the wizard has gathered so far. ``appointment_ids`` (appointment search) or
    ``patient_ids`` (patient search, and patients added by hand) are the rows; ``key`` is drawn
    once and becomes the mailing's idempotency key."""

    search: str
    channel: str
    appointment_ids: list[int] = field(default_factory=list)
    patient_ids: list[int] = field(default_factory=list)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    sms_template_id: int | None = None
    email_template_id: int | None = None
    account_id: int | None = None
    signature_id: int | None = None
    subject: str = ""
    body: str = ""  # SMS text, email HTML, or letter text
    mailing_id: int | None = None
    # Staff chose to send to appointments that already had a message of the same purpose.
    send_again: bool = False
    # SMS only: "Envoyer par email si pas de portable", with this email type.
    no_mobile_template_id: int | None = None
    # Staff chose to send (print) also the messages whose required merge data is missing.
    keep_missing: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MassDraft:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def idempotency_key(self) -> str:
        return f"publipostage:{self.key}"

    @property
    def row_count(self) -> int:
        return len(self.appointment_ids) + len(self.patient_ids)

    def remove(self, *, appointment_id: int | None = None, patient_id: int | None = None) -> None:
        if appointment_id is not None:
            self.appointment_ids = [i for i in self.appointment_ids if i != appointment_id]
        if patient_id is not None:
            self.patient_ids = [i for i in self.patient_ids if i != patient_id]

    def add_patient(self, patient_id: int) -> None:
        if patient_id not in self.patient_ids:
            self.patient_ids.append(patient_id)


def draft_start(*, search: str, channel: str, ids: list[int]) -> MassDraft:
    """A new draft for the rows ticked in ``search`` (appointment ids or patient ids), with the
    template that search used last on ``channel`` already chosen."""
    if search not in SEARCH_LABELS:
        raise ValueError(gettext("Recherche inconnue : %(search)s") % {"search": search})
    if channel not in Channel.values:
        raise ValueError(gettext("Canal inconnu : %(channel)s") % {"channel": channel})
    unique = list(dict.fromkeys(int(i) for i in ids))
    draft = MassDraft(search=search, channel=channel)
    if search == SEARCH_APPOINTMENTS:
        draft.appointment_ids = unique
    else:
        draft.patient_ids = unique
    template = search_default_get(search=search, channel=channel)
    if template is not None:
        draft_apply_template(draft, template)
    return draft


def draft_apply_template(draft: MassDraft, template: SmsTemplate | EmailTemplate) -> None:
    """Copy ``template`` into the draft as the starting text (staff may then edit it). A letter
    starts from the text of an email type."""
    if isinstance(template, SmsTemplate):
        draft.sms_template_id, draft.body = template.pk, template.body
        return
    draft.email_template_id = template.pk
    if draft.channel == Channel.LETTER:
        draft.body = html_to_text(template.body_html)
        return
    draft.subject, draft.body = template.subject, template.body_html
    draft.account_id = template.account_id
    draft.signature_id = template.signature_id or template.account.default_signature_id


# ---------------------------------------------------------------------------------------------
# Remembered templates
# ---------------------------------------------------------------------------------------------


def search_default_get(*, search: str, channel: str) -> SmsTemplate | EmailTemplate | None:
    """The template ``search`` used last on ``channel``, if it still exists and is active."""
    row = SearchDefault.objects.select_related("sms_template", "email_template__account").filter(
        search=search, channel=channel
    ).first()
    if row is None:
        return None
    template = row.sms_template if channel == Channel.SMS else row.email_template
    return template if template is not None and template.active else None


def search_default_remember(*, search: str, channel: str, template: SmsTemplate | EmailTemplate | None) -> None:
    """Remember ``template`` as the default of ``search`` on ``channel`` (nothing when None:
    a message typed by hand leaves the previous default in place)."""
    if template is None:
        return
    SearchDefault.objects.update_or_create(
        search=search,
        channel=channel,
        defaults={
            "sms_template": template if isinstance(template, SmsTemplate) else None,
            "email_template": template if isinstance(template, EmailTemplate) else None,
        },
    )


# ---------------------------------------------------------------------------------------------
# Rows and recipients
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)  # thousands per mailing: one object each, no __dict__
class DraftRow:
    """One line of the mass mailing: a patient, and the appointment the message is about."""

    patient: Patient
    appointment: Appointment | None


def draft_rows(draft: MassDraft, *, fields: tuple[list[str], list[str]] | None = None) -> list[DraftRow]:
    """The draft's rows in the order they were ticked: appointments (with their patient), then
    patients (with their next future appointment when the search is about appointments, so a
    patient added by hand still gets a reminder of something). Everything the merge reads is
    loaded up front, in a number of queries that does not depend on the number of rows: of the
    patients and appointments, the columns ``fields`` (``messaging.merge.message_fields``) when
    given, else all those a message may read."""
    return list(draft_rows_lazily(draft, fields=fields)[1])


def draft_rows_lazily(
    draft: MassDraft, *, fields: tuple[list[str], list[str]] | None = None
) -> tuple[int, Iterator[DraftRow]]:
    """As ``draft_rows``, and how many: every query runs now, the rows of appointments are
    built as they are iterated (``appointments_for_messages_lazily``)."""
    patient_fields, appointment_fields = fields or (None, None)
    count, appointments = appointments_for_messages_lazily(
        draft.appointment_ids, patient_fields=patient_fields, appointment_fields=appointment_fields
    ) if draft.appointment_ids else (0, iter(()))
    rows = (DraftRow(a._state.fields_cache["patient"], a) for a in appointments)
    if draft.patient_ids:
        patients = patients_for_messages(draft.patient_ids, fields=patient_fields)
        upcoming: dict[int, Appointment] = {}
        if draft.search == SEARCH_APPOINTMENTS:
            upcoming = next_appointments(patient_ids=list(patients), after=timezone.now())
            for patient_id, appointment in upcoming.items():
                appointment.patient = patients[patient_id]
        added = [DraftRow(patients[i], upcoming.get(i)) for i in draft.patient_ids if i in patients]
        count += len(added)
        rows = chain(rows, added)
    return count, rows


def next_appointments(*, patient_ids: list[int], after: dt.datetime) -> dict[int, Appointment]:
    """Each patient's first FUTURE appointment starting after ``after``, with its practitioner,
    chair and nature (the patient is the caller's)."""
    found: dict[int, Appointment] = {}
    qs = Appointment.objects.filter(
        patient_id__in=patient_ids, state=AppointmentState.FUTURE, start__gt=after
    ).order_by("patient_id", "start")
    for appointment in qs:
        found.setdefault(appointment.patient_id, appointment)
    attach_for_messages(appointments=found.values())
    return found


def _plan(draft: MassDraft, practice) -> ChannelPlan:
    """The channel plan of the draft: its one channel, to the practice's SMS defaults or the
    email type's recipient first (``messaging.policy``); an SMS draft with an email type for
    patients without a mobile adds the policy's "email when there is no mobile"."""
    role = None
    if draft.channel in (Channel.EMAIL, Channel.LETTER) and draft.email_template_id:
        role = EmailTemplate.objects.filter(pk=draft.email_template_id).values_list("recipient_role", flat=True).first()
    no_mobile = no_mobile_template(draft)
    if no_mobile is not None:
        return dataclasses.replace(ChannelPlan.only(Channel.SMS, practice=practice), email_when_no_mobile=True,
                                   email_roles=email_roles(no_mobile.recipient_role))
    return ChannelPlan.only(draft.channel, practice=practice, email_role=role)


def no_mobile_template(draft: MassDraft) -> EmailTemplate | None:
    """The email type an SMS draft sends to patients without a mobile, or None."""
    if draft.channel != Channel.SMS or not draft.no_mobile_template_id:
        return None
    return EmailTemplate.objects.select_related("account", "signature", "category").filter(
        pk=draft.no_mobile_template_id).first()


def row_recipients(row: DraftRow, *, channel: str, roles: list[str] | tuple[str, ...]) -> list[Recipient]:
    """Who receives the message of ``row`` on ``channel``, ``roles`` first: the policy's answer
    (``messaging.policy.audience``)."""
    roles = tuple(roles)
    plan = ChannelPlan(sms=channel == Channel.SMS, email=channel == Channel.EMAIL, sms_roles=roles, email_roles=roles)
    return audience(row.patient, plan=plan, appointment=row.appointment).on(channel)


# ---------------------------------------------------------------------------------------------
# Preview and summary
# ---------------------------------------------------------------------------------------------


@dataclass
class PreviewLine:
    row: DraftRow
    recipient: Recipient
    subject: str = ""
    text: str = ""
    html: str = ""
    sms_parts: int = 0
    cost: str = ""  # "≈ 0,16 €" for an SMS when the practice set a price per part
    warnings: list[str] = field(default_factory=list)
    already: str = ""  # a message typed by hand about an appointment that already has one
    # Required merge data missing for this recipient (messaging.merge): left out unless the
    # draft keeps such messages.
    missing: list[str] = field(default_factory=list)

    @property
    def sendable(self) -> bool:
        return self.recipient.sendable


@dataclass
class Summary:
    patients: int = 0
    messages: int = 0  # messages that will leave
    skipped: int = 0  # recipients who will get nothing
    reasons: Counter = field(default_factory=Counter)  # skip reason -> count
    sms_total: int = 0  # SMS parts billed for the messages that leave
    with_warnings: int = 0
    without_mobile: int = 0  # rows whose patient has no mobile of their own
    without_email: int = 0
    already: int = 0  # not sent: the appointment already had a message of this purpose
    already_warned: int = 0  # a message typed by hand about an appointment that already has one
    missing_data: int = 0  # left out: required merge data missing ("données manquantes")
    missing_kept: int = 0  # required merge data missing, sent anyway (the draft keeps them)
    estimate: Estimate | None = None  # SMS: the cost of the messages that leave (messaging.cost)

    @property
    def reason_list(self) -> list[tuple[str, int]]:
        return self.reasons.most_common()


@dataclass
class Preview:
    lines: list[PreviewLine]
    summary: Summary

    @property
    def missing_lines(self) -> list[PreviewLine]:
        """The lines whose required merge data is missing, listed apart."""
        return [line for line in self.lines if line.missing]


def _signature(draft: MassDraft) -> Signature | None:
    return Signature.objects.filter(pk=draft.signature_id).first() if draft.signature_id else None


def mass_preview(draft: MassDraft, *, today: dt.date | None = None) -> Preview:
    """Every recipient of the draft with the exact text they will receive, its SMS count and
    warnings (skip reason, missing merge data, no postal address for a letter), and the summary.
    Queries: a constant number whatever the number of rows."""
    from practice.models import Practice

    practice = Practice.get()
    custom = CustomFields.load()
    rows = draft_rows(draft)
    following = _following_appointments(rows) if "@PROCHRDV" in (draft.body + draft.subject) else {}
    signature = _signature(draft) if draft.channel == Channel.EMAIL else None
    attachment_warnings = _attachment_warnings(draft)
    purpose = purpose_of_template(_draft_template(draft)) if draft.channel != Channel.LETTER else Purpose.OTHER
    appointment_ids = [row.appointment.pk for row in rows if row.appointment is not None]
    # The purpose rule, as the outbox will apply it (messaging.purpose); a message typed by hand
    # ("other") is only flagged when the appointment already has one on this channel.
    earlier = {}
    if purpose != Purpose.OTHER and not draft.send_again:
        earlier = earlier_messages(appointment_ids=appointment_ids, channel=draft.channel, purpose=purpose)
    already = _already_messaged(rows, channel=draft.channel) if purpose == Purpose.OTHER else {}
    summary = Summary(patients=len(rows))
    estimate = summary.estimate = new_estimate(practice) if draft.channel == Channel.SMS else None
    lines: list[PreviewLine] = []
    plan = _plan(draft, practice)
    load_for([row.patient for row in rows], plan=plan)
    no_mobile = no_mobile_template(draft)

    def flagged(line: PreviewLine, missing) -> PreviewLine:
        # The outbox's rule (messaging.outbox.mailing_create, keep_missing): shown as it will be.
        if missing and line.recipient.sendable:
            line.missing = [m.text for m in missing]
            if not draft.keep_missing:
                line.recipient = line.recipient.left_out(Reason.MISSING_DATA, missing_data_text(missing))
        return line

    for row in rows:
        if not row.patient.mobile:
            summary.without_mobile += 1
        if not row.patient.email:
            summary.without_email += 1
        common = {
            "patient": row.patient,
            "appointment": row.appointment,
            "today": today,
            "custom": custom,
            "practice": practice,
            "next_appointment": following.get(_following_key(row), False),
        }
        if draft.channel == Channel.LETTER:
            for recipient in audience(row.patient, plan=plan, appointment=row.appointment).letter:
                # A correspondent reads @COR* and @LIBRE (their relationship with the practitioner).
                correspondent = recipient.person if recipient.role == RecipientRole.CORRESPONDENT else None
                composed = compose_sms(body=draft.body, recipient=recipient.person, correspondent=correspondent,
                                       gsm_names=False, **common)
                lines.append(flagged(PreviewLine(row=row, recipient=recipient, text=composed.text,
                                                 warnings=list(composed.warnings)), composed.missing))
        else:
            previous = already.get(row.appointment.pk) if row.appointment is not None else None
            first = copy_of(earlier, row.appointment) if earlier else None
            found = audience(row.patient, plan=plan, appointment=row.appointment)
            for recipient in found.email_no_mobile:
                # The email type in place of the SMS nobody of the family could get.
                email = compose_email(subject=no_mobile.subject, body_html=no_mobile.body_html,
                                      signature=no_mobile.signature or (no_mobile.account.default_signature
                                                                        if no_mobile.account else None),
                                      recipient=recipient.person,
                                      correspondent=recipient.person
                                      if recipient.role == RecipientRole.CORRESPONDENT else None, **common)
                lines.append(flagged(PreviewLine(row=row, recipient=recipient, subject=email.subject,
                                                 html=email.html, text=email.text, warnings=list(email.warnings)),
                                     email.missing))
            for recipient in found.on(draft.channel):
                if first is not None and recipient.sendable:
                    recipient = recipient.left_out(first.reason, first.text(purpose))
                person = recipient.person
                if draft.channel == Channel.SMS:
                    composed = compose_sms(body=draft.body, recipient=person, **common)
                    parts = composed.segments.parts
                    line = PreviewLine(
                        row=row, recipient=recipient, text=composed.text,
                        sms_parts=parts, cost=estimate.per_message(parts), warnings=list(composed.warnings),
                    )
                    missing = composed.missing
                    if composed.plain_name_parts < parts and recipient.sendable and (draft.keep_missing or not missing):
                        estimate.accented.append((_person_label(person), parts, composed.plain_name_parts))
                else:
                    # As the outbox merges it: a correspondent reads @COR* and @LIBRE.
                    email = compose_email(
                        subject=draft.subject, body_html=draft.body, signature=signature, recipient=person,
                        correspondent=person if recipient.role == RecipientRole.CORRESPONDENT else None, **common
                    )
                    line = PreviewLine(
                        row=row, recipient=recipient, subject=email.subject, html=email.html, text=email.text,
                        warnings=list(email.warnings) + attachment_warnings(row.patient),
                    )
                    missing = email.missing
                if previous:
                    line.already = previous
                lines.append(flagged(line, missing))
    for line in lines:
        reason = line.recipient.reason
        if reason == Reason.MISSING_DATA:
            summary.missing_data += 1  # listed apart, not among those nobody can reach
        elif line.recipient.skip_reason:
            summary.skipped += 1
            # A copy is counted as what it is ("déjà envoyé"), each with its own first message.
            summary.reasons[str(reason.label) if reason in DUPLICATE_REASONS else line.recipient.skip_reason] += 1
            summary.already += reason in DUPLICATE_REASONS
        else:
            summary.messages += 1
            summary.missing_kept += bool(line.missing)
            summary.sms_total += line.sms_parts
            if estimate is not None:
                estimate.add(line.sms_parts)
        if line.warnings:
            summary.with_warnings += 1
        if line.already:
            summary.already_warned += 1
    return Preview(lines=lines, summary=summary)


def _person_label(person) -> str:
    # As the other pages name people: "ADAM Anaïs".
    return " ".join(p for p in ((person.last_name or "").upper(), getattr(person, "first_name", "") or "") if p)


def _already_messaged(rows: list[DraftRow], *, channel: str) -> dict[int, str]:
    """appointment id -> a warning when a message on ``channel`` about that appointment is
    already waiting or was sent (a treatment's reminder, an earlier mass mailing), for a message
    of no particular purpose (typed by hand, or a template of an "Autre" category: the purpose
    rule does not apply): staff decide whether the patient should get a second one. One query."""
    from .models import Message, MessageStatus

    appointment_ids = [row.appointment.pk for row in rows if row.appointment is not None]
    if not appointment_ids or channel == Channel.LETTER:
        return {}
    found: dict[int, str] = {}
    earlier = (
        Message.objects.filter(
            appointment_id__in=appointment_ids,
            channel=channel,
            status__in=[MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED],
        )
        .order_by("appointment_id", "-created_at")
        .values_list("appointment_id", "status", "mailing__origin", "created_at")
    )
    origins = dict(MailingOrigin.choices)
    for appointment_id, status, origin, created_at in earlier:
        if appointment_id in found:
            continue
        waiting = status in (MessageStatus.PENDING, MessageStatus.SENDING)
        # A warning of the preview, shown to the staff member who prepares the mailing: in
        # their language (whole sentences, so that each language words them its own way).
        if channel == Channel.SMS:
            text = (gettext("Un SMS sur ce rendez-vous est déjà en attente (%(origin)s, préparé le %(when)s) : "
                            "retirez ce destinataire pour ne pas l'envoyer deux fois.") if waiting else
                    gettext("Un SMS sur ce rendez-vous est déjà envoyé (%(origin)s, préparé le %(when)s) : "
                            "retirez ce destinataire pour ne pas l'envoyer deux fois."))
        else:
            text = (gettext("Un email sur ce rendez-vous est déjà en attente (%(origin)s, préparé le %(when)s) : "
                            "retirez ce destinataire pour ne pas l'envoyer deux fois.") if waiting else
                    gettext("Un email sur ce rendez-vous est déjà envoyé (%(origin)s, préparé le %(when)s) : "
                            "retirez ce destinataire pour ne pas l'envoyer deux fois."))
        found[appointment_id] = text % {
            "origin": str(origins.get(origin, origin)).lower(),
            "when": date_format(timezone.localtime(created_at), gettext("d/m/Y à H\\hi")),
        }
    return found


def _attachment_warnings(draft: MassDraft):
    """patient -> the warnings of the email type's attachment rules that find nothing for that
    patient (the email leaves without them). Only an email type with rules costs queries: one
    per patient, cached for the patient's several recipients."""
    template = None
    if draft.channel == Channel.EMAIL and draft.email_template_id:
        template = EmailTemplate.objects.filter(pk=draft.email_template_id).first()
    if template is None or not template.attachments.exists():
        return lambda patient: []
    from .attachments import attachments_for

    cache: dict[int, list[str]] = {}

    def warnings_for(patient) -> list[str]:
        if patient.pk not in cache:
            cache[patient.pk] = attachments_for(template=template, patient=patient).warnings
        return list(cache[patient.pk])

    return warnings_for


def _following_key(row: DraftRow) -> tuple[int, int | None]:
    return (row.patient.pk, row.appointment.pk if row.appointment else None)


def _following_appointments(rows: list[DraftRow]) -> dict[tuple[int, int | None], Appointment | bool]:
    """@PROCHRDV of every row in one query (patients.selectors.following_appointments)."""
    return following_appointments((r.patient, r.appointment) for r in rows)


# ---------------------------------------------------------------------------------------------
# Sending, progress, report, retry
# ---------------------------------------------------------------------------------------------


def _draft_template(draft: MassDraft) -> SmsTemplate | EmailTemplate | None:
    if draft.channel == Channel.SMS and draft.sms_template_id:
        return SmsTemplate.objects.select_related("category").filter(pk=draft.sms_template_id).first()
    if draft.email_template_id:
        return EmailTemplate.objects.select_related("account", "category").filter(pk=draft.email_template_id).first()
    return None


def mass_mailing_send(*, draft: MassDraft, requested_by, today: dt.date | None = None) -> Mailing:
    """Write the mass mailing of ``draft`` to the outbox (origin MASS_MAILING) and return it.

    Idempotent on the draft: a second call (a double click on "Envoyer", a reload) returns the
    mailing of the first without writing anything. Remembers the template as the search's
    default for the channel. Raises ValueError for letters (printed, not sent), an empty
    message, or an email without account."""
    if draft.channel == Channel.LETTER:
        raise ValueError(gettext("Un courrier s'imprime : générez le PDF."))
    existing = Mailing.objects.filter(idempotency_key=draft.idempotency_key).first()
    if existing is not None:
        return existing
    from practice.models import Practice

    with gc_paused():
        return _mass_mailing_write(draft=draft, requested_by=requested_by, today=today, practice=Practice.get())


def _mass_mailing_write(*, draft: MassDraft, requested_by, today: dt.date | None, practice) -> Mailing:
    plan = _plan(draft, practice)
    channel = draft.channel
    template = _draft_template(draft)
    label = gettext("Publipostage %(channel)s – %(search)s") % {
        "channel": Channel(draft.channel).label, "search": SEARCH_LABELS[draft.search]}
    kwargs: dict[str, Any] = {}
    texts = [draft.body]
    if (no_mobile_type := no_mobile_template(draft)) is not None:
        texts += [no_mobile_type.subject, no_mobile_type.body_html]
    if draft.channel == Channel.SMS:
        kwargs["sms_body"] = draft.body
    else:
        kwargs["email_subject"] = draft.subject
        kwargs["email_body_html"] = draft.body
        kwargs["account"] = EmailAccount.objects.filter(pk=draft.account_id).first() if draft.account_id else None
        kwargs["signature"] = _signature(draft)
        texts += [draft.subject, kwargs["signature"].body_html if kwargs["signature"] else ""]
    # Only the columns the message's codes read (a third of a patient's); the rows are built,
    # and their recipients chosen, as the messages are written: the server inserts the first
    # ones meanwhile.
    custom = CustomFields.load()
    count, rows = draft_rows_lazily(draft, fields=message_fields(texts, custom))
    if not count:  # every row has a recipient, if only to record why nothing was sent
        raise ValueError(gettext("Aucun destinataire : ajoutez au moins un patient."))
    if writes_to_correspondents(plan):
        # Written to colleagues (reports: a few rows), their correspondents loaded at once.
        rows = list(rows)
        load_for([row.patient for row in rows], plan=plan)
    no_mobile = no_mobile_template(draft)
    instead: list[Recipient] = []  # the emails in place of the SMS, gathered as the SMS are written

    def chosen(row: DraftRow) -> list[Recipient]:
        found = audience(row.patient, plan=plan, appointment=row.appointment)
        instead.extend(found.email_no_mobile)
        return found.on(channel)

    mailing = mailing_create(
        channel=draft.channel,
        origin=MailingOrigin.MASS_MAILING,
        requested_by=requested_by,
        recipients=(r for row in rows for r in chosen(row)),
        purpose=purpose_of_template(template),
        send_again=draft.send_again,
        about=_appointments_about(draft),
        count=count,
        template=template,
        idempotency_key=draft.idempotency_key,
        label=label,
        today=today,
        custom=custom,
        keep_missing=draft.keep_missing,
        **kwargs,
    )
    if instead:
        # Its own mailing (one channel per mailing), listed with the mass mailings; written
        # once per draft like the SMS one.
        mailing_create(
            channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=requested_by,
            recipients=instead, purpose=purpose_of_template(no_mobile), send_again=draft.send_again,
            template=no_mobile, account=no_mobile.account or EmailAccount.objects.filter(active=True).first(),
            idempotency_key=f"{draft.idempotency_key}:email", label=(gettext("%(label)s – email sans portable") % {"label": label})[:200],
            today=today, custom=custom, keep_missing=draft.keep_missing,
        )
    search_default_remember(search=draft.search, channel=draft.channel, template=template)
    return mailing


def _appointments_about(draft: MassDraft) -> list[int]:
    """The appointments the draft's messages may be about (the purpose rule's lookup, made
    before the rows are built): the ticked ones and, for patients added by hand, their future
    ones (a superset is harmless). One query when patients were added."""
    ids = list(draft.appointment_ids)
    if draft.patient_ids and draft.search == SEARCH_APPOINTMENTS:
        ids += Appointment.objects.filter(
            patient_id__in=draft.patient_ids, state=AppointmentState.FUTURE, start__gt=timezone.now()
        ).values_list("pk", flat=True)
    return ids


@dataclass
class Progress:
    total: int
    counts: dict[str, int]
    waiting: int  # PENDING or SENDING
    deferred_until: dt.datetime | None  # the latest not_before of waiting rows, when deferred
    channel: str = Channel.SMS

    @property
    def deferred_text(self) -> str:
        return waiting_text(channel=self.channel, until=self.deferred_until)

    @property
    def done(self) -> bool:
        return self.waiting == 0

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * (self.total - self.waiting) / self.total)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "counts": self.counts,
            "waiting": self.waiting,
            "done": self.done,
            "percent": self.percent,
            "succeeded": sum(self.counts.get(s, 0) for s in SUCCESS_STATUSES),
            "failed": self.counts.get(MessageStatus.FAILED, 0),
            "unknown": self.counts.get(MessageStatus.UNKNOWN, 0),
            "skipped": self.counts.get(MessageStatus.SKIPPED, 0),
            "deferred_until": date_format(timezone.localtime(self.deferred_until), gettext("d/m/Y à H\\hi"))
            if self.deferred_until
            else None,
            "deferred_text": self.deferred_text,
        }


def waiting_until(*, messages, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the last of ``messages`` (a Message queryset) still waiting will leave, if that is in
    the future. A wait already over (the dispatch schedule has not run yet) is not a date to
    announce: those rows leave at the next pass."""
    now = now or timezone.now()
    return (
        messages.filter(status=MessageStatus.PENDING, not_before__gt=now)
        .order_by("-not_before")
        .values_list("not_before", flat=True)
        .first()
    )


def waiting_text(*, channel: str, until: dt.datetime | None) -> str:
    """"En attente : les emails partiront le …" for the waiting rows of one channel, or "" (in
    the active language: the mailing page and its polling ask for it)."""
    if until is None:
        return ""
    when = date_format(timezone.localtime(until), gettext("d/m/Y à H\\hi"))
    if channel == Channel.SMS:
        return gettext("En attente : les SMS partiront le %(when)s (heures de silence du cabinet ou nouvel essai).") % {
            "when": when}
    return gettext("En attente : les emails partiront le %(when)s (quota du compte ou nouvel essai).") % {"when": when}


def mailing_progress(*, mailing: Mailing) -> Progress:
    """The mailing's messages counted by status, in one query (two when some wait)."""
    counts = {
        row["status"]: row["n"]
        for row in Message.objects.filter(mailing=mailing).values("status").annotate(n=Count("id"))
    }
    waiting = sum(counts.get(s, 0) for s in WAITING_STATUSES)
    deferred = waiting_until(messages=Message.objects.filter(mailing=mailing)) if waiting else None
    return Progress(total=sum(counts.values()), counts=counts, waiting=waiting, deferred_until=deferred,
                    channel=mailing.channel)


@dataclass
class Report:
    succeeded: list[Message]
    failed: list[Message]
    unknown: list[Message]
    skipped: list[Message]
    waiting: list[Message]
    retry: Mailing | None  # the mailing that already re-sent this one's failures
    retry_unknown: Mailing | None = None  # the one that re-sent its "incertain" messages

    @property
    def has_failures(self) -> bool:
        return bool(self.failed or self.unknown)

    @property
    def failure_count(self) -> int:
        return len(self.failed) + len(self.unknown)


def mailing_report(*, mailing: Mailing) -> Report:
    """The seeds' "Résultat du publipostage": messages that succeeded, failed (with the reason),
    whose fate is unknown, that were not sent (skipped, with the reason) and still waiting."""
    groups: dict[str, list[Message]] = {k: [] for k in ("succeeded", "failed", "unknown", "skipped", "waiting")}
    for m in Message.objects.filter(mailing=mailing).select_related("patient").order_by("recipient_name", "id"):
        if m.status in SUCCESS_STATUSES:
            groups["succeeded"].append(m)
        elif m.status == MessageStatus.FAILED:
            groups["failed"].append(m)
        elif m.status == MessageStatus.UNKNOWN:
            groups["unknown"].append(m)
        elif m.status in (MessageStatus.SKIPPED, MessageStatus.CANCELLED):
            groups["skipped"].append(m)
        else:
            groups["waiting"].append(m)
    retries = {
        m.idempotency_key: m
        for m in Mailing.objects.filter(idempotency_key__in=[f"{RETRY_KEY_PREFIX}{mailing.pk}", unknown_retry_key(mailing)])
    }
    return Report(retry=retries.get(f"{RETRY_KEY_PREFIX}{mailing.pk}"),
                  retry_unknown=retries.get(unknown_retry_key(mailing)), **groups)


def mailing_retry_failures(*, mailing: Mailing, requested_by) -> Mailing:
    """A new mailing (origin RESEND) to the recipients whose message FAILED in ``mailing``, and
    to them only: successes, unknown outcomes (the gateway may have delivered them: see
    ``mailing_retry_unknown``) and skipped recipients are never sent again. The address is read
    again from the patient file, so a number corrected since the failure is used. A message
    staff sent "malgré les données manquantes" (``Message.missing_kept``) is kept again although
    its data is still missing; any other whose required data is missing now is left out with
    the reason (``outbox.mailing_create``). Once per mailing: a second call returns the first
    retry (the failures of a retry are retried from the retry's own report). Raises ValueError
    when nothing failed."""
    return _retry(mailing=mailing, requested_by=requested_by, status=MessageStatus.FAILED,
                  key=f"{RETRY_KEY_PREFIX}{mailing.pk}", label=gettext("Renvoi des échecs"),
                  empty=gettext("Aucun envoi en échec à renvoyer."))


UNKNOWN_RETRY_WARNING = gettext_lazy(
    "Ces messages ont peut-être déjà été reçus : la transmission a été interrompue au moment de l'envoi "
    "et la passerelle ne l'a ni confirmé ni refusé. Les renvoyer peut faire recevoir le même message deux fois."
)


def mailing_retry_unknown(*, mailing: Mailing, requested_by, confirmed: bool) -> Mailing:
    """Like ``mailing_retry_failures``, for the messages left UNKNOWN ("incertain"): only when
    staff ``confirmed`` they read UNKNOWN_RETRY_WARNING (the recipient may have them already).
    Once per mailing. Raises ValueError (in the active language) when not confirmed or nothing is
    uncertain."""
    if not confirmed:
        raise ValueError(gettext("Cochez la case pour confirmer le renvoi des messages incertains.") + " "
                         + str(UNKNOWN_RETRY_WARNING))
    return _retry(mailing=mailing, requested_by=requested_by, status=MessageStatus.UNKNOWN,
                  key=unknown_retry_key(mailing), label=gettext("Renvoi des incertains"),
                  empty=gettext("Aucun message incertain à renvoyer."))


def unknown_retry_key(mailing: Mailing) -> str:
    # Under RETRY_KEY_PREFIX, so the list of mass mailings shows it with the other re-sendings.
    return f"{RETRY_KEY_PREFIX}incertains:{mailing.pk}"


def _retry(*, mailing: Mailing, requested_by, status: str, key: str, label: str, empty: str) -> Mailing:
    existing = Mailing.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    failed = list(
        Message.objects.filter(mailing=mailing, status=status)
        .select_related("patient__civil_guardian", "patient__financial_guardian", "appointment")
        .order_by("id")
    )
    if not failed:
        raise ValueError(empty)
    recipients: list[Recipient] = []
    to_colleagues = ChannelPlan(email=True, email_roles=(RecipientRole.CORRESPONDENT,))
    load_for([m.patient for m in failed if m.patient is not None and m.recipient_role == RecipientRole.CORRESPONDENT],
             plan=to_colleagues)
    for m in failed:
        if m.patient is not None and m.recipient_role in ROLE_ORDER:
            r = recipient_for(patient=m.patient, channel=m.channel, role=m.recipient_role, appointment=m.appointment)
        elif m.patient is not None and m.recipient_role == RecipientRole.CORRESPONDENT:
            r = _same_correspondent(m)
        else:
            r = Recipient(role=m.recipient_role, name=m.recipient_name, address=m.to, channel=m.channel,
                          patient=m.patient)
        recipients.append(r)
    kwargs: dict[str, Any] = {}
    if mailing.channel == Channel.SMS:
        kwargs["sms_body"] = mailing.body_source
    else:
        kwargs.update(email_subject=mailing.subject_source, email_body_html=mailing.body_source,
                      account=mailing.account, signature=DEFAULT)
    return mailing_create(
        channel=mailing.channel,
        origin=MailingOrigin.RESEND,
        requested_by=requested_by,
        recipients=recipients,
        template=mailing.sms_template or mailing.email_template,
        idempotency_key=key,
        label=f"{label} – {mailing.label or mailing.pk}"[:200],
        purpose=failed[0].purpose,
        # Staff's "Envoyer malgré les données manquantes" holds for the rows it was made on, and
        # only them: another row whose data went missing since is left out with the reason.
        keep_missing_rows=frozenset(n for n, m in enumerate(failed) if m.missing_kept),
        # Re-sending the "incertain" ones is staff's explicit choice (confirmed after the
        # warning): the one-message-per-purpose rule must not cancel it as a copy of itself.
        send_again=status == MessageStatus.UNKNOWN,
        **kwargs,
    )


def _same_correspondent(m: Message) -> Recipient:
    """The recipient of a retry of ``m``, written to one of its patient's correspondents: that
    correspondent again (a message names it by address), with what the merge reads of them
    (@CORNOM, @LIBRE); when no correspondent of the patient holds that address any more, the
    only one with the name it was written to (their address corrected since the failure, as a
    patient's retry uses the corrected one); left out with the reason when the patient's file
    no longer holds them."""
    candidates = correspondent_recipients(patient=m.patient, channel=m.channel, appointment=m.appointment)
    for r in candidates:
        if r.address.lower() == m.to.lower():
            return r
    same_name = [r for r in candidates if r.name == m.recipient_name]
    if len(same_name) == 1:
        return same_name[0]
    gone = Recipient(RecipientRole.CORRESPONDENT, m.recipient_name, m.to, m.channel, m.patient, None, "", False,
                     m.appointment)
    # Stored with the message: French in ``reason``, shown in each reader's language.
    return gone.left_out(Reason.NO_CORRESPONDENT, Why(gettext_noop(
        "Ce correspondant n'est plus dans le dossier du patient (%(address)s)."), address=m.to))


def mass_mailings() -> QuerySet[Mailing]:
    """Past mass mailings (and the re-sendings of their failures), newest first, with their
    figures counted in the same query."""
    def n(*statuses):
        return Count("messages", filter=Q(messages__status__in=statuses))

    return (
        Mailing.objects.filter(
            Q(origin=MailingOrigin.MASS_MAILING)
            | Q(origin=MailingOrigin.RESEND, idempotency_key__startswith=RETRY_KEY_PREFIX)
        )
        .select_related("requested_by")
        .annotate(
            n_total=Count("messages"),
            n_succeeded=n(*SUCCESS_STATUSES),
            n_failed=n(MessageStatus.FAILED, MessageStatus.UNKNOWN),
            n_skipped=n(MessageStatus.SKIPPED, MessageStatus.CANCELLED),
            n_waiting=n(*WAITING_STATUSES),
        )
        .order_by("-created_at", "-id")
    )


def mass_letters_pdf(
    *, draft: MassDraft, today: dt.date | None = None, printed_by=None
) -> tuple[bytes, Summary]:
    """The letters of ``draft`` as one PDF (a letter per recipient with a postal address, each
    from a new page) and the summary (recipients left out and why). Each letter is kept in its
    patient's history (``PrintedLetter``, one query for all; printing the same draft again adds
    nothing). Raises ValueError when no recipient has a postal address."""
    from practice.models import Practice

    from .letters import Letter, letters_pdf, record_printed
    from .models import LetterOrigin, PrintedLetter, letter_dedupe_key

    if draft.channel != Channel.LETTER:
        raise ValueError(gettext("Ce publipostage n'est pas un courrier."))
    today = today or timezone.localdate()
    preview = mass_preview(draft, today=today)
    lines = [line for line in preview.lines if line.sendable]
    letters = [
        Letter(name=line.recipient.name, address_lines=line.recipient.address.split("\n"), text=line.text)
        for line in lines
    ]
    if not letters and preview.summary.missing_data:
        raise ValueError(gettext("Aucun courrier à imprimer : des données manquent pour chaque destinataire (voir "
                                 "« Données manquantes »). Complétez-les, ou imprimez-les tels quels explicitement."))
    if not letters:
        raise ValueError(gettext("Aucun destinataire n'a d'adresse postale : aucun courrier à imprimer."))
    content = letters_pdf(letters=letters, practice=Practice.get(), today=today)
    template = _draft_template(draft)
    record_printed([
        PrintedLetter(
            patient_id=line.row.patient.pk, origin=LetterOrigin.MASS_MAILING,
            origin_label=str(SEARCH_LABELS.get(draft.search, "")), template_name=template.label if template else "",
            recipient_name=letter.name, address_lines=letter.address_lines, text=letter.text, letter_date=today,
            printed_by=printed_by,
            dedupe_key=letter_dedupe_key(
                LetterOrigin.MASS_MAILING, draft.key, line.row.patient.pk, letter.text,
                # Each correspondent of a patient gets their own letter, even with the same text.
                recipient="\n".join([letter.name, *letter.address_lines])
                if line.recipient.role == RecipientRole.CORRESPONDENT else ""),
        )
        for line, letter in zip(lines, letters, strict=True)
    ])
    return content, preview.summary
