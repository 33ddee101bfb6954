"""seed_demo: the demo practice of `make run` and the benchmark volume."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from messaging.models import EmailAccount, EmailTemplate, SmsTemplate
from patients import demo, selectors
from patients.models import (
    ADULT_AGE,
    Appointment,
    AppointmentState,
    Chair,
    Correspondent,
    CorrespondentLink,
    Family,
    Guardian,
    Nature,
    Patient,
    PatientCorrespondent,
    PatientImage,
    Practitioner,
    normalize_search,
)
from patients.phones import is_mobile
from practice.demo import DEMO_PASSWORD
from practice.models import Practice
from scheduler.models import Treatment
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_settings(settings):
    """The demo as `make run` loads it: DEBUG on (pytest-django turns it off)."""
    settings.DEBUG = True

MODELS = [
    Practice,
    Practitioner,
    Chair,
    Nature,
    Family,
    Guardian,
    Patient,
    Correspondent,
    CorrespondentLink,
    PatientCorrespondent,
    PatientImage,
    Appointment,
    get_user_model(),
    EmailAccount,
    SmsTemplate,
    EmailTemplate,
    Treatment,
]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_the_demo_practice_contains_what_is_promised():
    output = run("--patients", "300")
    now = timezone.now()
    today = timezone.localdate()

    practice = Practice.objects.get()
    assert practice.name == "Cabinet dentaire du Parc" and practice.city == "Dijon" and practice.phone
    practice.full_clean()  # e.g. the SMS sender name follows the operators' rules
    assert Practitioner.objects.count() == 3
    molaire = Practitioner.objects.get(initials="MM")
    assert str(molaire) == "Dr MOLAIRE Marc"
    assert dict(Chair.objects.values_list("code", "label")) == {"F1": "Fauteuil 1", "F2": "Fauteuil 2"}
    durations = dict(Nature.objects.values_list("code", "default_duration"))
    assert {"NP", "CTR-SURV", "DET", "URG"} <= durations.keys()
    assert durations["NP"] == 30 and durations["CTR-SURV"] == 20

    # The demo logins: one per role, the shared demo password, the practitioner's own account.
    users = {u.username: u for u in get_user_model().objects.prefetch_related("groups")}
    assert {"admin", "praticien", "assistante"} <= users.keys()
    assert [g.name for g in users["admin"].groups.all()] == ["Administrateur"] and users["admin"].is_staff
    assert [g.name for g in users["praticien"].groups.all()] == ["Praticien"]
    assert [g.name for g in users["assistante"].groups.all()] == ["Assistant(e)"]
    assert not users["assistante"].is_staff and not users["praticien"].is_staff
    assert all(users[name].check_password(DEMO_PASSWORD) for name in ("admin", "praticien", "assistante"))
    assert users["praticien"].practitioner == molaire
    assert "assistante" in output and DEMO_PASSWORD in output

    # Patients: exactly as many as asked, with the personas the messaging features need.
    patients = Patient.objects.all()
    assert patients.count() == 300
    adult_limit = today.replace(year=today.year - ADULT_AGE)
    minors = patients.filter(birth_date__gt=adult_limit)
    assert minors.count() >= 30
    assert not minors.filter(civil_guardian__isnull=True).exists(), "every minor has a civil guardian"
    assert Guardian.objects.exclude(mobile="").exclude(email="").exists()
    siblings = (
        minors.values("family", "civil_guardian")
        .annotate(n=Count("id"))
        .filter(n__gte=2, family__isnull=False)
    )
    assert siblings.exists(), "siblings share a family and a civil guardian"
    adults = patients.filter(birth_date__lte=adult_limit)
    assert adults.filter(civil_guardian__isnull=True).count() == adults.count()
    assert adults.filter(mobile="").exists() and adults.filter(email="").exists()
    assert adults.exclude(mobile="").filter(sms_consent=False).exists()
    assert patients.filter(email_consent=False).exists()
    mobiles = [
        *patients.exclude(mobile="").values_list("mobile", flat=True),
        *Guardian.objects.exclude(mobile="").values_list("mobile", flat=True),
    ]
    assert len(mobiles) > 150
    assert all(is_mobile(m) for m in mobiles)
    assert all(str(m).startswith(("+336", "+337")) for m in mobiles)
    assert all(
        key == normalize_search(f"{last} {first}")
        for key, last, first in patients.values_list("search_key", "last_name", "first_name")
    )
    some = patients.order_by("pk").first()
    assert some in selectors.patient_search(query=normalize_search(some.last_name).lower()[:4])
    assert PatientCorrespondent.objects.exists() and CorrespondentLink.objects.exists()
    image = PatientImage.objects.first()
    assert image.file.read(8) == b"\x89PNG\r\n\x1a\n"

    # Appointments: six months either side, working days and hours in Paris, realistic states.
    appointments = list(Appointment.objects.select_related("practitioner", "chair"))
    assert 4000 < len(appointments) < 9000
    past = [a for a in appointments if a.start < now]
    future = [a for a in appointments if a.start >= now]
    assert {a.state for a in past} == {"present", "manque", "excuse", "annule", "reporte"}
    assert sum(a.state == "present" for a in past) > 0.75 * len(past)
    assert {a.state for a in future} <= {"futur", "annule", "reporte"}
    assert sum(a.state == "futur" for a in future) > 0.9 * len(future)
    assert {a.cancelled_by for a in appointments if a.state in ("annule", "reporte")} == {
        "cabinet",
        "patient",
    }
    assert all(a.cancelled_by == "" for a in appointments if a.state not in ("annule", "reporte"))
    assert min(a.start for a in appointments) > now - dt.timedelta(days=186)
    assert max(a.start for a in appointments) < now + dt.timedelta(days=186)
    assert min(a.start for a in appointments) < now - dt.timedelta(days=170)
    assert max(a.start for a in appointments) > now + dt.timedelta(days=170)
    by_chair = defaultdict(list)
    for a in appointments:
        local = timezone.localtime(a.start)
        assert local.weekday() < 5
        assert dt.time(9, 0) <= local.time() and (local + dt.timedelta(minutes=a.duration)).time() <= dt.time(
            19, 0
        )
        assert not (
            dt.time(12, 0) < (local + dt.timedelta(minutes=a.duration)).time() <= dt.time(14, 0)
            and local.time() < dt.time(14, 0)
        ), "nobody is booked over lunch"
        assert a.created_at <= now and a.created_at < a.start
        by_chair[a.chair_id].append(a)
    for chair_appointments in by_chair.values():
        chair_appointments.sort(key=lambda a: a.start)
        for before, after in zip(chair_appointments, chair_appointments[1:], strict=False):
            assert after.start >= before.end, f"{before} overlaps {after} on {before.chair}"
    assert {a.practitioner.initials for a in appointments} == {"MM", "CL", "TN"}
    assert all(a.chair.code == "F1" for a in appointments if a.practitioner.initials == "MM")
    assert all(
        a.urgent == (a.nature.code == "URG") for a in Appointment.objects.select_related("nature")[:500]
    )
    assert Appointment.objects.filter(patient__isnull=True).exclude(external_name="").count() >= 1


def test_seeding_twice_duplicates_nothing():
    first_output = run("--patients", "120", "--appointments", "400")
    before = counts()
    second_output = run("--patients", "120", "--appointments", "400")
    assert counts() == before
    assert "Démo créée" in first_output
    assert "déjà des patients" in second_output
    assert before["Patient"] == 120 and before["Appointment"] == 400


def test_seeding_completes_missing_reference_data_without_touching_patients():
    PatientFactory(last_name="Zimmer", first_name="Alexis")
    output = run()
    assert Patient.objects.count() == 1 and Appointment.objects.count() == 0
    assert Practitioner.objects.filter(initials="MM").exists()
    assert get_user_model().objects.filter(username="assistante").exists()
    assert "aucun patient ni rendez-vous" in output


def test_if_empty_does_nothing_when_a_patient_exists():
    PatientFactory()
    before = counts()
    output = run("--if-empty")
    assert counts() == before
    assert not Practitioner.objects.exists()
    assert "n'est pas chargée" in output


def test_if_empty_loads_the_demo_into_an_empty_database():
    run("--if-empty", "--patients", "40", "--appointments", "50")
    assert Patient.objects.count() == 40 and Appointment.objects.count() == 50


def test_scale_options_create_exactly_the_numbers_asked_in_batches():
    run("--patients", "300", "--appointments", "3000", "--batch-size", "128")
    assert Patient.objects.count() == 300
    assert Appointment.objects.count() == 3000
    numbers = sorted(int(n) for n in Patient.objects.values_list("file_number", flat=True))
    assert numbers == list(range(1, 301))
    # Every patient id an appointment points at exists (ids were collected across batches).
    assert (
        Appointment.objects.filter(patient__isnull=False).exclude(patient__in=Patient.objects.all()).count()
        == 0
    )
    assert len({a.state for a in Appointment.objects.only("state")}) >= 5


def test_the_same_seed_and_time_give_the_same_practice():
    now = dt.datetime(2026, 3, 10, 11, 0, tzinfo=dt.UTC)

    def snapshot():
        demo.seed_demo(patients=60, appointments=200, now=now, seed=7)
        people = list(
            Patient.objects.order_by("file_number").values_list("last_name", "first_name", "mobile")
        )
        agenda = list(
            Appointment.objects.order_by("start", "practitioner__initials", "id").values_list(
                "start", "state", "nature__code"
            )
        )
        Appointment.objects.all().delete()
        Patient.objects.all().delete()
        return people, agenda

    assert snapshot() == snapshot()


def test_appointments_are_relative_to_the_reference_time():
    now = dt.datetime(2025, 12, 24, 15, 30, tzinfo=dt.UTC)
    demo.seed_demo(patients=30, appointments=600, now=now)
    starts = Appointment.objects.values_list("start", flat=True)
    assert min(starts).date() >= dt.date(2025, 6, 24) and max(starts).date() <= dt.date(2026, 6, 24)
    assert not Appointment.objects.filter(start__lt=now, state=AppointmentState.FUTURE).exists()
    assert not Appointment.objects.filter(start__gte=now, state=AppointmentState.PRESENT).exists()
    holidays = {dt.date(2025, 12, 25), dt.date(2026, 1, 1), dt.date(2026, 4, 6), dt.date(2026, 5, 14)}
    assert not {timezone.localtime(s).date() for s in starts} & holidays


@pytest.mark.parametrize("args", [["--patients", "0"], ["--appointments", "-1"]])
def test_nonsense_sizes_are_refused(args):
    with pytest.raises(CommandError):
        run(*args)
    assert not Patient.objects.exists()


def test_easter_dates():
    assert demo.easter(2024) == dt.date(2024, 3, 31)
    assert demo.easter(2025) == dt.date(2025, 4, 20)
    assert demo.easter(2026) == dt.date(2026, 4, 5)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_loaded_tables_are_analysed_for_the_planner():
    from django.db import connection

    demo.seed_demo(patients=50, appointments=300, now=timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname IN ('patients_patient', 'patients_appointment') ORDER BY relname"
            )
            assert cursor.fetchall() == [
                ("patients_appointment", True, True),
                ("patients_patient", True, True),
            ]
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'patients_appointment'")
            assert cursor.fetchone()[0] > 0
    assert Appointment.objects.count() == 300


def test_the_demo_has_templates_an_account_on_the_demo_smtp_server_and_inactive_treatments(settings):
    run("--patients", "50", "--appointments", "100")
    account = EmailAccount.objects.get(name="Secrétariat")
    assert (account.smtp_host, account.smtp_port) == ("127.0.0.1", settings.DEMO_SMTP_PORT)
    assert SmsTemplate.objects.filter(body__contains="@RDV1").exists()
    titles = set(Treatment.objects.values_list("title", flat=True))
    assert {"Rappel RDV J+1 (SMS)", "Relance RDV manqués J-1 (email)", "Anniversaires"} <= titles
    assert not Treatment.objects.filter(active=True).exists()
    assert Practice.get().sms_sender_name == "CabinetParc"


def test_with_debug_off_seed_demo_refuses_and_creates_no_account(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Refusé : DEBUG est désactivé.*--allow-production"):
        run("--patients", "5")
    assert not get_user_model().objects.exists()
    assert not Patient.objects.exists()


def test_the_command_exits_non_zero_in_production(settings):
    from django.core.management import ManagementUtility

    settings.DEBUG = False
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "seed_demo", "--patients", "5"]).execute()
    assert exit_info.value.code != 0


def test_allowed_in_production_each_account_gets_a_random_password_printed_once(settings):
    settings.DEBUG = False
    output = run("--patients", "5", "--appointments", "0", "--allow-production")
    users = {u.username: u for u in get_user_model().objects.all()}
    assert {"admin", "praticien", "assistante"} <= users.keys()
    assert DEMO_PASSWORD not in output
    printed = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "-" and parts[1] in users:
            printed[parts[1]] = parts[2]
    assert printed.keys() == {name for name, *_ in demo.DEMO_USERS}
    assert len(set(printed.values())) == len(printed), "one password per account"
    for name, password in printed.items():
        assert not users[name].check_password(DEMO_PASSWORD)
        assert users[name].check_password(password) and len(password) >= 16

    # A second run creates no account: no password is shown again, none is changed.
    again = run("--patients", "5", "--allow-production")
    assert not any(password in again for password in printed.values())
    assert get_user_model().objects.get(username="admin").check_password(printed["admin"])


def test_the_demo_shows_correspondents_and_a_news_campaign_reaches_some_patients():
    """The issue asks the demo to show the correspondents: an email type written to them, whose
    @LIBRE_01 follows their relationship with the practitioner; and a news campaign in the demo
    reached nobody (no patient had accepted news)."""
    from messaging.compose import compose_email
    from messaging.models import EmailTemplate, RecipientRole
    from messaging.policy import ChannelPlan, audience
    from patients.models import Patient

    run("--patients", "300", "--appointments", "100")
    report = EmailTemplate.objects.get(label="Compte rendu au correspondant")
    assert report.recipient_role == RecipientRole.CORRESPONDENT
    patient = Patient.objects.filter(correspondent_links__isnull=False).select_related("practitioner").first()
    [colleague] = audience(patient, plan=ChannelPlan.only("email", email_role=report.recipient_role)).email[:1]
    email = compose_email(subject=report.subject, body_html=report.body_html, patient=patient,
                          recipient=colleague.person, correspondent=colleague.person)
    assert not email.missing
    assert email.text.startswith(("Cher ami ", "Chère amie ", "Cher confrère ", "Chère consœur "))

    adults = Patient.objects.filter(birth_date__lte=timezone.localdate().replace(year=timezone.localdate().year - 19))
    accepted = adults.filter(news_consent=True).count()
    assert 0 < accepted < adults.count()
