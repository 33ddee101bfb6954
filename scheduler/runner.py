"""Running a treatment for one run date: the search of its window, who receives what, and the
mailings written through the one outbox (``messaging.outbox.mailing_create``).

``treatment_plan`` reads only (who is concerned, who is left out and why, which recipients on
which channel); ``treatment_preview`` adds the exact text of each message ("Tester", nothing
written); ``treatment_run`` executes it exactly once per (treatment, run date):

* the ``TreatmentRun`` row is unique per treatment and date, and is locked
  (``select_for_update``) for the whole execution: a second worker, a retried task or a second
  cluster waits for the first, then finds the run done and sends nothing;
* a run that failed or died before committing left no message behind (everything is written in
  that one transaction) and is executed again by the next attempt;
* each mailing has the idempotency key ``treatment:<id>:<run date>:<channel>`` and each message a
  dedupe key built from it, the patient, the recipient and the appointment: even outside the
  lock, nothing can be written twice;
* the messages leave through ``messaging.dispatch`` after the commit; a worker killed while
  sending leaves its row SENDING, which dispatch turns into UNKNOWN (never re-sent), and the
  PENDING rest is sent by the next dispatch (the every-minute schedule, or a re-run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import partial

from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from messaging.compose import compose_email, compose_sms
from messaging.cost import Estimate, new_estimate
from messaging.merge import CustomFields, practice_tz
from messaging.models import Channel, MailingOrigin, Message, MessageStatus, Purpose, RecipientRole
from messaging.policy import (
    ChannelPlan,
    Recipient,
    audience,
    email_roles,
    load_for,
    missing_data_text,
    sms_roles,
)
from messaging.purpose import mark_copies
from messaging.replies import mark_confirmed
from patients.criteria import AppointmentCriteria, PatientCriteria
from patients.models import Appointment, AppointmentState, Patient
from patients.phones import format_fr
from patients.selectors import appointment_search, patient_criteria_search
from practice.i18n import practice_speaking
from practice.models import Practice

from . import pdf
from .family import group_by_family
from .formats import clock, day_label, moment_label
from .models import (
    APPOINTMENT_KINDS,
    RunStatus,
    RunTrigger,
    TrackedMessage,
    TrackedPurpose,
    Treatment,
    TreatmentKind,
    TreatmentRun,
)
from .windows import Window

logger = logging.getLogger(__name__)

CHANNEL_LABELS = {"sms": "SMS", "email": gettext_lazy("Email"),
                  "email-sans-portable": gettext_lazy("Email (pas de portable)")}


@dataclass
class Target:
    """One patient concerned by a run, about one appointment (or none: birthdays, recall)."""

    patient: Patient
    appointment: Appointment | None = None

    @property
    def label(self) -> str:
        if self.appointment is None:
            return self.patient.display_name
        return f"{self.patient.display_name} – {moment_label(self.appointment.start, practice_tz())}"


@dataclass
class LeftOut:
    name: str
    reason: str


@dataclass
class Batch:
    """The recipients of one mailing of the run."""

    channel: str
    key: str  # the last part of the mailing's idempotency key
    template: object
    recipients: list[Recipient] = field(default_factory=list)


@dataclass
class Plan:
    treatment: Treatment
    run_date: dt.date
    window: Window
    targets: list[Target]
    left_out: list[LeftOut]
    batches: list[Batch]
    # The letters to print, addressed by the recipient policy (the civil guardian of a minor,
    # each correspondent when the letter's text names the correspondent).
    letters: list[Recipient] = field(default_factory=list)
    planning: list[Appointment] = field(default_factory=list)
    staff: list = field(default_factory=list)

    @property
    def purpose(self) -> str:
        return purpose_of(self.treatment.kind)


def message_purpose(kind: str) -> str:
    """The purpose recorded on the messages of a treatment of ``kind`` (messaging.purpose):
    one reminder, one missed-appointment follow-up per appointment and channel."""
    return {TreatmentKind.APPOINTMENTS: Purpose.REMINDER, TreatmentKind.MISSED: Purpose.MISSED}.get(kind, Purpose.OTHER)


def purpose_of(kind: str) -> str:
    if kind == TreatmentKind.APPOINTMENTS:
        return TrackedPurpose.REMINDER
    if kind == TreatmentKind.MISSED:
        return TrackedPurpose.MISSED
    return TrackedPurpose.PATIENT


def default_criteria(kind: str) -> dict:
    """The criteria a new treatment of ``kind`` starts with (JSON, no dates)."""
    if kind in APPOINTMENT_KINDS:
        states = {
            TreatmentKind.MISSED: [AppointmentState.MISSED.value],
            TreatmentKind.PLANNING: [AppointmentState.FUTURE.value, AppointmentState.PRESENT.value],
        }.get(kind, [AppointmentState.FUTURE.value])
        data = AppointmentCriteria(date_from=dt.date.min, date_to=dt.date.min, states=states).to_json()
        data.pop("date_from")
        data.pop("date_to")
        return data
    data = PatientCriteria().to_json()
    for name in ("birthday_from", "birthday_to", "reference_date"):
        data.pop(name)
    if kind == TreatmentKind.RECALL:
        data["no_appointment_since_months"] = 6
    return data


def appointment_criteria(treatment: Treatment, window: Window, **overrides) -> AppointmentCriteria:
    data = {**default_criteria(treatment.kind), **(treatment.criteria or {})}
    data.update(date_from=window.start.isoformat(), date_to=window.end.isoformat())
    return dataclasses.replace(AppointmentCriteria.from_json(data), **overrides)


def patient_criteria(treatment: Treatment, window: Window, run_date: dt.date) -> PatientCriteria:
    data = {**default_criteria(treatment.kind), **(treatment.criteria or {})}
    criteria = PatientCriteria.from_json(data)
    criteria.reference_date = run_date
    if treatment.kind == TreatmentKind.BIRTHDAYS:
        criteria.birthday_from, criteria.birthday_to = window.start, window.end
    return criteria


# ---------------------------------------------------------------------------------------------
# Who is concerned
# ---------------------------------------------------------------------------------------------


def _appointment_targets(treatment: Treatment, window: Window) -> tuple[list[Target], list[LeftOut], list[Appointment]]:
    """Appointments of the window; for the missed kind, the two exclusions of the seeds with their
    reason (three queries whatever the number of appointments)."""
    criteria = appointment_criteria(treatment, window)
    excl_next, excl_came = criteria.exclude_with_next_appointment, criteria.exclude_came_since
    base = dataclasses.replace(criteria, exclude_with_next_appointment=False, exclude_came_since=False)
    appointments = list(appointment_search(criteria=base))
    left: list[LeftOut] = []
    reasons: dict[int, str] = {}
    all_ids = [a.pk for a in appointments]
    if excl_came and all_ids:
        kept = set(
            appointment_search(criteria=dataclasses.replace(base, exclude_came_since=True))
            .filter(pk__in=all_ids)
            .values_list("pk", flat=True)
        )
        for pk in all_ids:
            if pk not in kept:
                reasons.setdefault(pk, gettext("Venu(e) au cabinet depuis le rendez-vous manqué."))
    if excl_next and all_ids:
        kept = set(
            appointment_search(criteria=dataclasses.replace(base, exclude_with_next_appointment=True))
            .filter(pk__in=all_ids)
            .values_list("pk", flat=True)
        )
        for pk in all_ids:
            if pk not in kept:
                reasons.setdefault(pk, gettext("A déjà un prochain rendez-vous."))
    targets: list[Target] = []
    for appt in appointments:
        if appt.patient_id is None:
            left.append(LeftOut(f"{appt.who} – {moment_label(appt.start, practice_tz())}",
                                gettext("Rendez-vous sans dossier patient.")))
        elif appt.pk in reasons:
            left.append(LeftOut(Target(appt.patient, appt).label, reasons[appt.pk]))
        else:
            targets.append(Target(appt.patient, appt))
    return targets, left, appointments


def channel_plan(treatment: Treatment, practice: Practice) -> ChannelPlan:
    """What ``treatment`` sends about each patient, for ``messaging.policy.audience``."""
    return ChannelPlan(
        sms=treatment.send_sms and treatment.sms_template_id is not None,
        email=treatment.send_email and treatment.email_template_id is not None,
        email_when_no_mobile=treatment.email_when_no_mobile and treatment.email_template_id is not None,
        sms_roles=sms_roles(practice),
        email_roles=email_roles(getattr(treatment.email_template, "recipient_role", None)),
    )


def letter_plan(treatment: Treatment) -> ChannelPlan | None:
    """Who the treatment's letters go to (the letter's email type names its recipient), for
    ``messaging.policy.audience``; None when it prints no letter."""
    if not treatment.send_letter:
        return None
    return ChannelPlan(letter=True, email_roles=email_roles(getattr(treatment.letter_template, "recipient_role", None)))


def treatment_plan(*, treatment: Treatment, run_date: dt.date) -> Plan:
    """Who the treatment concerns on ``run_date``, who is left out and why, and the recipients of
    each mailing. Reads only; a constant number of queries whatever the number of patients."""
    window = treatment.window(run_date)
    practice = Practice.get()
    left: list[LeftOut] = []
    planning: list[Appointment] = []
    if treatment.kind == TreatmentKind.PLANNING:
        criteria = appointment_criteria(treatment, window, include_external=True)
        planning = list(appointment_search(criteria=criteria))
        staff = list(treatment.staff_recipients.all())
        for user in staff:
            if not user.email:
                left.append(LeftOut(user.get_full_name() or user.username, gettext("Aucune adresse email.")))
        return Plan(treatment, run_date, window, [], left, [], planning=planning, staff=[u for u in staff if u.email])

    if treatment.kind in APPOINTMENT_KINDS:
        targets, left, _ = _appointment_targets(treatment, window)
    else:
        patients = patient_criteria_search(criteria=patient_criteria(treatment, window, run_date))
        targets = [Target(p) for p in patients]

    sms = Batch(Channel.SMS, "sms", treatment.sms_template)
    email = Batch(Channel.EMAIL, "email", treatment.email_template)
    fallback = Batch(Channel.EMAIL, "email-sans-portable", treatment.email_template)
    letters: list[Recipient] = []
    plan, on_paper = channel_plan(treatment, practice), letter_plan(treatment)
    patients = [t.patient for t in targets]
    load_for(patients, plan=plan)
    if on_paper is not None:
        load_for(patients, plan=on_paper)
    for target in targets:
        found = audience(target.patient, plan=plan, appointment=target.appointment)
        sms.recipients += found.sms
        email.recipients += found.email
        fallback.recipients += found.email_no_mobile
        if on_paper is not None:
            for r in audience(target.patient, plan=on_paper, appointment=target.appointment).letter:
                if r.sendable:
                    letters.append(r)
                else:
                    left.append(LeftOut(target.label, gettext("%(reason)s Pas de courrier.") % {"reason": r.skip_reason}))
    batches = [b for b in (sms, email, fallback) if b.recipients]
    # What the outbox will skip as a second message of the same purpose (a mass mailing sent
    # the reminder already): shown in Tester with the reason naming the first. A query a batch.
    # Before that, what a patient's SMS answer made pointless: a reminder of an appointment
    # confirmed by SMS (its email fallback too), with the time of the answer (the better reason
    # when both apply: J-1 after J-3). A query a batch.
    purpose = message_purpose(treatment.kind)
    for batch in batches:
        batch.recipients = mark_confirmed(batch.recipients, purpose=purpose)
        batch.recipients = mark_copies(batch.recipients, channel=batch.channel, purpose=purpose)
        if treatment.group_family and treatment.kind == TreatmentKind.APPOINTMENTS and batch.channel == Channel.SMS:
            # After the purpose rule: an appointment already reminded is not listed again.
            batch.recipients = group_by_family(batch.recipients, practice_tz(practice))
    return Plan(treatment, run_date, window, targets, left, batches, letters=letters)


# ---------------------------------------------------------------------------------------------
# Tester: the exact messages, nothing written
# ---------------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    channel: str
    target: str
    recipient: str
    role: str
    address: str
    subject: str
    text: str
    skip_reason: str
    warnings: list[str]
    sms_parts: int = 0
    cost: str = ""  # "≈ 0,16 €" for an SMS when the practice set a price per part
    # One SMS for a family's appointments of the day: each appointment it stands for.
    grouped: list[str] = field(default_factory=list)
    # Required merge data missing for this recipient (messaging.merge): the outbox leaves the
    # message out ("Données manquantes"), shown apart in Tester.
    missing: list[str] = field(default_factory=list)


@dataclass
class Preview:
    plan: Plan
    rows: list[PreviewRow]
    estimate: Estimate | None = None  # the SMS that would leave (messaging.cost), None without SMS

    @property
    def to_send(self) -> list[PreviewRow]:
        return [r for r in self.rows if not r.skip_reason]

    @property
    def not_sent(self) -> list[PreviewRow]:
        """Rows nobody would receive, for another reason than missing data."""
        return [r for r in self.rows if r.skip_reason and not r.missing]

    @property
    def missing_data(self) -> list[PreviewRow]:
        """Rows left out because required merge data is missing (listed apart)."""
        return [r for r in self.rows if r.missing]


def treatment_preview(*, treatment: Treatment, run_date: dt.date) -> Preview:
    """What a run on ``run_date`` would send, message by message, composed exactly as the outbox
    will compose it (messaging.compose). Writes nothing, creates no run."""
    plan = treatment_plan(treatment=treatment, run_date=run_date)
    custom = CustomFields.load()
    practice = Practice.get()
    rows: list[PreviewRow] = []
    estimate = new_estimate(practice)
    for batch in plan.batches:
        for r in batch.recipients:
            common = {
                "patient": r.patient,
                "appointment": r.appointment,
                "recipient": r.person,
                "today": run_date,
                "custom": custom,
                "practice": practice,
            }
            target = Target(r.patient, r.appointment).label if r.patient else r.name
            grouped = [Target(a.patient, a).label for a in r.appointments] if r.grouped else []
            if batch.channel == Channel.SMS:
                composed = compose_sms(body=batch.template.body, appointments=r.appointments if r.grouped else None,
                                       **common)
                subject, text, warnings = "", composed.text, composed.warnings
                parts = composed.segments.parts
                if not r.skip_reason and not composed.missing:
                    estimate.add(parts)
                    if composed.plain_name_parts < parts:
                        estimate.accented.append((r.name, parts, composed.plain_name_parts))
            else:
                parts = 0
                tpl = batch.template
                signature = tpl.signature or tpl.account.default_signature
                composed = compose_email(subject=tpl.subject, body_html=tpl.body_html, signature=signature, **common)
                subject, text, warnings = composed.subject, composed.text, composed.warnings
            # As the outbox decides (messaging.outbox.mailing_create): a treatment never keeps
            # a message whose required data is missing.
            skip_reason = r.skip_reason or (missing_data_text(composed.missing).shown() if composed.missing else "")
            rows.append(
                PreviewRow(
                    channel=CHANNEL_LABELS[batch.key],
                    target=target,
                    recipient=r.name,
                    role=r.role_label,
                    address=r.address_display,
                    subject=subject,
                    text=text,
                    skip_reason=skip_reason,
                    warnings=warnings,
                    sms_parts=parts,
                    cost=estimate.per_message(parts) if parts else "",
                    grouped=grouped,
                    missing=[m.text for m in composed.missing] if not r.skip_reason else [],
                )
            )
    has_sms = any(batch.channel == Channel.SMS for batch in plan.batches)
    return Preview(plan, rows, estimate if has_sms else None)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def mailing_key(treatment_id: int, run_date: dt.date, suffix: str) -> str:
    return f"treatment:{treatment_id}:{run_date.isoformat()}:{suffix}"


def track_mailing(*, mailing, purpose: str, run: TreatmentRun | None = None) -> None:
    """Link the mailing's messages to the run (or to no run: event messages), with each
    appointment's start as written: what the send-time re-check compares. Two queries."""
    from .checks import TRACKED_ORIGINS

    if mailing.origin not in TRACKED_ORIGINS:
        # scheduler.checks.stale_reasons looks for tracked messages in these mailings only.
        raise ValueError(f"Only the scheduler's mailings are tracked, not a {mailing.origin!r} one.")
    rows = list(Message.objects.filter(mailing=mailing).values_list("pk", "appointment__start"))
    TrackedMessage.objects.bulk_create(
        [TrackedMessage(message_id=pk, run=run, purpose=purpose, appointment_start=start) for pk, start in rows],
        ignore_conflicts=True,
    )


