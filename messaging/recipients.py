"""Who receives a message about a patient, on a channel.

For one patient: the patient, the civil guardian and the financial guardian (a missing guardian
means the patient is their own guardian, as in the patient file). Each candidate carries the
address or number to use and, when they must not be written to, a skip reason in plain French:
no consent for the channel, no valid mobile (SMS), no email address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from messaging.models import Channel, RecipientRole
from patients.models import Appointment, Guardian, Patient
from patients.phones import format_fr, is_mobile, mobile_number, normalize

ROLE_LABELS = {
    RecipientRole.PATIENT: "Patient",
    RecipientRole.CIVIL_GUARDIAN: "Resp. civil",
    RecipientRole.FINANCIAL_GUARDIAN: "Resp. financier",
    RecipientRole.CORRESPONDENT: "Correspondant",
    RecipientRole.OTHER: "Autre",
}


@dataclass(frozen=True, init=False)
class Recipient:
    """One person to write to about ``patient``.

    ``address`` is the E.164 number (SMS) or the email address, "" when there is none.
    ``person`` is the Patient or Guardian who reads it (None for a bare number typed by hand).
    ``is_patient_self`` marks a guardian role held by the patient themself (no guardian on file).
    """

    role: str
    name: str
    address: str
    channel: str
    patient: Patient | None = None
    person: Patient | Guardian | None = None
    skip_reason: str = ""
    is_patient_self: bool = False
    appointment: Appointment | None = field(default=None, compare=False)

    def __init__(self, role: str, name: str, address: str, channel: str, patient: Patient | None = None,
                 person: Patient | Guardian | None = None, skip_reason: str = "", is_patient_self: bool = False,
                 appointment: Appointment | None = None) -> None:
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__: three times slower, for the thousands of recipients of a mailing.
        self.__dict__.update(role=role, name=name, address=address, channel=channel, patient=patient, person=person,
                             skip_reason=skip_reason, is_patient_self=is_patient_self, appointment=appointment)

    @property
    def sendable(self) -> bool:
        return not self.skip_reason

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def address_display(self) -> str:
        if self.channel == Channel.SMS:
            return format_fr(self.address) or self.address
        return self.address

    @property
    def key(self) -> str:
        """Stable identifier of this choice in a form: role and address."""
        return f"{self.role}:{self.address}"


def _sms_candidate(role: str, person, patient: Patient, *, is_self: bool, appointment=None) -> Recipient:
    raw = str(person.mobile or "")
    number, mobile = mobile_number(raw) if raw else (None, False)
    reason = ""
    if not person.sms_consent:
        reason = "Ne souhaite pas recevoir de SMS."
    elif not raw:
        reason = "Aucun numéro de portable."
    elif not mobile:
        reason = f"Le numéro {format_fr(raw) or raw} n'est pas un portable valide."
    return Recipient(
        role=role,
        name=person.display_name,
        address=number or raw,
        channel=Channel.SMS,
        patient=patient,
        person=person,
        skip_reason=reason,
        is_patient_self=is_self,
        appointment=appointment,
    )


def _email_candidate(role: str, person, patient: Patient, *, is_self: bool, appointment=None) -> Recipient:
    address = (person.email or "").strip()
    reason = ""
    if not person.email_consent:
        reason = "Ne souhaite pas être contacté(e) par email."
    elif not address:
        reason = "Aucune adresse email."
    else:
        try:
            validate_email(address)
        except ValidationError:
            reason = f"L'adresse {address} n'est pas valide."
    return Recipient(
        role=role,
        name=person.display_name,
        address=address,
        channel=Channel.EMAIL,
        patient=patient,
        person=person,
        skip_reason=reason,
        is_patient_self=is_self,
        appointment=appointment,
    )


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
    raise ValueError(f"Rôle de destinataire inconnu pour un patient : {role}")


def recipient_for(*, patient: Patient, channel: str, role: str, appointment: Appointment | None = None) -> Recipient:
    """The candidate of ``role`` (patient, civil, financial) for ``patient`` on ``channel``,
    writing about ``appointment`` when given."""
    person, is_self = role_person(patient, role)
    return person_recipient(person, patient=patient, channel=channel, role=role, is_self=is_self,
                            appointment=appointment)


def person_recipient(person, *, patient: Patient, channel: str, role: str, is_self: bool = False,
                     appointment: Appointment | None = None) -> Recipient:
    """The candidate ``person`` (the patient or a guardian) holding ``role`` for ``patient``."""
    if channel == Channel.SMS:
        return _sms_candidate(role, person, patient, is_self=is_self, appointment=appointment)
    if channel == Channel.EMAIL:
        return _email_candidate(role, person, patient, is_self=is_self, appointment=appointment)
    raise ValueError(f"Canal sans destinataire électronique : {channel}")


def recipients_for(*, patient: Patient, channel: str) -> list[Recipient]:
    """The patient, civil guardian and financial guardian of ``patient`` on ``channel``, in that
    order, each with its address and skip reason. Load the patient with
    ``select_related("civil_guardian", "financial_guardian")`` to avoid extra queries."""
    return [
        recipient_for(patient=patient, channel=channel, role=role)
        for role in (RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN)
    ]


def number_recipient(*, number: str, name: str = "", patient: Patient | None = None) -> Recipient:
    """A recipient typed by hand (a test SMS): the number must be a valid mobile."""
    e164 = normalize(number)
    reason = "" if e164 and is_mobile(e164) else f"Le numéro {number} n'est pas un portable valide."
    return Recipient(
        role=RecipientRole.OTHER,
        name=name or format_fr(e164 or number) or number,
        address=e164 or number,
        channel=Channel.SMS,
        patient=patient,
        skip_reason=reason,
    )
