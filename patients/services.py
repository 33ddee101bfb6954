"""Writes of patients, guardians, correspondents, images and appointments.

Every function validates what it writes (``full_clean``) and raises ``ValidationError`` with a
French message staff can read; the pages show it on the form. Several rows written together are
written in one transaction: a patient is never saved without the guardian the form asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from . import selectors
from .models import (
    ADULT_AGE,
    Appointment,
    AppointmentState,
    CancelledBy,
    Chair,
    Civility,
    Correspondent,
    Family,
    Guardian,
    Nature,
    Patient,
    PatientCorrespondent,
    PatientImage,
    PatientType,
    Practitioner,
    Sex,
    age_on,
    next_file_number,
)


class GuardianMode:
    """How a guardian is chosen on the "Responsables" tab."""

    SELF = "self"  # the patient is their own guardian: the foreign key stays empty
    SAME_AS_CIVIL = "civil"  # financial guardian only: the civil guardian, whoever it is
    EXISTING = "existing"  # a guardian already in the database
    NEW = "new"  # a guardian typed in on the form


@dataclass(frozen=True)
class GuardianChoice:
    """One guardian choice: ``mode`` is a ``GuardianMode``; ``guardian`` is set for EXISTING,
    ``data`` (Guardian field values) for NEW."""

    mode: str = GuardianMode.SELF
    guardian: Guardian | None = None
    data: dict[str, Any] = field(default_factory=dict)


SELF = GuardianChoice()


def _resolve_guardian(choice: GuardianChoice, *, civil: Guardian | None) -> Guardian | None:
    if choice.mode == GuardianMode.SELF:
        return None
    if choice.mode == GuardianMode.SAME_AS_CIVIL:
        return civil
    if choice.mode == GuardianMode.EXISTING:
        if choice.guardian is None:
            raise ValidationError(gettext("Choisissez un responsable existant."))
        return choice.guardian
    if choice.mode == GuardianMode.NEW:
        return guardian_create(data=choice.data)
    raise ValidationError(gettext("Choix de responsable inconnu : %(mode)s.") % {"mode": choice.mode})


def guardian_create(*, data: dict[str, Any]) -> Guardian:
    """A new guardian from ``data`` (Guardian field values). Raises ValidationError."""
    guardian = Guardian(**data)
    guardian.full_clean()
    guardian.save()
    return guardian


def guardian_update(*, guardian: Guardian, data: dict[str, Any]) -> Guardian:
    """Update ``guardian`` with ``data``; every patient they look after sees the change."""
    for name, value in data.items():
        setattr(guardian, name, value)
    guardian.full_clean()
    guardian.save()
    return guardian


def _set_guardians(patient: Patient, civil: GuardianChoice, financial: GuardianChoice) -> None:
    if civil.mode == GuardianMode.SAME_AS_CIVIL:
        raise ValidationError(gettext("Le responsable civil ne peut pas être « le responsable civil »."))
    patient.civil_guardian = _resolve_guardian(civil, civil=None)
    patient.financial_guardian = _resolve_guardian(financial, civil=patient.civil_guardian)


@transaction.atomic
def patient_create(
    *,
    data: dict[str, Any],
    civil_guardian: GuardianChoice = SELF,
    financial_guardian: GuardianChoice = SELF,
    correspondents: Sequence[tuple[Correspondent, str]] = (),
    family: Family | None = None,
) -> Patient:
    """Create a patient from ``data`` (Patient field values) with their guardians and
    correspondents. A blank file number gets the next free one. Raises ValidationError."""
    patient = Patient(**data)
    if family is not None:
        patient.family = family
    _set_guardians(patient, civil_guardian, financial_guardian)
    if not patient.file_number:
        # Two creations racing for the same number meet the unique constraint: the second one
        # fails with an error rather than sharing a file number.
        patient.file_number = next_file_number()
    patient.full_clean()
    patient.save()
    patient_set_correspondents(patient=patient, links=correspondents)
    return patient


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    data: dict[str, Any],
    civil_guardian: GuardianChoice | None = None,
    financial_guardian: GuardianChoice | None = None,
    correspondents: Sequence[tuple[Correspondent, str]] | None = None,
) -> Patient:
    """Update ``patient``; guardians and correspondents are left as they are when not given."""
    for name, value in data.items():
        setattr(patient, name, value)
    if civil_guardian is not None or financial_guardian is not None:
        current_civil = _current_choice(patient.civil_guardian)
        current_financial = _current_choice(patient.financial_guardian)
        _set_guardians(patient, civil_guardian or current_civil, financial_guardian or current_financial)
    patient.full_clean()
    patient.save()
    if correspondents is not None:
        patient_set_correspondents(patient=patient, links=correspondents)
    return patient


def _current_choice(guardian: Guardian | None) -> GuardianChoice:
    return GuardianChoice(GuardianMode.EXISTING, guardian) if guardian else SELF


def patient_set_correspondents(*, patient: Patient, links: Iterable[tuple[Correspondent, str]]) -> None:
    """Make ``patient``'s correspondents exactly ``links`` (correspondent, role); a correspondent
    given twice keeps the last role."""
    wanted = {correspondent.pk: (correspondent, role) for correspondent, role in links}
    existing = {link.correspondent_id: link for link in patient.correspondent_links.all()}
    for pk, link in existing.items():
        if pk not in wanted:
            link.delete()
        elif link.role != wanted[pk][1]:
            link.role = wanted[pk][1]
            link.save(update_fields=["role"])
    PatientCorrespondent.objects.bulk_create(
        PatientCorrespondent(patient=patient, correspondent=correspondent, role=role)
        for pk, (correspondent, role) in wanted.items()
        if pk not in existing
    )


@transaction.atomic
def family_members_create(*, patient: Patient, members: Sequence[dict[str, Any]]) -> list[Patient]:
    """Create new patients in ``patient``'s family (the family is created, named after the
    patient, when they have none). Each member dict holds ``first_name``, ``sex`` and
    ``birth_date``; the new files take the patient's name, address, landline, practitioner and
    guardians, as siblings share them. A minor added by an adult who is their own guardian (a
    parent adding a child) gets that adult as civil guardian, and as financial guardian unless the
    adult has one: ``patient_as_guardian``. Returns the new patients."""
    if not members:
        return []
    if patient.family_id is None:
        patient.family = Family.objects.create(name=patient.last_name.upper())
        patient.save(update_fields=["family"])
    created = []
    today = timezone.localdate()
    parent: Guardian | None = None  # the adult as a guardian, made once for all the children
    for member in members:
        age = age_on(member.get("birth_date"), today)
        minor = age is not None and age < ADULT_AGE
        if minor:
            civility = Civility.ENFANT
        else:
            civility = {Sex.FEMALE: Civility.MME, Sex.MALE: Civility.M}.get(member.get("sex"), "")
        civil, financial = _current_choice(patient.civil_guardian), _current_choice(patient.financial_guardian)
        if minor and patient.civil_guardian is None and patient.effective_type(today) == PatientType.ADULT:
            # Without a guardian the child would have no one to reach: no mobile, no email.
            parent = parent or patient_as_guardian(patient=patient)
            civil = GuardianChoice(GuardianMode.EXISTING, parent)
            if patient.financial_guardian is None:
                financial = GuardianChoice(GuardianMode.SAME_AS_CIVIL)
        data = {
            "last_name": patient.last_name,
            "first_name": member["first_name"],
            "sex": member.get("sex") or "",
            "birth_date": member.get("birth_date"),
            "civility": civility,
            "address1": patient.address1,
            "address2": patient.address2,
            "postcode": patient.postcode,
            "city": patient.city,
            "country": patient.country,
            "phone": patient.phone,
            "practitioner": patient.practitioner,
        }
        created.append(
            patient_create(
                data=data,
                family=patient.family,
                civil_guardian=civil,
                financial_guardian=financial,
            )
        )
    return created


# What a guardian made from a patient copies: their identity, address, phones, email and consents.
PATIENT_AS_GUARDIAN_FIELDS = (
    "civility",
    "last_name",
    "first_name",
    "birth_date",
    "address1",
    "address2",
    "postcode",
    "city",
    "country",
    "email",
    "phone",
    "mobile",
    "sms_consent",
    "email_consent",
)


def patient_as_guardian(*, patient: Patient) -> Guardian:
    """A guardian with ``patient``'s identity and contacts, for the children they bring in. When
    a member of their family already has such a guardian (same name, same mobile and email), that
    one is reused: adding a second child does not make a second copy of the parent."""
    data = {name: getattr(patient, name) for name in PATIENT_AS_GUARDIAN_FIELDS}
    if patient.family_id:
        existing = (
            Guardian.objects.filter(
                civil_wards__family_id=patient.family_id,
                last_name__iexact=patient.last_name,
                first_name__iexact=patient.first_name,
                mobile=patient.mobile,
                email__iexact=patient.email,
            )
            .order_by("pk")
            .first()
        )
        if existing is not None:
            return existing
    return guardian_create(data=data)


def patient_image_add(
    *,
    patient: Patient,
    file: UploadedFile,
    image_type: str,
    subtype: str = "",
    stage: str,
    taken_on: dt.date,
    label: str = "",
) -> PatientImage:
    """Store an image in ``patient``'s album. Raises ValidationError."""
    image = PatientImage(
        patient=patient,
        file=file,
        image_type=image_type,
        subtype=subtype or "",
        stage=stage,
        taken_on=taken_on,
        label=label,
    )
    image.full_clean()
    image.save()
    return image