def planning_title(window: Window) -> str:
    """ "Planning d'activité – lundi 01/12/2025" (or "du … au …"), in the active language: the
    planning PDF's title and its email's subject."""
    if window.start == window.end:
        days = day_label(window.start)
    else:
        days = gettext("du %(start)s au %(end)s") % {"start": day_label(window.start), "end": day_label(window.end)}
    return gettext("Planning d'activité – %(days)s") % {"days": days}


def _documents(plan: Plan, run: TreatmentRun) -> None:
    """The run's PDFs, in the active language (the practice's: ``treatment_run``): the frame,
    titles and column headers; the letters' own text is the practice's template, merged."""
    treatment = plan.treatment
    practice = Practice.get()
    tz = practice_tz(practice)
    footer = gettext("Édité le %(moment)s") % {"moment": moment_label(timezone.now(), tz)}
    if treatment.kind == TreatmentKind.PLANNING:
        rows = [
            pdf.ListRow(
                (
                    clock(a.start, tz),
                    a.who,
                    a.nature.code if a.nature_id else "",
                    a.chair.code if a.chair_id else "",
                    a.practitioner.initials,
                    a.get_state_display(),
                    a.remark,
                )
            )
            for a in plan.planning
        ]
        content = pdf.table_pdf(
            title=planning_title(plan.window),
            subtitle=practice.name,
            header=(gettext("Heure"), gettext("Patient"), gettext("Nature"),
                    # Abbreviated to fit their columns: "Fauteuil", "Praticien".
                    gettext("Faut."), gettext("Prat."), gettext("État"), gettext("Remarque")),
            rows=rows,
            empty=gettext("Aucun rendez-vous."),
            footer=footer,
        )
        run.document.save(f"planning-{plan.window.start:%Y-%m-%d}.pdf", ContentFile(content), save=False)
        return
    parts: list[bytes] = []
    if treatment.make_list:
        rows = [
            pdf.ListRow(
                (
                    t.patient.display_name,
                    moment_label(t.appointment.start, tz) if t.appointment else "",
                    format_fr(t.patient.mobile),
                    t.patient.email,
                )
            )
            for t in plan.targets
        ]
        parts.append(
            pdf.table_pdf(
                title=f"{treatment.title} – {plan.window.label()}",
                subtitle=ngettext("%(n)d patient", "%(n)d patients", len(plan.targets)) % {"n": len(plan.targets)},
                header=(gettext("Patient"), pgettext("colonne", "Rendez-vous"), gettext("Portable"), gettext("Email")),
                rows=rows,
                empty=gettext("Aucun patient."),
                footer=footer,
            )
        )
    if treatment.send_letter and treatment.letter_template is not None:
        custom = CustomFields.load()
        tpl = treatment.letter_template
        letters, printed = [], []
        for r in plan.letters:
            composed = compose_email(
                subject=tpl.subject, body_html=tpl.body_html, patient=r.patient, appointment=r.appointment,
                recipient=r.person, today=plan.run_date, custom=custom, practice=practice,
                # A correspondent reads @COR* and @LIBRE (their relationship with the practitioner).
                correspondent=r.person if r.role == RecipientRole.CORRESPONDENT else None,
            )
            if composed.missing:
                # Like a message (messaging.outbox): no letter with required data missing.
                run.left_out = [*run.left_out, {"name": Target(r.patient, r.appointment).label,
                                                "reason": gettext("Courrier non imprimé. ") + missing_data_text(composed.missing).shown()}]
                continue
            printed.append(r)
            letters.append(
                pdf.Letter(
                    address_lines=(r.name, *r.address.split("\n")),
                    subject=composed.subject,
                    text=composed.text,
                )
            )
        sender = tuple(x for x in (practice.name, practice.address_line) if x)
        parts.append(pdf.letters_pdf(title=treatment.title, sender_lines=sender, letters=letters,
                                     empty=gettext("Aucun courrier.")))
        _record_letters(plan, run, letters, printed)
    if parts:
        # A list and letters in one run: the list is the document kept; the letters follow it
        # as a second file only when both are asked (rare), named after the run date.
        run.document.save(f"{'liste' if treatment.make_list else 'courriers'}-{plan.run_date:%Y-%m-%d}.pdf",
                          ContentFile(parts[0]), save=False)
        if len(parts) > 1:
            from django.core.files.storage import default_storage

            default_storage.save(run.letters_name, ContentFile(parts[1]))


