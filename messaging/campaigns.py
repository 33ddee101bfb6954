"""Campaigns: one message to a list (pasted, imported from a CSV file, patients picked from a
search, staff, or all patients), sent now or at a set date and time.

The list is stored with the campaign (``CampaignRecipient``, normalised and de-duplicated); the
consents are read when it is sent, so a patient who withdrew in between is left out. Sending
builds the recipients and writes ONE mailing (origin CAMPAIGN) through
``messaging.outbox.mailing_create``; the dispatcher then holds SMS during the practice's quiet
hours like any other SMS. A deferred campaign has a django-q2 schedule (ONCE, at its time) that
runs ``send_due_campaigns``, which sends every campaign whose time has come, exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop

from patients.models import Patient, Practitioner

from .campaign_checks import CheckSummary, check_forget, check_store
from .compose import compose_email, compose_sms
from .cost import Estimate, new_estimate
from .csv_import import CsvContacts, ListEntry, collect_entries, parse_pasted_list
from .mass_mailing import SUCCESS_STATUSES, WAITING_STATUSES
from .merge import CustomFields
from .models import (
    Campaign,
    CampaignKind,
    CampaignRecipient,
    CampaignStatus,
    Channel,
    EmailAccount,
    InboundMessage,
    MailingOrigin,
    Message,
    MessageStatus,
    RecipientRole,
    SavedMessage,
)
from .outbox import mailing_create
from .policy import (
    ChannelPlan,
    Reason,
    Recipient,
    address_owners_reason,
    audience,
    missing_data_text,
    number_stop_reason,
)
from .reasons import shown

SCHEDULE_PREFIX = "Campagne n°"
NEWS_REFUSED = Reason.NO_NEWS_CONSENT.label
NEWS_UNKNOWN = Reason.NEWS_UNKNOWN.label
_BATCH = 2000


@dataclass(frozen=True)
class ListContact:
    """A person of a list without a patient file, for the recipient merge fields (@DNOM...)."""

    last_name: str = ""
    first_name: str = ""
    civility: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.last_name.upper(), self.first_name) if p)


@dataclass
class SourceReport:
    label: str
    accepted: int = 0
    duplicates: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"line", "value", "reason"}


@dataclass
class ImportReport:
    sources: list[SourceReport] = field(default_factory=list)
    file_error: str = ""
    layout: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(s.accepted for s in self.sources)

    @property
    def error_count(self) -> int:
        return sum(s.error_count for s in self.sources)

    def as_json(self) -> dict[str, Any]:
        return {
            "sources": [s.__dict__ for s in self.sources],
            "file_error": self.file_error,
            "layout": self.layout,
        }


def _store(campaign: Campaign, source: str):
    def sink(batch: list[ListEntry]) -> None:
        CampaignRecipient.objects.bulk_create(
            [
                CampaignRecipient(campaign=campaign, address=e.address, last_name=e.last_name,
                                  first_name=e.first_name, source=source)
                for e in batch
            ],
            ignore_conflicts=True,
        )

    return sink


def _patient_entries(patients: Iterable[Patient], channel: str) -> Iterator[ListEntry | Any]:
    """The address a campaign uses for each patient: their own, or the first guardian's who can
    receive it (a child's parent). Patients nobody can reach give an error entry."""
    from .csv_import import EntryError

    for patient in patients:
        chosen = audience(patient, plan=ChannelPlan.only(channel)).on(channel)
        r = chosen[0] if chosen else None
        if r is None or not r.sendable:
            yield EntryError(value=patient.display_name, reason=r.skip_reason if r else gettext("Aucun destinataire."))
        else:
            yield ListEntry(address=r.address, last_name=patient.last_name, first_name=patient.first_name)


def _staff_entries(*, channel: str, user_ids: Iterable[int], practitioner_ids: Iterable[int]) -> Iterator[Any]:
    from .csv_import import EntryError, check_address

    if channel == Channel.EMAIL:
        for user in get_user_model().objects.filter(pk__in=list(user_ids), is_active=True).order_by("pk"):
            address, reason = check_address(user.email, channel)
            yield (ListEntry(address=address, last_name=user.last_name, first_name=user.first_name)
                   if address else EntryError(value=user.get_username(), reason=reason))
    for dr in Practitioner.objects.filter(pk__in=list(practitioner_ids)).order_by("pk"):
        address, reason = check_address(str(dr.mobile or "") if channel == Channel.SMS else dr.email, channel)
        yield (ListEntry(address=address, last_name=dr.last_name, first_name=dr.first_name)
               if address else EntryError(value=dr.display_name, reason=reason))


def _errors_json(errors) -> list[dict[str, Any]]:
    return [{"line": e.line, "value": e.value, "reason": e.reason} for e in errors]


@transaction.atomic
def campaign_create(
    *,
    name: str,
    channel: str,
    kind: str,
    body: str,
    created_by,
    subject: str = "",
    account: EmailAccount | None = None,
    pasted: str = "",
    csv_file: BinaryIO | None = None,
    patient_ids: Iterable[int] = (),
    staff_user_ids: Iterable[int] = (),
    practitioner_ids: Iterable[int] = (),
    all_patients: bool = False,
) -> tuple[Campaign, ImportReport]:
    """A DRAFT campaign with its list gathered from every source given (one de-duplication
    across them), and the report of what was taken and what was refused and why (CSV rows with
    their line number). The CSV file is streamed: batches of 2,000 rows are written as they
    come. A CSV file that cannot be used at all is reported in ``file_error`` (the other
    sources are kept)."""
    from .csv_import import CsvImportError

    if channel not in (Channel.SMS, Channel.EMAIL):
        raise ValueError(gettext("Une campagne part par SMS ou par email."))
    if kind not in CampaignKind.values:
        raise ValueError(gettext("Type de campagne inconnu."))
    campaign = Campaign.objects.create(
        name=name.strip() or gettext("Campagne du %(when)s") % {
            "when": date_format(timezone.localtime(), gettext("d/m/Y H\\hi"))},
        channel=channel, kind=kind, subject=subject, body=body, account=account,
        all_patients=all_patients, created_by=created_by,
    )
    report = ImportReport()
    seen: set[str] = set()

    def run(label: str, source: str, items) -> None:
        collected = collect_entries(items, sink=_store(campaign, source), seen=seen, batch_size=_BATCH)
        report.sources.append(SourceReport(
            label=label, accepted=collected.accepted, duplicates=collected.duplicates,
            error_count=collected.error_count, errors=_errors_json(collected.errors),
        ))

    if pasted.strip():
        parsed = parse_pasted_list(pasted, channel=channel)
        run(gettext_noop("Liste collée"), CampaignRecipient.Source.PASTED, [*parsed.entries, *parsed.errors])
        report.sources[-1].duplicates += len(parsed.duplicates)
    if csv_file is not None:
        try:
            contacts = CsvContacts(csv_file, channel=channel)
        except CsvImportError as exc:
            report.file_error = str(exc)
        else:
            report.layout = {
                "encoding": contacts.layout.encoding_label,
                "delimiter": contacts.layout.delimiter_label,
                "mapping": contacts.layout.mapping_display(),
            }
            run(gettext_noop("Fichier CSV"), CampaignRecipient.Source.FILE, contacts.rows())
    patient_ids = list(patient_ids)
    if patient_ids:
        patients = Patient.objects.filter(pk__in=patient_ids).select_related("civil_guardian", "financial_guardian")
        run(gettext_noop("Patients sélectionnés"), CampaignRecipient.Source.PATIENT, _patient_entries(patients.iterator(), channel))
    staff_user_ids, practitioner_ids = list(staff_user_ids), list(practitioner_ids)
    if staff_user_ids or practitioner_ids:
        run(gettext_noop("Personnel"), CampaignRecipient.Source.STAFF,
            _staff_entries(channel=channel, user_ids=staff_user_ids, practitioner_ids=practitioner_ids))
    campaign.import_report = report.as_json()
    campaign.save(update_fields=["import_report"])
    return campaign, report


# ---------------------------------------------------------------------------------------------
# Recipients at send time
# ---------------------------------------------------------------------------------------------


def _stopped_numbers(addresses: list[str]) -> set[str]:
    """The numbers among ``addresses`` that ever replied STOP (one query)."""
    return set(InboundMessage.objects.filter(from_number__in=addresses, is_stop=True)
               .values_list("from_number", flat=True))


def _patients_by_address(channel: str, addresses: list[str]) -> dict[str, list[Patient]]:
    field_name = "mobile" if channel == Channel.SMS else "email__iexact"
    found: dict[str, list[Patient]] = {}
    if channel == Channel.SMS:
        qs = Patient.objects.filter(mobile__in=addresses)
    else:
        q = Q()
        for a in addresses:
            q |= Q(**{field_name: a})
        qs = Patient.objects.filter(q) if addresses else Patient.objects.none()
    for p in qs.select_related("practitioner"):
        key = str(p.mobile) if channel == Channel.SMS else p.email.lower()
        found.setdefault(key, []).append(p)
    return found


def campaign_recipients(campaign: Campaign) -> list[Recipient]:
    """The campaign's recipients as the outbox wants them, consents read now: news only to
    patients who accepted news (an address of no patient file cannot have); SMS / email
    consent of every patient file holding the address. One per address. Queries: one per 2,000
    addresses."""
    channel = campaign.channel
    news = campaign.kind == CampaignKind.NEWS
    plan = ChannelPlan.only(channel)  # a campaign writes to the patient first (their family otherwise)
    out: list[Recipient] = []
    seen: set[str] = set()
    rows = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")
    batch: list[CampaignRecipient] = []

    def flush():
        owners = _patients_by_address(channel, [r.address for r in batch])
        stopped = _stopped_numbers([r.address for r in batch]) if channel == Channel.SMS else set()
        for r in batch:
            patients = owners.get(r.address, [])
            reason = address_owners_reason(channel, patients, news=news,
                                           staff=r.source == CampaignRecipient.Source.STAFF)
            if reason is None and r.address in stopped and not patients:
                # No patient file holds the number (a guardian's, or nobody's): its STOP reply
                # decides (the same rule as the last-moment check).
                reason = number_stop_reason(r.address)
            # A staff row is the staff member's, even when one patient file holds the same
            # address (their own file as a patient): written to nobody's file, it follows the
            # staff rule when it leaves too (``campaign_refusal_expression``) and stays out of
            # that patient's history.
            staff = r.source == CampaignRecipient.Source.STAFF
            patient = patients[0] if len(patients) == 1 and not staff else None
            contact = ListContact(last_name=r.last_name, first_name=r.first_name)
            out.append(Recipient(
                role=RecipientRole.PATIENT if patient is not None else RecipientRole.OTHER,
                name=(patient.display_name if patient is not None else contact.display_name) or r.address,
                address=r.address, channel=channel, patient=patient,
                person=patient if patient is not None else contact,
                skip_reason=str(reason.label) if reason else "", reason=reason,
            ))
            seen.add(r.address)
        batch.clear()

    for row in rows.iterator(chunk_size=_BATCH):
        batch.append(row)
        if len(batch) >= _BATCH:
            flush()
    if batch:
        flush()
    if campaign.all_patients:
        out.extend(_all_patients_recipients(channel, news=news, plan=plan, listed=seen))
    return out


def _all_patients_recipients(channel: str, *, news: bool, plan: ChannelPlan, listed: set[str]) -> list[Recipient]:
    """The lines of "all patients": each patient's address for the campaign (their own, or a
    guardian's), ONE line per address, named after its first patient file (by id). An address
    several files lead to (a mother's mobile on two children's files, on each file or as their
    guardian's) follows the rule of a pasted list (``address_owners_reason``), whatever the order
    of the files: every file holding it (in its own field) or leading to it must agree; a refusal
    on one of them (a consent, the news) wins. Addresses already in the campaign's ``listed``
    rows are left to them. Queries: one per 2,000 patients, one per 2,000 addresses."""
    out: list[Recipient] = []
    groups: dict[str, tuple[int, list[Patient], list[Recipient]]] = {}  # address -> line, patients, lines
    patients = Patient.objects.select_related("practitioner", "civil_guardian", "financial_guardian").order_by("pk")
    for patient in patients.iterator(chunk_size=_BATCH):
        r = audience(patient, plan=plan).on(channel)[0]
        if not r.address:
            out.append(r)  # nobody to write to (no mobile): one line per patient
            continue
        if r.address in listed:
            continue
        if r.address not in groups:
            groups[r.address] = (len(out), [], [])
            out.append(r)
        groups[r.address][1].append(patient)
        groups[r.address][2].append(r)
    addresses = list(groups)
    for start in range(0, len(addresses), _BATCH):
        chunk = addresses[start:start + _BATCH]
        holders = _patients_by_address(channel, chunk)
        for address in chunk:
            index, led, lines = groups[address]
            if not out[index].sendable:
                continue
            refused = next((r for r in lines if not r.sendable), None)
            if refused is not None:  # one file's refusal for this address wins
                out[index] = out[index].left_out(refused.reason, refused.skip_reason)
                continue
            owners = holders.get(address if channel == Channel.SMS else address.lower(), [])
            reason = address_owners_reason(channel, owners, news=False)
            if reason is None and news and not all(p.news_consent for p in [*owners, *led]):
                reason = Reason.NO_NEWS_CONSENT
            if reason is not None:
                out[index] = out[index].left_out(reason)
    return out


@dataclass
class CampaignLine:
    """One recipient of the campaign and the exact message they would receive now."""

    recipient: Recipient
    subject: str = ""
    text: str = ""
    html: str = ""
    sms_parts: int = 0
    missing: list[str] = field(default_factory=list)  # required merge data missing (messaging.merge)

    @property
    def sendable(self) -> bool:
        return self.recipient.sendable


@dataclass
class CampaignPreview:
    """What sending the campaign now would do: each line's merged message, how many receive it,
    who receives nothing and why (``reasons``: text -> count), the messages left out for
    missing data (listed apart) and, for SMS, the cost."""

    lines: list[CampaignLine]
    reach: int = 0
    reasons: Counter = field(default_factory=Counter)
    missing_data: int = 0
    missing_kept: int = 0
    estimate: Estimate | None = None

    @property
    def total(self) -> int:
        return len(self.lines)

    @property
    def nobody(self) -> int:
        return self.total - self.reach

    @property
    def reason_list(self) -> list[tuple[str, int]]:
        return self.reasons.most_common()

    @property
    def missing_lines(self) -> list[CampaignLine]:
        return [line for line in self.lines if line.missing]

    def summary(self) -> CheckSummary:
        """The counts, as the check page shows them (and stores them: ``campaign_checks``)."""
        return CheckSummary(total=self.total, reach=self.reach, reason_list=self.reason_list,
                            missing_data=self.missing_data, missing_kept=self.missing_kept, estimate=self.estimate)

    def refusal(self) -> str:
        """Why a campaign that reaches nobody is refused, with the counts."""
        return self.summary().refusal()


def reach_refusal(total: int, reasons: list[tuple[str, int]]) -> str:
    """ "Cette campagne n'atteint personne (0 sur 1 651) : …" with the main reasons."""
    if not total:
        return gettext("Cette campagne n'a aucun destinataire : ajoutez des numéros, des adresses ou des patients.")
    why = " ; ".join(f"{str(text).rstrip('.')} ({n})" for text, n in reasons[:4])
    return gettext("Cette campagne n'atteint personne (0 sur %(total)s) : %(why)s. Rien n'a été envoyé ni "
                   "programmé : changez la liste ou le message.") % {"total": total, "why": why}


def campaign_preview(campaign: Campaign, *, keep_missing: bool | None = None,
                     recipients: list[Recipient] | None = None) -> CampaignPreview:
    """Every recipient of ``campaign`` with the message they would receive if it were sent now,
    composed as the outbox will compose it (messaging.compose, names in GSM-7 or not per the
    practice's option), and the counts. A message whose required merge data is missing (@DPREN
    for a number without a name) is left out unless ``keep_missing`` (by default the campaign's
    own choice), as ``campaign_send`` will. Reads only."""
    from practice.models import Practice

    keep = campaign.keep_missing if keep_missing is None else keep_missing
    practice = Practice.get()
    custom = CustomFields.load()
    sms = campaign.channel == Channel.SMS
    preview = CampaignPreview(lines=[], estimate=new_estimate(practice) if sms else None)
    for r in campaign_recipients(campaign) if recipients is None else recipients:
        line = CampaignLine(recipient=r)
        if sms:
            composed = compose_sms(body=campaign.body, patient=r.patient, recipient=r.person, custom=custom,
                                   practice=practice)
            line.text, line.sms_parts = composed.text, composed.segments.parts
        else:
            composed = compose_email(subject=campaign.subject, body_html=campaign.body, patient=r.patient,
                                     recipient=r.person, custom=custom, practice=practice)
            line.subject, line.html, line.text = composed.subject, composed.html, composed.text
        if r.sendable and composed.missing:
            line.missing = [m.text for m in composed.missing]
            if not keep:
                line.recipient = r.left_out(Reason.MISSING_DATA, missing_data_text(composed.missing))
        preview.lines.append(line)
        reason = line.recipient.reason
        if reason == Reason.MISSING_DATA:
            preview.missing_data += 1
        elif not line.sendable:
            preview.reasons[reason.label if reason is not None else line.recipient.skip_reason] += 1
        else:
            preview.reach += 1
            preview.missing_kept += bool(line.missing)
            if sms:
                preview.estimate.add(line.sms_parts)
                if composed.plain_name_parts < line.sms_parts:
                    preview.estimate.accented.append((r.name, line.sms_parts, composed.plain_name_parts))
    return preview


def campaign_sms_estimate(campaign: Campaign, recipients: list[Recipient] | None = None) -> Estimate:
    """The cost of the SMS campaign's messages that would leave now: each recipient's message
    composed as the outbox will compose it (names in GSM-7 or not, per the practice's option),
    its parts priced (messaging.cost), and the recipients whose name's accent costs extra parts."""
    return campaign_preview(campaign, recipients=recipients).estimate


# ---------------------------------------------------------------------------------------------
# The campaign's consent rules, read again as each message leaves
# ---------------------------------------------------------------------------------------------


def is_campaign_message(message: Message) -> bool:
    """Whether ``campaign_check`` judges ``message`` (and so needs ``campaign_refusal_expression``):
    a campaign's (its mailing is joined by the dispatch: no query)."""
    return message.mailing.origin == MailingOrigin.CAMPAIGN


def campaign_refusal_expression():
    """The code of the ``Reason`` why a campaign's message must not leave now, or "": the rules
    ``campaign_recipients`` applied when the messages were written (``address_owners_reason``),
    read again by the database in the query that reads the message before it leaves
    (``send_checks.Refresher``), for what ``send_checks.consent_check`` does not read:

    - an address written to no single patient file (a family number): every file holding it
      must still accept the channel (one withdrawal wins, as when it was written);
    - a news campaign: its patient and every file holding its address must still accept news
      (the SMS consent alone also covers care messages).

    The practice's own staff (list rows of source STAFF, written to no patient file) get
    internal messages whatever the patients' consents, as when they were written."""
    from django.db.models import Case, CharField, Exists, OuterRef, Value, When

    def held(**refusing):
        by_number = Patient.objects.filter(mobile=OuterRef("to"), **refusing)
        by_email = Patient.objects.filter(email__iexact=OuterRef("to"), **refusing)
        return (Q(channel=Channel.SMS) & Exists(by_number)) | (Q(channel=Channel.EMAIL) & Exists(by_email))

    staff = CampaignRecipient.objects.filter(campaign__mailing_id=OuterRef("mailing_id"), address=OuterRef("to"),
                                             source=CampaignRecipient.Source.STAFF)
    news = Campaign.objects.filter(mailing_id=OuterRef("mailing_id"), kind=CampaignKind.NEWS)
    listed = Q(patient__isnull=True) & ~Exists(staff)
    return Case(
        When(listed & Q(channel=Channel.SMS) & held(sms_consent=False), then=Value(Reason.NO_SMS_CONSENT.value)),
        When(listed & Q(channel=Channel.EMAIL) & held(email_consent=False), then=Value(Reason.NO_EMAIL_CONSENT.value)),
        When(Exists(news) & ~Exists(staff) & (Q(patient__news_consent=False) | held(news_consent=False)),
             then=Value(Reason.NO_NEWS_CONSENT.value)),
        default=Value(""), output_field=CharField(),
    )


def campaign_check(message: Message, now: dt.datetime):
    """A campaign's message whose recipient withdrew a consent since it was written (held by
    the quiet hours, the SMS quota or a long queue) is cancelled (``campaign_refusal_expression``)."""
    code = getattr(message, "campaign_refusal", None)
    if not code or code not in Reason.values:
        return None
    from .reasons import Why
    from .send_checks import Verdict

    return Verdict.cancel(code, Why(gettext_noop("%(reason)s Message non envoyé."), reason=Reason(code).label))


# ---------------------------------------------------------------------------------------------
# Sending now or later
# ---------------------------------------------------------------------------------------------


def campaign_send(*, campaign: Campaign, requested_by=None, keep_missing: bool | None = None,
                  require_reach: bool = True) -> Campaign:
    """Send ``campaign`` now: one mailing (origin CAMPAIGN) with all its recipients. Exactly
    once: the campaign is claimed with a conditional update (DRAFT or SCHEDULED -> SENDING), so
    a second call, a double click or two schedulers at once send nothing more. Raises
    ValueError when the campaign was already sent or cancelled, or has no recipient.

    Messages whose required merge data is missing are left out unless ``keep_missing`` (by
    default the campaign's stored choice; a given value is stored). With ``require_reach``
    (staff sending from the page), a campaign that would reach nobody writes nothing and raises
    ValueError with the counts and reasons (``reach_refusal``); the scheduled run
    (``send_due_campaigns``) records such a campaign as sent with every message "non envoyé"
    and its reason, since consents may change between scheduling and sending."""
    if keep_missing is not None and keep_missing != campaign.keep_missing:
        Campaign.objects.filter(pk=campaign.pk).update(keep_missing=keep_missing)
        campaign.keep_missing = keep_missing
    claimed = Campaign.objects.filter(
        pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED]
    ).update(status=CampaignStatus.SENDING, sent_at=timezone.now())
    if claimed != 1:
        campaign.refresh_from_db()
        raise ValueError(gettext("Cette campagne est déjà %(status)s.") % {
            "status": str(campaign.get_status_display()).lower()})
    try:
        with transaction.atomic():
            recipients = campaign_recipients(campaign)
            if not recipients:
                raise ValueError(gettext("Cette campagne n'a aucun destinataire."))
            kwargs: dict[str, Any] = {"sms_body": campaign.body} if campaign.channel == Channel.SMS else {
                "email_subject": campaign.subject, "email_body_html": campaign.body,
                "account": campaign.account, "signature": None,
            }
            mailing = mailing_create(
                channel=campaign.channel,
                origin=MailingOrigin.CAMPAIGN,
                requested_by=requested_by or campaign.created_by,
                recipients=recipients,
                idempotency_key=f"campagne:{campaign.pk}",
                label=campaign.name,
                keep_missing=campaign.keep_missing,
                **kwargs,
            )
            if require_reach and not mailing.messages.filter(status=MessageStatus.PENDING).exists():
                # Each stored reason as the person sending reads it (messaging.reasons).
                counted: Counter = Counter()
                for reason, data, n in (mailing.messages.values_list("reason", "reason_i18n")
                                        .annotate(n=Count("pk")).order_by("-n", "reason")):
                    counted[shown(reason, data)] += n
                raise ValueError(reach_refusal(len(recipients), counted.most_common()))
            Campaign.objects.filter(pk=campaign.pk).update(mailing=mailing)
            check_forget(campaign)  # sent: its report takes over from the check
    except Exception:
        # Nothing was written: the campaign goes back to where it was, to be fixed and resent.
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.SCHEDULED if campaign.scheduled_at else CampaignStatus.DRAFT, sent_at=None
        )
        raise
    _drop_schedule(campaign)
    campaign.refresh_from_db()
    return campaign