def patient_image_delete(*, image: PatientImage) -> None:
    """Delete the image row and its file."""
    storage, name = image.file.storage, image.file.name
    image.delete()
    # The file goes only once the row is gone, so a failed delete never leaves a row without file.
    transaction.on_commit(lambda: storage.delete(name) if name else None)


# Appointments ---------------------------------------------------------------------------------

# States that leave the slot free: a new appointment may be taken over them.
FREEING_STATES = (AppointmentState.CANCELLED, AppointmentState.POSTPONED)


def _check_free(appointment: Appointment) -> None:
    """Refuse an appointment that overlaps another one of the same practitioner or chair, unless
    it is marked forced (the "Forcé" of the reference product)."""
    if appointment.forced or appointment.state in FREEING_STATES:
        return
    clashes = selectors.appointment_overlaps(
        start=appointment.start,
        end=appointment.end,
        practitioner=appointment.practitioner,
        chair=appointment.chair,
        exclude_pk=appointment.pk,
    )
    if clashes:
        clash = clashes[0]
        raise ValidationError(
            gettext("Ce créneau chevauche le rendez-vous de %(who)s à %(time)s (%(practitioner)s, %(chair)s). "
                    "Cochez « Forcé » pour le prendre quand même.") % {
                "who": clash.who, "time": date_format(timezone.localtime(clash.start), gettext("H\\hi")),
                "practitioner": clash.practitioner.initials,
                "chair": clash.chair.code if clash.chair else gettext("sans fauteuil"),
            }
        )