def _letter_recipient(r: Recipient, address_lines) -> str:
    """Who a letter goes to, for its history key, when a patient's letters may go to several
    people (their correspondents); "" otherwise (the key the letters always had)."""
    return "\n".join(address_lines) if r.role == RecipientRole.CORRESPONDENT else ""


def _record_letters(plan: Plan, run: TreatmentRun, letters: list[pdf.Letter], recipients: list[Recipient]) -> None:
    """Each letter of the run in its patient's history (one query); a run done again for the
    same date (a retry) records nothing twice."""
    from messaging.letters import record_printed
    from messaging.models import LetterOrigin, PrintedLetter, letter_dedupe_key

    treatment = plan.treatment
    label = gettext("%(title)s du %(date)s") % {"title": treatment.title, "date": f"{plan.run_date:%d/%m/%Y}"}
    scope = f"{treatment.pk}:{plan.run_date:%Y-%m-%d}"
    record_printed([
        PrintedLetter(
            patient_id=r.patient.pk, origin=LetterOrigin.TREATMENT, origin_label=label,
            template_name=treatment.letter_template.label, recipient_name=letter.address_lines[0],
            address_lines=list(letter.address_lines[1:]), subject=letter.subject, text=letter.text,
            letter_date=plan.run_date, printed_by_id=run.requested_by_id,
            dedupe_key=letter_dedupe_key(LetterOrigin.TREATMENT, scope, r.patient.pk, letter.text,
                                         recipient=_letter_recipient(r, letter.address_lines)),
        )
        for r, letter in zip(recipients, letters, strict=True)
    ])