def schedule_name(campaign: Campaign) -> str:
    return f"{SCHEDULE_PREFIX}{campaign.pk}"


def campaign_schedule(*, campaign: Campaign, when: dt.datetime, keep_missing: bool | None = None) -> Campaign:
    """Save ``campaign`` to be sent at ``when`` (aware): status SCHEDULED and a django-q2 schedule
    that runs ``send_due_campaigns`` once at that time, with staff's choice about messages whose
    required data is missing (``keep_missing``, stored). Raises ValueError for a time in the past,
    a campaign already sent, or a campaign that would reach nobody now (with the counts and the
    reasons: it is not scheduled silently)."""
    from django_q.models import Schedule

    if when <= timezone.now():
        raise ValueError(gettext("Choisissez une date et une heure à venir."))
    keep = campaign.keep_missing if keep_missing is None else keep_missing
    preview = None
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        preview = campaign_preview(campaign, keep_missing=keep)
        if not preview.reach:
            raise ValueError(preview.refusal())
    updated = Campaign.objects.filter(
        pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED]
    ).update(status=CampaignStatus.SCHEDULED, scheduled_at=when, keep_missing=keep)
    if updated != 1:
        raise ValueError(gettext("Cette campagne ne peut plus être programmée."))
    campaign.keep_missing = keep
    if preview is not None:
        check_store(campaign, preview)  # the check page shows what was checked here
    Schedule.objects.update_or_create(
        name=schedule_name(campaign),
        defaults={"func": "messaging.campaigns.send_due_campaigns", "schedule_type": Schedule.ONCE,
                  "next_run": when, "repeats": 1},
    )
    campaign.refresh_from_db()
    return campaign


