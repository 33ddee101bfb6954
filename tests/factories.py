"""Factories for the personas of DESIGN.md: adult patient with mobile and email, minor with a civil
guardian, patient with no phone, patient who refused SMS, practitioner, chair."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from patients.models import (
    Appointment,
    Chair,
    Correspondent,
    Family,
    FileStatus,
    Guardian,
    Nature,
    Patient,
    Practitioner,
    Sex,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Claire"
    last_name = "Martin"
    email = factory.LazyAttribute(lambda u: f"{u.username}@cabinet.test")
    password = factory.PostGenerationMethodCall("set_password", "motdepasse-test")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        """UserFactory(role="Assistant(e)") puts the user in that group."""
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == "Administrateur":
                self.is_staff = True
        if create:
            self.save()


class PractitionerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practitioner
        django_get_or_create = ("initials",)

    last_name = "Molaire"
    first_name = "Marc"
    initials = factory.Sequence(lambda n: f"P{n}")


class ChairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chair
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"F{n + 1}")
    label = factory.LazyAttribute(lambda c: f"Fauteuil {c.code[1:]}")


class NatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Nature
        django_get_or_create = ("code",)

    code = "NP"
    label = "Nouveau patient"
    default_duration = 20


class FamilyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Family

    name = factory.Sequence(lambda n: f"Famille {n}")


class PatientFactory(factory.django.DjangoModelFactory):
    """An adult patient with a mobile and an email, who accepts both channels."""

    class Meta:
        model = Patient

    # Not numeric, so it never collides with next_file_number() used by the services.
    file_number = factory.Sequence(lambda n: f"T{1000 + n}")
    civility = "Mme"
    last_name = "Ablirant"
    first_name = factory.Sequence(lambda n: f"Emma{n}")
    birth_date = dt.date(1985, 4, 12)
    sex = Sex.FEMALE
    file_status = FileStatus.IN_TREATMENT
    email = factory.LazyAttribute(lambda p: f"{p.first_name.lower()}@patients.test")
    mobile = "+33684285560"
    sms_consent = True
    email_consent = True


class GuardianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guardian

    civility = "Mme"
    last_name = "Ablirant"
    first_name = "Stéphanie"
    email = "stephanie.ablirant@parents.test"
    mobile = "+33613682982"


class MinorPatientFactory(PatientFactory):
    """A 12-year-old with a civil guardian who has her own mobile."""

    civility = "Enf."
    birth_date = factory.LazyFunction(lambda: timezone.localdate().replace(year=timezone.localdate().year - 12))
    sex = Sex.MALE
    email = ""
    mobile = ""
    civil_guardian = factory.SubFactory(GuardianFactory)


class PatientWithoutPhoneFactory(PatientFactory):
    mobile = ""
    phone = ""


class PatientRefusingSmsFactory(PatientFactory):
    sms_consent = False


class CorrespondentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Correspondent

    last_name = "Dupuis"
    first_name = "Henri"
    specialty = "Dentiste"
    email = "dr.dupuis@confreres.test"


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    practitioner = factory.SubFactory(PractitionerFactory)
    chair = factory.SubFactory(ChairFactory)
    nature = factory.SubFactory(NatureFactory)
    start = factory.LazyFunction(
        lambda: timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(10, 0)))
    )
    duration = 20


def appointments_in_bulk(count: int, *, day: dt.date, practitioner: Practitioner | None = None) -> list[Appointment]:
    """``count`` FUTURE appointments on ``day``, one new patient each (the factory's), 30 s
    apart from 08:00, written in two bulk inserts (the factories one by one would take most of a
    test's time at a thousand rows). Returned in the appointment search's order."""
    practitioner = practitioner or PractitionerFactory()
    chair, nature = ChairFactory(), NatureFactory()
    patients = []
    for _ in range(count):
        patient = PatientFactory.build()
        patient.set_search_keys()
        patients.append(patient)
    patients = Patient.objects.bulk_create(patients)
    first = timezone.make_aware(dt.datetime.combine(day, dt.time(8)))
    return Appointment.objects.bulk_create(
        AppointmentFactory.build(patient=p, practitioner=practitioner, chair=chair, nature=nature,
                                 start=first + dt.timedelta(seconds=30 * n))
        for n, p in enumerate(patients)
    )