@practice_speaking
def _send_planning(plan: Plan, run: TreatmentRun) -> None:
    """The day's planning to the chosen staff: an internal email with the PDF, sent through the
    site's own mail settings (it is not a patient message and has no place in the outbox).

    Called once the run is committed, never inside its transaction: on SQLite (the demo) the
    transaction holds the database file, and the demo's mail server, which stores what it
    receives in that file, would wait for it while the run waited for the server. A refused
    email fails the run with the reason (and a run that failed is executed again)."""
    if not plan.staff or not run.document:
        return
    run.document.open("rb")
    try:
        content = run.document.read()
    finally:
        run.document.close()
    count = len(plan.planning)
    email = EmailMessage(
        subject=planning_title(plan.window),
        body=gettext("Bonjour,\n\nVoici le planning d'activité (%(count)s).\n") % {
            "count": ngettext("%(n)d rendez-vous", "%(n)d rendez-vous", count) % {"n": count}},
        to=[u.email for u in plan.staff],
    )
    email.attach(run.document.name.rsplit("/", 1)[-1], content, "application/pdf")
    try:
        email.send()
    except Exception as exc:  # noqa: BLE001 - recorded on the run, shown in the trace
        logger.exception("Planning of treatment %s not sent", run.treatment_id)
        run.status, run.error = RunStatus.FAILED, gettext("Planning non envoyé : %(error)s") % {
            "error": f"{type(exc).__name__}: {exc}"}
        TreatmentRun.objects.filter(pk=run.pk).update(status=run.status, error=run.error)
        return
    run.sent = len(plan.staff)
    TreatmentRun.objects.filter(pk=run.pk).update(sent=run.sent)


