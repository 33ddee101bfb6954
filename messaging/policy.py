"""Who receives what: the one recipient policy of every route.

A single send from the patient file, a mass mailing, a campaign, a treatment run, an event
message and the reminder re-queued after a move all ask ``audience`` which people (the patient,
the civil or financial guardian) receive a message about a patient, on which channel. The
answer carries, for everyone left out, a ``Reason``: a code with a French label. Code compares
codes, never the French text (the text may be more precise than the label: "Le numéro
03.80.32.01.40 n'est pas un portable valide.").

The rules, in order:

* each candidate is checked for the channel: consent (a STOP reply turns the SMS consent off),
  then the address (no mobile, a landline in the mobile field, an invalid number; no email, an
  invalid email);
* the roles asked for are tried first (the practice's SMS defaults, the email type's recipient);
  a guardian role held by the patient themself (no guardian on file) and an address already
  chosen count once;
* when none of them can receive it, the first other member of the family who can does (a
  child's reminder goes to the parent whose mobile is on file);
* when nobody can, the candidates of the roles asked for are kept with their reason, so the
  outbox records why nothing was sent;
* "email when there is no mobile": the email goes only when nobody of the family could get the
  SMS for lack of a mobile (a refusal of SMS is not a missing mobile), and never on top of an
  email the plan sends anyway.

The purpose rule (one message per appointment, purpose and channel within the practice's
period) lives in ``messaging.purpose``; it reuses these reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from messaging.models import Channel, RecipientRole
from messaging.reasons import Why, joined
from patients.models import Appointment, Correspondent, Guardian, Patient
from patients.phones import format_fr, is_mobile, mobile_number, normalize


class Reason(models.TextChoices):
    """Why someone does not receive a message (or a message does not leave)."""

    NO_SMS_CONSENT = "no-sms-consent", gettext_lazy("Ne souhaite pas recevoir de SMS.")
    STOP = "stop", gettext_lazy("A répondu STOP : ne reçoit plus de SMS.")
    NO_EMAIL_CONSENT = "no-email-consent", gettext_lazy("Ne souhaite pas être contacté(e) par email.")
    NO_MOBILE = "no-mobile", gettext_lazy("Aucun numéro de portable.")
    LANDLINE = "landline", gettext_lazy("Numéro fixe à la place du portable.")
    INVALID_NUMBER = "invalid-number", gettext_lazy("Numéro de portable non valide.")
    NO_EMAIL = "no-email", gettext_lazy("Aucune adresse email.")
    INVALID_EMAIL = "invalid-email", gettext_lazy("Adresse email non valide.")
    NO_POSTAL_ADDRESS = "no-postal-address", gettext_lazy("Aucune adresse postale.")
    NO_CORRESPONDENT = "no-correspondent", gettext_lazy("Aucun correspondant dans le dossier du patient.")
    NO_NEWS_CONSENT = "no-news-consent", gettext_lazy("N'a pas accepté les actualités du cabinet.")
    NEWS_UNKNOWN = "news-unknown", gettext_lazy("Aucun dossier patient à cette adresse : accord pour les actualités inconnu.")
    SAME_RECIPIENT = "same-recipient", gettext_lazy("Même destinataire dans cet envoi : un seul message envoyé.")
    ALREADY_SENT = "already-sent", gettext_lazy("Déjà envoyé pour cet objet.")
    ALREADY_PLANNED = "already-planned", gettext_lazy("Déjà prévu pour cet objet.")
    EMPTY_MESSAGE = "empty-message", gettext_lazy("Le message est vide pour ce destinataire.")
    CONFIRMED_BY_SMS = "confirmed-by-sms", gettext_lazy("RDV confirmé par SMS.")
    NUMBER_CHANGED = "number-changed", gettext_lazy(
        "Ce numéro ne figure plus dans le dossier (portable changé depuis l'écriture du message) : "
        "écrivez au nouveau numéro."
    )
    MISSING_DATA = "missing-data", gettext_lazy("Données manquantes : message non envoyé.")


def missing_data_text(missing) -> Why:
    """What staff read for a message left out (``Reason.MISSING_DATA``) because required merge
    data is missing for its recipient (``messaging.merge.MissingField`` items, as the compose
    functions return them): "Données manquantes : @RDV1 (…) : aucun rendez-vous choisi.".
    A ``messaging.reasons.Why``: stored in French with its msgid, shown in the reader's language
    (a template renders it so; ``.shown()`` for the active language as text)."""
    return Why(gettext_noop("Données manquantes : %(details)s"), details=joined(m.why or m.text for m in missing))


def missing_data_note(missing) -> str:
    """The note of a message staff chose to send although required data is missing."""
    codes = ", ".join(m.code for m in missing)
    return gettext("Envoyé malgré des données manquantes (%(codes)s), à la demande du personnel.") % {
        "codes": codes}


# Reasons that mean "cannot get an SMS for lack of a mobile", as opposed to a refusal: what
# "email when there is no mobile" looks at.
NO_MOBILE_REASONS = frozenset({Reason.NO_MOBILE, Reason.LANDLINE, Reason.INVALID_NUMBER})
# Reasons of the purpose rule: the person could receive it, but it was already sent or planned.
DUPLICATE_REASONS = frozenset({Reason.ALREADY_SENT, Reason.ALREADY_PLANNED})

ROLE_LABELS = {
    RecipientRole.PATIENT: gettext_lazy("Patient"),
    RecipientRole.CIVIL_GUARDIAN: gettext_lazy("Resp. civil"),
    RecipientRole.FINANCIAL_GUARDIAN: gettext_lazy("Resp. financier"),
    RecipientRole.CORRESPONDENT: gettext_lazy("Correspondant"),
    RecipientRole.OTHER: gettext_lazy("Autre"),
}
ROLE_ORDER = (RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN)


# Frozen for real: measured on 10,000 recipients (the mass mailing's bench size), the generated
# __init__ of a frozen dataclass with slots costs about 8 ms more than a plain one, under 1% of
# the mailing line of bench/run.py.
@dataclass(frozen=True, slots=True)
class Recipient:
    """One person to write to about ``patient``, on ``channel``: a value.

    ``address`` is the E.164 number (SMS), the email address or the postal address (lines joined
    by new lines), "" when there is none. ``person`` is the Patient or Guardian who reads it
    (None for a bare number typed by hand). ``is_patient_self`` marks a guardian role held by
    the patient themself (no guardian on file). When they must not be written to, ``reason`` is
    the code and ``skip_reason`` its text for staff (the label, or a more precise sentence).
    The appointment the message is about is not part of its identity."""

    role: str
    name: str
    address: str
    channel: str
    patient: Patient | None = None
    person: Patient | Guardian | object | None = None
    skip_reason: str = ""
    is_patient_self: bool = False
    appointment: Appointment | None = field(default=None, compare=False)
    reason: Reason | None = None
    # The recipients (same number, other appointments of the same day) this one message stands
    # for too: one SMS to a family's number (scheduler.family). The outbox links every
    # appointment to the message (CoveredAppointment).
    grouped: tuple[Recipient, ...] = field(default=(), compare=False)

    @property
    def sendable(self) -> bool:
        return not self.skip_reason

    @property
    def role_label(self) -> str:
        return str(ROLE_LABELS.get(self.role, self.role))

    @property
    def address_display(self) -> str:
        if self.channel == Channel.SMS:
            return format_fr(self.address) or self.address
        return self.address

    @property
    def key(self) -> str:
        """Stable identifier of this choice in a form: role and address."""
        return f"{self.role}:{self.address}"

    def left_out(self, reason: Reason, text: str = "") -> Recipient:
        """This recipient, not written to for ``reason`` (``text``: a more precise sentence)."""
        return Recipient(self.role, self.name, self.address, self.channel, self.patient, self.person,
                         text or str(reason.label), self.is_patient_self, self.appointment, reason, self.grouped)

    @property
    def appointments(self) -> tuple[Appointment, ...]:
        """Every appointment the message is about: its own, then those it lists with it."""
        own = (self.appointment,) if self.appointment is not None else ()
        return own + tuple(r.appointment for r in self.grouped if r.appointment is not None)

    def with_grouped(self, others) -> Recipient:
        """This recipient, its message standing for ``others`` too (same number, same day)."""
        return Recipient(self.role, self.name, self.address, self.channel, self.patient, self.person,
                         self.skip_reason, self.is_patient_self, self.appointment, self.reason, tuple(others))


# ---------------------------------------------------------------------------------------------
# One person on one channel
# ---------------------------------------------------------------------------------------------


def sms_check(person) -> tuple[str, Reason | None, str]:
    """(E.164 number or what is on file, reason, text) of ``person`` for an SMS."""
    raw = str(person.mobile or "")
    if not person.sms_consent:
        return raw, Reason.NO_SMS_CONSENT, str(Reason.NO_SMS_CONSENT.label)
    if not raw:
        return raw, Reason.NO_MOBILE, str(Reason.NO_MOBILE.label)
    number, mobile = mobile_number(raw)
    if not mobile:
        reason = Reason.LANDLINE if number else Reason.INVALID_NUMBER
        return number or raw, reason, gettext("Le numéro %(number)s n'est pas un portable valide.") % {
            "number": format_fr(raw) or raw}
    return number, None, ""


def email_check(person) -> tuple[str, Reason | None, str]:
    """(address, reason, text) of ``person`` for an email."""
    address = (person.email or "").strip()
    if not person.email_consent:
        return address, Reason.NO_EMAIL_CONSENT, str(Reason.NO_EMAIL_CONSENT.label)
    if not address:
        return address, Reason.NO_EMAIL, str(Reason.NO_EMAIL.label)
    try:
        validate_email(address)
    except ValidationError:
        return address, Reason.INVALID_EMAIL, gettext("L'adresse %(address)s n'est pas valide.") % {"address": address}
    return address, None, ""


def role_person(patient: Patient, role: str) -> tuple[Patient | Guardian, bool]:
    """Who holds ``role`` (patient, civil, financial) for ``patient``, and whether it is the
    patient themself standing as their own guardian (no guardian on file)."""
    if role == RecipientRole.PATIENT:
        return patient, False
    if role == RecipientRole.CIVIL_GUARDIAN:
        if patient.civil_guardian_id is None:
            return patient, True
        return patient.civil_guardian, False
    if role == RecipientRole.FINANCIAL_GUARDIAN:
        if patient.financial_guardian_id is None:
            return patient, True
        return patient.financial_guardian, False
    raise ValueError(gettext("Rôle de destinataire inconnu pour un patient : %(role)s") % {"role": role})


def person_recipient(person, *, patient: Patient, channel: str, role: str, is_self: bool = False,
                     appointment: Appointment | None = None) -> Recipient:
    """The candidate ``person`` (the patient or a guardian) holding ``role`` for ``patient``."""
    if channel == Channel.SMS:
        address, reason, text = sms_check(person)
    elif channel == Channel.EMAIL:
        address, reason, text = email_check(person)
    else:
        raise ValueError(gettext("Canal sans destinataire électronique : %(channel)s") % {"channel": channel})
    return Recipient(role, person.display_name, address, channel, patient, person, text, is_self, appointment,
                     reason)


def recipient_for(*, patient: Patient, channel: str, role: str, appointment: Appointment | None = None) -> Recipient:
    """The candidate of ``role`` (patient, civil, financial) for ``patient`` on ``channel``."""
    person, is_self = role_person(patient, role)
    return person_recipient(person, patient=patient, channel=channel, role=role, is_self=is_self,
                            appointment=appointment)


def correspondent_recipients(*, patient: Patient, channel: str,
                             appointment: Appointment | None = None) -> list[Recipient]:
    """The patient's correspondents (``patients.models.PatientCorrespondent``, in the order they
    were added) as candidates of the correspondent role on ``channel``, each with its reason
    when it cannot receive it; [] when the patient has none. ``person`` is the Correspondent:
    the merge reads its relationship with the practitioner (@LIBRE fields). One query unless
    the links were prefetched."""
    links = sorted(patient.correspondent_links.all(), key=lambda link: link.pk)
    return [person_recipient(link.correspondent, patient=patient, channel=channel,
                             role=RecipientRole.CORRESPONDENT, appointment=appointment) for link in links]


def recipients_for(*, patient: Patient, channel: str) -> list[Recipient]:
    """Every candidate of ``patient`` on ``channel`` (patient, civil guardian, financial
    guardian, in that order, then the correspondents for an email) with its reason when it
    cannot receive it: what the send window lists. Load the patient with
    ``select_related("civil_guardian", "financial_guardian")``."""
    found = [recipient_for(patient=patient, channel=channel, role=role) for role in ROLE_ORDER]
    if channel == Channel.EMAIL:
        found += correspondent_recipients(patient=patient, channel=channel)
    return found


def letter_recipient(patient: Patient, *, appointment: Appointment | None = None) -> Recipient:
    """Who a letter about ``patient`` is addressed to (the civil guardian when there is one),
    with the postal address as ``address`` (lines joined by new lines)."""
    guardian = patient.civil_guardian
    person = guardian if guardian is not None else patient
    lines = person.address_lines or (patient.address_lines if guardian is not None else [])
    reason = None if lines else Reason.NO_POSTAL_ADDRESS
    return Recipient(
        RecipientRole.CIVIL_GUARDIAN if guardian is not None else RecipientRole.PATIENT,
        person.display_name, "\n".join(lines), Channel.LETTER, patient, person,
        str(reason.label) if reason else "", False, appointment, reason,
    )


def correspondent_letters(patient: Patient, *, appointment: Appointment | None = None) -> list[Recipient]:
    """A letter to each of the patient's correspondents (an email type naming the
    correspondent, printed), with their postal address; one left out with its reason when the
    patient has none."""
    out = []
    for link in sorted(patient.correspondent_links.all(), key=lambda link: link.pk):
        person = link.correspondent
        lines = person.address_lines
        reason = None if lines else Reason.NO_POSTAL_ADDRESS
        out.append(Recipient(RecipientRole.CORRESPONDENT, person.display_name, "\n".join(lines), Channel.LETTER,
                             patient, person, str(reason.label) if reason else "", False, appointment, reason))
    if not out:
        nobody = Recipient(RecipientRole.CORRESPONDENT, "", "", Channel.LETTER, patient, None, "", False, appointment)
        out.append(nobody.left_out(Reason.NO_CORRESPONDENT))
    return out


def number_recipient(*, number: str, name: str = "", patient: Patient | None = None) -> Recipient:
    """A recipient typed by hand (a test SMS): the number must be a valid mobile."""
    e164 = normalize(number)
    reason = None if e164 and is_mobile(e164) else (Reason.LANDLINE if e164 else Reason.INVALID_NUMBER)
    return Recipient(
        RecipientRole.OTHER, name or format_fr(e164 or number) or number, e164 or number, Channel.SMS, patient,
        None, gettext("Le numéro %(number)s n'est pas un portable valide.") % {"number": number} if reason else "",
        False, None, reason,
    )


# ---------------------------------------------------------------------------------------------
# The decision: who receives it, on which channel
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """What a route sends about one patient: SMS, email, "email when there is no mobile",
    letter; to whom first (``sms_roles``: the practice's SMS defaults; ``email_roles``: the
    email type's recipient)."""

    sms: bool = False
    email: bool = False
    email_when_no_mobile: bool = False
    letter: bool = False
    sms_roles: tuple[str, ...] = (RecipientRole.PATIENT,)
    email_roles: tuple[str, ...] = (RecipientRole.PATIENT,)

    @classmethod
    def only(cls, channel: str, *, practice=None, email_role: str | None = None) -> ChannelPlan:
        """The plan of a route that sends on one ``channel`` (a mass mailing, an event message)."""
        return cls(
            sms=channel == Channel.SMS,
            email=channel == Channel.EMAIL,
            letter=channel == Channel.LETTER,
            sms_roles=sms_roles(practice) if channel == Channel.SMS else (RecipientRole.PATIENT,),
            email_roles=email_roles(email_role),
        )


def sms_roles(practice) -> tuple[str, ...]:
    """The roles an SMS goes to first: the practice's defaults ("SMS coché par défaut"), the
    patient when none is ticked."""
    if practice is None:
        return (RecipientRole.PATIENT,)
    wanted = {
        RecipientRole.PATIENT: practice.sms_default_patient,
        RecipientRole.CIVIL_GUARDIAN: practice.sms_default_civil_guardian,
        RecipientRole.FINANCIAL_GUARDIAN: practice.sms_default_financial_guardian,
    }
    return tuple(r for r in ROLE_ORDER if wanted[r]) or (RecipientRole.PATIENT,)


def email_roles(role: str | None) -> tuple[str, ...]:
    """The role an email goes to first: the email type's recipient (the patient otherwise)."""
    return (role,) if role in (*ROLE_ORDER, RecipientRole.CORRESPONDENT) else (RecipientRole.PATIENT,)


@dataclass(slots=True)
class Audience:
    """The answer of ``audience``. Each list holds the recipients to write to on that channel;
    when nobody can receive it, the people asked for with their reason (the outbox records
    them as not sent). ``email_no_mobile``: the email sent because nobody had a mobile."""

    sms: list[Recipient] = field(default_factory=list)
    email: list[Recipient] = field(default_factory=list)
    email_no_mobile: list[Recipient] = field(default_factory=list)
    letter: list[Recipient] = field(default_factory=list)

    def on(self, channel: str) -> list[Recipient]:
        return {Channel.SMS: self.sms, Channel.EMAIL: self.email, Channel.LETTER: self.letter}[channel]

    @property
    def everyone(self) -> list[Recipient]:
        return [*self.sms, *self.email, *self.email_no_mobile, *self.letter]


def _channel_recipients(patient: Patient, channel: str, roles: tuple[str, ...],
                        appointment: Appointment | None) -> tuple[list[Recipient], bool]:
    """The recipients of ``patient`` on ``channel`` (see the module's rules), and whether
    nobody could get it for lack of a mobile."""
    if roles == (RecipientRole.CORRESPONDENT,):
        # Written to a colleague about the patient: never the family instead.
        found = correspondent_recipients(patient=patient, channel=channel, appointment=appointment)
        if not found:
            nobody = Recipient(RecipientRole.CORRESPONDENT, "", "", channel, patient, None, "", False, appointment)
            return [nobody.left_out(Reason.NO_CORRESPONDENT)], False
        return [r for r in found if r.reason is None] or found, False
    chosen: list[Recipient] = []
    seen: set[str] = set()
    with_patient = RecipientRole.PATIENT in roles
    for role in roles:
        person, is_self = role_person(patient, role)
        if is_self and with_patient:
            continue  # the patient standing as their own guardian: the same person
        r = person_recipient(person, patient=patient, channel=channel, role=role, is_self=is_self,
                             appointment=appointment)
        if r.reason is None:
            if r.address in seen:
                continue
            seen.add(r.address)
        chosen.append(r)
    sendable = [r for r in chosen if r.reason is None]
    if sendable:
        return sendable, False
    # Nobody asked for can receive it: the first other member of the family who can.
    family: list[Recipient] = []
    for role in ROLE_ORDER:
        if role in roles:
            continue
        person, is_self = role_person(patient, role)
        if is_self:
            continue
        r = person_recipient(person, patient=patient, channel=channel, role=role, appointment=appointment)
        if r.reason is None:
            return [r], False
        family.append(r)
    if not chosen:  # only guardian roles asked, all held by the patient themself
        chosen = [recipient_for(patient=patient, channel=channel, role=RecipientRole.PATIENT,
                                appointment=appointment)]
    no_mobile = all(r.reason in NO_MOBILE_REASONS for r in (*chosen, *family))
    return chosen, no_mobile


def audience(patient: Patient, *, plan: ChannelPlan, appointment: Appointment | None = None) -> Audience:
    """Who receives a message about ``patient`` (and ``appointment``) on each channel of
    ``plan``; everyone left out carries a ``Reason``. Reads only what is loaded on the patient
    (load it with ``select_related("civil_guardian", "financial_guardian")``): no query."""
    out = Audience()
    no_mobile = False
    if plan.sms or plan.email_when_no_mobile:
        sms, no_mobile = _channel_recipients(patient, Channel.SMS, plan.sms_roles, appointment)
        if plan.sms:
            out.sms = sms
    if plan.email:
        out.email, _ = _channel_recipients(patient, Channel.EMAIL, plan.email_roles, appointment)
    elif plan.email_when_no_mobile and no_mobile:
        out.email_no_mobile, _ = _channel_recipients(patient, Channel.EMAIL, plan.email_roles, appointment)
    if plan.sms and plan.email_when_no_mobile and out.email_no_mobile:
        out.sms = []  # the email replaces the SMS nobody could get
    if plan.letter and plan.email_roles == (RecipientRole.CORRESPONDENT,):
        out.letter = correspondent_letters(patient, appointment=appointment)
    elif plan.letter:
        out.letter = [letter_recipient(patient, appointment=appointment)]
    return out


def writes_to_correspondents(plan: ChannelPlan) -> bool:
    return plan.email_roles == (RecipientRole.CORRESPONDENT,) and (plan.email or plan.email_when_no_mobile
                                                                   or plan.letter)


def load_for(patients, *, plan: ChannelPlan) -> None:
    """Load on ``patients`` what ``audience`` reads for ``plan`` beyond the guardians (which the
    patients' query selects): their correspondents and the correspondents' relationships with
    the practitioners, when the plan writes to correspondents. Two queries for any number of
    patients, where reading them one patient at a time cost two per patient."""
    if writes_to_correspondents(plan):
        from django.db.models import prefetch_related_objects

        from patients.selectors import correspondent_links_prefetch

        prefetch_related_objects(list(patients), correspondent_links_prefetch())


def address_owners_reason(channel: str, owners: list[Patient], *, news: bool, staff: bool = False) -> Reason | None:
    """Why an address of a campaign's list (pasted, imported) must not receive it, or None:
    every patient file holding the address must agree (a withdrawal on one of them wins); news
    go only to patients who accepted news (an address of no patient file cannot have). The
    practice's own staff get internal messages whatever the patients' consents."""
    if staff:
        return None
    consent = "sms_consent" if channel == Channel.SMS else "email_consent"
    if owners and not all(getattr(p, consent) for p in owners):
        return Reason.NO_SMS_CONSENT if channel == Channel.SMS else Reason.NO_EMAIL_CONSENT
    if news:
        if not owners:
            return Reason.NEWS_UNKNOWN
        if not all(p.news_consent for p in owners):
            return Reason.NO_NEWS_CONSENT
    return None


# ---------------------------------------------------------------------------------------------
# Consent and STOP, read fresh: the last-moment check of a message
# ---------------------------------------------------------------------------------------------


def consent_reason(person, channel: str, purpose: str | None = None) -> Reason | None:
    """Why ``person`` (a Patient or Guardian, read fresh) must not get a message on
    ``channel`` now, or None. An SMS refused after a STOP reply says so. ``purpose`` is
    accepted for the rules that depend on it (care messages and news share the channel
    consents; news consent is the campaigns' own rule). At most one query (the STOP lookup)."""
    if person is None:
        return None
    if channel == Channel.SMS and not person.sms_consent:
        from messaging.models import InboundMessage

        number = str(person.mobile or "")
        if number and InboundMessage.objects.filter(from_number=number, is_stop=True).exists():
            return Reason.STOP
        return Reason.NO_SMS_CONSENT
    if channel == Channel.EMAIL and not person.email_consent:
        return Reason.NO_EMAIL_CONSENT
    return None


def correspondent_consent_reason(patient: Patient, channel: str, address: str) -> Reason | None:
    """Why a message to ``address`` as ``patient``'s correspondent must not leave now, or None:
    the consent of the patient's correspondents who hold that address, read fresh (a message
    names its correspondent by address only). One query; none of them holding it any more
    (the link was removed) leaves the decision to the other checks."""
    field = "email__iexact" if channel == Channel.EMAIL else "mobile"
    holders = Correspondent.objects.filter(patient_links__patient=patient, **{field: address})
    for correspondent in holders:
        reason = consent_reason(correspondent, channel)
        if reason is not None:
            return reason
    return None


def number_stop_reason(number: str) -> Reason | None:
    """Reason.STOP when an SMS to ``number``, a number held as such (typed, pasted in a
    campaign's list) rather than through a person's file, must not leave because that number
    replied STOP; else None. When patient or guardian files hold the number, their SMS consent
    decides, as everywhere else (staff may have set it again since the STOP); for a number no
    file holds, the STOP reply is the only record of the refusal. One query when no STOP came
    from the number (the usual case)."""
    from messaging.models import InboundMessage

    number = str(number or "")
    if not number or not InboundMessage.objects.filter(from_number=number, is_stop=True).exists():
        return None
    consents = [*Patient.objects.filter(mobile=number).values_list("sms_consent", flat=True),
                *Guardian.objects.filter(mobile=number).values_list("sms_consent", flat=True)]
    return None if consents and all(consents) else Reason.STOP