def _drop_schedule(campaign: Campaign) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=schedule_name(campaign)).delete()


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel a draft or scheduled campaign (its schedule is removed). Raises ValueError once
    it was sent."""
    if Campaign.objects.filter(
        pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED]
    ).update(status=CampaignStatus.CANCELLED) != 1:
        raise ValueError(gettext("Une campagne envoyée ne peut plus être annulée."))
    _drop_schedule(campaign)
    check_forget(campaign)
    campaign.refresh_from_db()
    return campaign


def send_due_campaigns(now: dt.datetime | None = None) -> dict[str, Any]:
    """The django-q2 task: send every SCHEDULED campaign whose time has come (``now`` for
    tests; the clock otherwise). Each is claimed before sending, so overlapping runs send each
    once. Returns the ids sent and the errors."""
    now = now or timezone.now()
    sent, errors = [], {}
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now).order_by(
        "scheduled_at", "pk"
    ):
        try:
            # Staff are not in front of it: what nobody received is recorded with its reasons.
            campaign_send(campaign=campaign, require_reach=False)
            sent.append(campaign.pk)
        except ValueError as exc:
            errors[campaign.pk] = str(exc)
    return {"sent": sent, "errors": errors}


def _count(model, *, outer: str, link: str, **filters):
    """COUNT(*) of ``model`` rows linked to the outer row, as a scalar subquery (joining both
    lists would multiply them: 100,000 recipients x 100,000 messages)."""
    from django.db.models import IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    qs = (
        model.objects.filter(**{link: OuterRef(outer)}, **filters)
        .order_by()
        .values(link)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(qs, output_field=IntegerField()), 0)


def campaigns_with_figures() -> QuerySet[Campaign]:
    """The campaign history, newest first, each with its list size and its messages counted by
    outcome (scalar subqueries: one query for the page)."""
    from .models import Message

    def n(*statuses):
        return _count(Message, outer="mailing_id", link="mailing_id", status__in=statuses)

    return (
        Campaign.objects.select_related("created_by", "mailing")
        .annotate(
            n_list=_count(CampaignRecipient, outer="pk", link="campaign_id"),
            n_messages=_count(Message, outer="mailing_id", link="mailing_id"),
            n_succeeded=n(*SUCCESS_STATUSES),
            n_failed=n(MessageStatus.FAILED, MessageStatus.UNKNOWN),
            n_skipped=n(MessageStatus.SKIPPED, MessageStatus.CANCELLED),
            n_waiting=n(*WAITING_STATUSES),
        )
        .order_by("-created_at", "-pk")
    )


def saved_message_save(*, name: str, channel: str, body: str, subject: str = "", created_by=None) -> SavedMessage:
    """Keep a campaign text for later under ``name`` (replacing the one of that name)."""
    saved, _ = SavedMessage.objects.update_or_create(
        channel=channel, name=name.strip()[:120],
        defaults={"body": body, "subject": subject, "created_by": created_by},
    )
    return saved