def run_counts(run: TreatmentRun) -> dict[str, int]:
    """Live counts of the run's messages by outcome (one query)."""
    agg = Message.objects.filter(tracking__run=run).aggregate(
        sent=Count("pk", filter=Q(status__in=[MessageStatus.SENT, MessageStatus.DELIVERED])),
        failed=Count("pk", filter=Q(status__in=[MessageStatus.FAILED, MessageStatus.UNKNOWN])),
        skipped=Count("pk", filter=Q(status__in=[MessageStatus.SKIPPED, MessageStatus.CANCELLED])),
        waiting=Count("pk", filter=Q(status__in=[MessageStatus.PENDING, MessageStatus.SENDING])),
    )
    return {k: v or 0 for k, v in agg.items()}


def run_refresh_counts(run: TreatmentRun) -> TreatmentRun:
    """Store the live counts on the run (the dispatch happens after the run itself)."""
    if run.treatment.kind == TreatmentKind.PLANNING:
        return run
    counts = run_counts(run)
    counts["skipped"] += len(run.left_out or [])
    changed = [k for k, v in counts.items() if getattr(run, k) != v]
    if changed:
        for k in changed:
            setattr(run, k, counts[k])
        TreatmentRun.objects.filter(pk=run.pk).update(**{k: counts[k] for k in changed})
    return run