def appointment_create(
    *,
    practitioner: Practitioner,
    start: dt.datetime,
    patient: Patient | None = None,
    external_name: str = "",
    chair: Chair | None = None,
    nature: Nature | None = None,
    duration: int | None = None,
    urgent: bool = False,
    forced: bool = False,
    remark: str = "",
) -> Appointment:
    """A new future appointment. ``duration`` defaults to the nature's default duration (20 min
    without a nature). Raises ValidationError, also when the slot is taken and not forced."""
    if duration is None:
        duration = nature.default_duration if nature else 20
    appointment = Appointment(
        patient=patient,
        external_name="" if patient else external_name,
        external=patient is None,
        practitioner=practitioner,
        chair=chair,
        nature=nature,
        start=start,
        duration=duration,
        urgent=urgent,
        forced=forced,
        remark=remark,
        state=AppointmentState.FUTURE,
    )
    appointment.full_clean()
    _check_free(appointment)
    appointment.save()
    return appointment


def appointment_move(
    *,
    appointment: Appointment,
    start: dt.datetime,
    practitioner: Practitioner,
    chair: Chair | None,
    duration: int | None = None,
    forced: bool = False,
) -> Appointment:
    """Move ``appointment`` to another start, practitioner or chair (its state is kept).
    Raises ValidationError when the new slot is taken and not forced."""
    appointment.start = start
    appointment.practitioner = practitioner
    appointment.chair = chair
    if duration is not None:
        appointment.duration = duration
    appointment.forced = forced
    appointment.full_clean()
    _check_free(appointment)
    appointment.save()
    return appointment


def _check_state_possible_now(appointment: Appointment, state: str, now: dt.datetime) -> None:
    """A patient can only have missed an appointment whose time has come, and only be present
    from its day on: marking a future one would send the J-1 "rendez-vous manqué" follow-up
    for an appointment that has not taken place and drop it from tomorrow's J+1 reminders."""
    if state == AppointmentState.MISSED and appointment.start > now:
        raise ValidationError(gettext("Ce rendez-vous n'a pas encore eu lieu : il ne peut pas être marqué manqué."))
    day = timezone.localtime(appointment.start).date()
    if state == AppointmentState.PRESENT and day > timezone.localtime(now).date():
        raise ValidationError(
            gettext("Ce rendez-vous n'a pas encore eu lieu : il ne peut être marqué présent qu'à partir du %(day)s.")
            % {"day": f"{day:%d/%m/%Y}"}  # the same day format in both languages (docs/langues.md)
        )


def appointment_set_state(
    *, appointment: Appointment, state: str, cancelled_by: str = "", now: dt.datetime | None = None
) -> Appointment:
    """Set the state; cancelled and postponed need ``cancelled_by`` (cabinet or patient), the
    other states clear it. Missed is refused before the appointment's start and present before
    its day (``now`` defaults to the current time). Raises ValidationError."""
    if state not in AppointmentState.values:
        raise ValidationError(gettext("État de rendez-vous inconnu : %(state)s.") % {"state": state})
    _check_state_possible_now(appointment, state, now or timezone.now())
    if state in FREEING_STATES:
        if cancelled_by not in CancelledBy.values:
            raise ValidationError(
                {"cancelled_by": gettext("Indiquez si l'annulation vient du cabinet ou du patient.")}
            )
    else:
        cancelled_by = ""
    appointment.state = state
    appointment.cancelled_by = cancelled_by
    appointment.full_clean()
    appointment.save(update_fields=["state", "cancelled_by", "updated_at"])
    return appointment


def appointment_cancel(*, appointment: Appointment, cancelled_by: str) -> Appointment:
    """Cancel ``appointment``, by the practice or by the patient. Raises ValidationError."""
    return appointment_set_state(
        appointment=appointment, state=AppointmentState.CANCELLED, cancelled_by=cancelled_by
    )