def _resume(run: TreatmentRun) -> None:
    """Queue the dispatch of what the run left PENDING (a dispatch interrupted by a crash)."""
    from django_q.tasks import async_task

    pending = (
        Message.objects.filter(tracking__run=run, status=MessageStatus.PENDING)
        .values_list("mailing_id", flat=True)
        .distinct()
    )
    for mailing_id in pending:
        transaction.on_commit(
            lambda m=mailing_id: async_task("messaging.tasks.dispatch_task", mailing_id=m, task_name=f"envoi-{m}")
        )


def _execute(run: TreatmentRun, plan: Plan, requested_by) -> None:
    from messaging.outbox import mailing_create

    treatment = plan.treatment
    run.window_start, run.window_end = plan.window.start, plan.window.end
    run.left_out = [{"name": x.name, "reason": x.reason} for x in plan.left_out]
    run.targeted = len(plan.targets) if treatment.kind != TreatmentKind.PLANNING else len(plan.planning)
    for batch in plan.batches:
        mailing = mailing_create(
            channel=batch.channel,
            origin=MailingOrigin.TREATMENT,
            requested_by=requested_by,
            recipients=batch.recipients,
            template=batch.template,
            idempotency_key=mailing_key(treatment.pk, plan.run_date, batch.key),
            label=f"{treatment.title} – {plan.run_date:%d/%m/%Y}",
            today=plan.run_date,
            purpose=message_purpose(treatment.kind),
        )
        run.mailings.add(mailing)
        track_mailing(mailing=mailing, purpose=plan.purpose, run=run)
    _documents(plan, run)
    if treatment.kind == TreatmentKind.PLANNING:
        transaction.on_commit(partial(_send_planning, plan, run))


@practice_speaking
def treatment_run(
    *,
    treatment: Treatment,
    run_date: dt.date,
    trigger: str = RunTrigger.SCHEDULE,
    requested_by=None,
) -> TreatmentRun:
    """Execute ``treatment`` for ``run_date`` once; return its run.

    A run already DONE for that date is returned as it is (its unsent PENDING messages are handed
    to dispatch again); a FAILED or unfinished one is executed again. A failure is recorded on the
    run (status FAILED, error text) and not raised. Messages leave after the commit.

    Runs in the practice's language whoever starts it (its schedule, ``runjob``, "Exécuter
    maintenant" on a page): what it writes (reasons, error, PDFs, the planning email) is stored
    with the run or sent to others, and read later by anyone."""
    run, _ = TreatmentRun.objects.get_or_create(
        treatment=treatment, run_date=run_date, defaults={"trigger": trigger, "requested_by": requested_by}
    )
    with transaction.atomic():
        run = TreatmentRun.objects.select_for_update().select_related("treatment").get(pk=run.pk)
        if run.status == RunStatus.DONE:
            _resume(run)
            return run
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = timezone.now()
        run.trigger = trigger
        run.requested_by = requested_by or run.requested_by
        run.error = ""
        try:
            with transaction.atomic():
                plan = treatment_plan(treatment=treatment, run_date=run_date)
                _execute(run, plan, requested_by)
        except Exception as exc:  # noqa: BLE001 - recorded on the run, shown in the trace
            logger.exception("Treatment %s failed for %s", treatment.pk, run_date)
            run.status = RunStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"
        else:
            run.status = RunStatus.DONE
        run.finished_at = timezone.now()
        run.save()
        transaction.on_commit(lambda: _after_commit(run.pk))
    return run


def _after_commit(run_id: int) -> None:
    """Refresh the counts once the messages had their chance to leave, then report to the
    verifiers (or wait for the queued ones: ``scheduler.tasks.report_run``)."""
    from .reports import run_report_when_settled

    run_report_when_settled(run_id=run_id)


# ---------------------------------------------------------------------------------------------
# The reminder follows the appointment
# ---------------------------------------------------------------------------------------------


@practice_speaking
def reminder_requeue(*, appointment: Appointment, runs: list[TreatmentRun]) -> list:
    """After ``appointment`` moved, queue a new reminder with its new time for each run whose
    reminder was cancelled and whose window still holds the new start. Returns the mailings."""
    from messaging.outbox import mailing_create

    from .services import practice_tz

    tz = practice_tz()
    mailings = []
    appointment = (
        Appointment.objects.select_related(
            "patient", "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian",
            "practitioner", "chair", "nature",
        )
        .get(pk=appointment.pk)
    )
    if appointment.patient_id is None or appointment.state != AppointmentState.FUTURE:
        return mailings
    practice = Practice.get()
    for run in runs:
        treatment = run.treatment
        window = run.window
        if window is None or not window.contains(appointment.start, tz):
            continue
        found = audience(appointment.patient, plan=channel_plan(treatment, practice), appointment=appointment)
        batches = [
            Batch(Channel.SMS, "sms", treatment.sms_template, found.sms),
            Batch(Channel.EMAIL, "email", treatment.email_template, found.email),
            Batch(Channel.EMAIL, "email-sans-portable", treatment.email_template, found.email_no_mobile),
        ]
        stamp = appointment.start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M")
        for batch in batches:
            if not batch.recipients:
                continue
            mailing = mailing_create(
                channel=batch.channel,
                origin=MailingOrigin.TREATMENT,
                requested_by=None,
                recipients=batch.recipients,
                template=batch.template,
                idempotency_key=mailing_key(treatment.pk, run.run_date, f"{batch.key}:rdv{appointment.pk}@{stamp}"),
                label=gettext("%(title)s – rendez-vous déplacé") % {"title": treatment.title},
                today=run.run_date,
                purpose=message_purpose(treatment.kind),
            )
            run.mailings.add(mailing)
            track_mailing(mailing=mailing, purpose=TrackedPurpose.REMINDER, run=run)
            mailings.append(mailing)
    return mailings

