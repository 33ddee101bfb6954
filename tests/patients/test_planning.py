import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from patients.models import Appointment, AppointmentState, CancelledBy
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    NatureFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
)
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def paris(y, m, d, h, mi=0):
    return timezone.make_aware(dt.datetime(y, m, d, h, mi), timezone.get_current_timezone())


def planning(client, day: str, **params):
    return page_text(client.get(reverse("patients:planning"), {"jour": day, **params}))


def test_the_planning_shows_the_day_in_paris_time_across_the_dst_change(assistant_client):
    # 31/03/2030 is the spring DST change: 00h30 Paris is 22h30 UTC the day before.
    practitioner = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    early = AppointmentFactory(
        practitioner=practitioner,
        start=paris(2030, 3, 31, 0, 30),
        patient=PatientFactory(last_name="Zimmer", first_name="Alexis"),
    )
    late = AppointmentFactory(
        practitioner=practitioner,
        start=paris(2030, 3, 30, 23, 30),
        patient=PatientFactory(last_name="Kisiel", first_name="Luka"),
    )
    assert early.start.astimezone(dt.UTC).date() == dt.date(2030, 3, 30)

    day = planning(assistant_client, "2030-03-31")
    assert "Rendez-vous du dimanche 31/03/2030" in day
    assert "ZIMMER Alexis" in day and "00h30" in day
    assert "KISIEL Luka" not in day
    before = planning(assistant_client, "2030-03-30")
    assert "KISIEL Luka" in before and "23h30" in before
    assert "ZIMMER Alexis" not in before
    assert late.patient.get_absolute_url() in before


def test_columns_per_practitioner_slot_details_and_chair_filter(assistant_client):
    molaire = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    dent = PractitionerFactory(last_name="Dent", first_name="Claire", initials="CD")
    f1, f2 = ChairFactory(code="F1", label="Fauteuil 1"), ChairFactory(code="F2", label="Fauteuil 2")
    nature = NatureFactory(code="CTR-SURV", label="Contrôle")
    AppointmentFactory(
        practitioner=molaire,
        chair=f1,
        nature=nature,
        duration=30,
        start=paris(2030, 6, 3, 10),
        patient=PatientFactory(last_name="Point", first_name="Estelle"),
    )
    AppointmentFactory(
        practitioner=dent,
        chair=f2,
        start=paris(2030, 6, 3, 11),
        patient=PatientFactory(last_name="Adam", first_name="Joel"),
    )
    content = planning(assistant_client, "2030-06-03")
    assert "Dr MOLAIRE Marc" in content and "Dr DENT Claire" in content
    assert "10h00" in content and "10h30" in content and "30 min" in content
    assert "CTR-SURV" in content and "F1" in content and "state-futur" in content
    only_f2 = planning(assistant_client, "2030-06-03", fauteuil=f2.pk)
    assert "ADAM Joel" in only_f2 and "POINT Estelle" not in only_f2
    assert "Dr MOLAIRE Marc" in only_f2  # the column stays, empty


def test_the_planning_query_count_does_not_grow_with_appointments(
    assistant_client, django_assert_max_num_queries
):
    practitioner = PractitionerFactory()
    for hour in (8, 9):
        AppointmentFactory(practitioner=practitioner, start=paris(2030, 6, 3, hour))
    # 17 with the navbar's count of patients' replies to handle (messaging.inbox) and the
    # user's language (practice.StaffPreference).
    with django_assert_max_num_queries(17) as few:
        planning(assistant_client, "2030-06-03")
    for hour in range(10, 18):
        AppointmentFactory(practitioner=practitioner, start=paris(2030, 6, 3, hour))
    with django_assert_max_num_queries(len(few.captured_queries)):
        content = planning(assistant_client, "2030-06-03")
    assert "10 rendez-vous" in content


def test_a_day_typed_the_french_way_is_understood(assistant_client):
    assert "Rendez-vous du lundi 03/06/2030" in planning(assistant_client, "03/06/2030")


def test_a_bad_day_falls_back_to_today(assistant_client):
    content = planning(assistant_client, "31/02/2030")
    assert timezone.localdate().strftime("%d/%m/%Y") in content


def test_mark_missed_from_the_planning(assistant_client):
    appointment = AppointmentFactory(start=paris(2024, 6, 3, 10))  # past: only then can it be missed
    back = f"{reverse('patients:planning')}?jour=2024-06-03"
    response = assistant_client.post(
        reverse("patients:appointment_state", args=[appointment.pk]), {"state": "manque", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.MISSED
    assert "rendez-vous manqué" in page_text(assistant_client.get(back))


def test_a_future_appointment_marked_missed_is_refused_with_a_message_on_the_planning(assistant_client):
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10))
    back = f"{reverse('patients:planning')}?jour=2030-06-03"
    response = assistant_client.post(
        reverse("patients:appointment_state", args=[appointment.pk]),
        {"state": "manque", "next": back},
        follow=True,
    )
    content = page_text(response)
    assert "Ce rendez-vous n'a pas encore eu lieu : il ne peut pas être marqué manqué." in content
    assert "Rendez-vous du lundi 03/06/2030" in content
    assistant_client.post(reverse("patients:appointment_state", args=[appointment.pk]), {"state": "present"})
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE


def test_state_change_refuses_an_outside_redirect_and_an_unknown_state(assistant_client):
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10))
    response = assistant_client.post(
        reverse("patients:appointment_state", args=[appointment.pk]),
        {"state": "perdu", "next": "https://evil.test/"},
    )
    assert response["Location"] == f"{reverse('patients:planning')}?jour=2030-06-03"
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE
    response = assistant_client.post(
        reverse("patients:appointment_state", args=[appointment.pk]), {"state": "annule"}
    )
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE  # cancelling needs who asked: the cancel page
    assert "cabinet ou du patient" in page_text(assistant_client.get(response["Location"]))


def test_cancel_requires_who_cancelled(assistant_client):
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10))
    url = reverse("patients:appointment_cancel", args=[appointment.pk])
    assert "Annuler ou reporter" in page_text(assistant_client.get(url))
    response = assistant_client.post(url, {"state": "annule"})
    assert response.status_code == 200
    assert "Indiquez si l'annulation vient du cabinet ou du patient." in page_text(response)
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE
    response = assistant_client.post(url, {"state": "annule", "cancelled_by": "patient"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert (appointment.state, appointment.cancelled_by) == (AppointmentState.CANCELLED, CancelledBy.PATIENT)
    response = assistant_client.post(url, {"state": "reporte", "cancelled_by": "cabinet"})
    appointment.refresh_from_db()
    assert (appointment.state, appointment.cancelled_by) == (AppointmentState.POSTPONED, CancelledBy.PRACTICE)


def test_move_an_appointment(assistant_client):
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10))
    other = PractitionerFactory(last_name="Dent", first_name="Claire", initials="CD")
    chair = ChairFactory(code="F9", label="Fauteuil 9")
    url = reverse("patients:appointment_move", args=[appointment.pk])
    form = page_text(assistant_client.get(url))
    assert 'value="03/06/2030"' in form and 'value="10h00"' in form
    response = assistant_client.post(
        url,
        {"day": "2030-06-04", "time": "14:40", "practitioner": other.pk, "chair": chair.pk, "duration": "45"},
    )
    assert response["Location"] == f"{reverse('patients:planning')}?jour=2030-06-04"
    appointment.refresh_from_db()
    assert appointment.start == paris(2030, 6, 4, 14, 40)
    assert (appointment.practitioner, appointment.chair, appointment.duration) == (other, chair, 45)


def test_moving_onto_a_taken_slot_is_refused_with_a_clear_message(assistant_client):
    taken = AppointmentFactory(
        start=paris(2030, 6, 3, 11), patient=PatientFactory(last_name="Adam", first_name="Joel")
    )
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10), practitioner=taken.practitioner)
    response = assistant_client.post(
        reverse("patients:appointment_move", args=[appointment.pk]),
        {"day": "2030-06-03", "time": "11:10", "practitioner": taken.practitioner.pk, "duration": "20"},
    )
    assert response.status_code == 200
    assert "chevauche le rendez-vous de ADAM Joel à 11h00" in page_text(response)
    appointment.refresh_from_db()
    assert appointment.start == paris(2030, 6, 3, 10)


def test_create_an_appointment_for_a_patient(assistant_client):
    practitioner, chair = PractitionerFactory(), ChairFactory()
    nature = NatureFactory(code="NP", default_duration=40)
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis")
    url = reverse("patients:appointment_create")
    form = page_text(assistant_client.get(url, {"patient": patient.pk, "jour": "2030-06-03"}))
    assert 'value="ZIMMER Alexis"' in form and 'value="03/06/2030"' in form
    response = assistant_client.post(
        url,
        {
            "patient": patient.pk,
            "day": "2030-06-03",
            "time": "08:20",
            "practitioner": practitioner.pk,
            "chair": chair.pk,
            "nature": nature.pk,
            "duration": "",
            "remark": "Apporter la radio",
        },
    )
    assert response["Location"] == f"{reverse('patients:planning')}?jour=2030-06-03"
    appointment = Appointment.objects.get()
    assert appointment.start == paris(2030, 6, 3, 8, 20) and appointment.duration == 40
    assert appointment.patient == patient and appointment.remark == "Apporter la radio"


def test_an_appointment_needs_a_patient_or_an_external_person(assistant_client):
    practitioner = PractitionerFactory()
    url = reverse("patients:appointment_create")
    data = {"day": "2030-06-03", "time": "08:20", "practitioner": practitioner.pk}
    response = assistant_client.post(url, data)
    assert "Choisissez un patient ou indiquez le nom d'une personne externe." in page_text(response)
    response = assistant_client.post(url, {**data, "external_name": "M. Représentant"})
    assert response.status_code == 302
    assert Appointment.objects.get().who == "M. Représentant"


def test_planning_permissions(client):
    appointment = AppointmentFactory(start=paris(2030, 6, 3, 10))
    user = UserFactory(username="lecture-planning")
    user.user_permissions.add(Permission.objects.get(codename="view_appointment"))
    client.force_login(user)
    content = planning(client, "2030-06-03")
    assert appointment.patient.display_name in content
    assert "Annuler ou reporter" not in content  # no action offered without change_appointment
    assert (
        client.post(
            reverse("patients:appointment_state", args=[appointment.pk]), {"state": "manque"}
        ).status_code
        == 403
    )
    assert client.get(reverse("patients:appointment_move", args=[appointment.pk])).status_code == 403
    assert client.get(reverse("patients:appointment_cancel", args=[appointment.pk])).status_code == 403
    assert client.get(reverse("patients:appointment_create")).status_code == 403
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE


def test_a_date_that_does_not_exist_shows_today_with_a_warning(assistant_client):
    content = planning(assistant_client, "2026-02-31")
    today = timezone.localdate()
    assert f"Date invalide : « 2026-02-31 ». Voici les rendez-vous d'aujourd'hui ({today:%d/%m/%Y})." in content
    assert today.strftime("%d/%m/%Y") in content
    assert "Date invalide" not in planning(assistant_client, "2026-02-28")
    assert "Date invalide" not in page_text(assistant_client.get(reverse("patients:planning")))


def _busy_day(n: int, day=(2030, 6, 4)) -> None:
    """``n`` appointments on one day with two practitioners, each with its own patient, chair and
    nature (what a real day joins), in bulk."""
    pracs = [PractitionerFactory(), PractitionerFactory()]
    chair, nature = ChairFactory(), NatureFactory()
    patients = [PatientFactory.build() for _ in range(n)]
    from patients.models import Patient

    Patient.objects.bulk_create(patients)
    start = paris(*day, 7)
    Appointment.objects.bulk_create(
        Appointment(patient=p, practitioner=pracs[i % 2], chair=chair, nature=nature,
                    start=start + dt.timedelta(minutes=2 * i), duration=20)
        for i, p in enumerate(patients)
    )


def test_a_busy_day_is_shown_a_page_at_a_time_with_the_same_queries(assistant_client, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.selectors import PLANNING_PAGE

    _busy_day(30)
    planning(assistant_client, "2030-06-05")  # the session's and the practice's first loads
    with CaptureQueriesContext(connection) as small:
        content = planning(assistant_client, "2030-06-04")
    assert "30 rendez-vous" in content and "Journée chargée" not in content
    assert content.count("data-appointment=") == 30
    Appointment.objects.all().delete()

    _busy_day(300, day=(2030, 6, 4))
    with django_assert_num_queries(len(small.captured_queries)):
        content = planning(assistant_client, "2030-06-04")
    assert "300 rendez-vous" in content
    pages = -(-300 // PLANNING_PAGE)
    assert pages > 1
    assert f"Journée chargée : rendez-vous 1 à {PLANNING_PAGE} sur 300, par ordre d'heure (page 1 sur {pages})." in content
    assert content.count("data-appointment=") == PLANNING_PAGE
    assert "Rendez-vous suivants" in content and "Rendez-vous précédents" not in content

    last = planning(assistant_client, "2030-06-04", page=str(pages))
    first_of_last = (pages - 1) * PLANNING_PAGE + 1
    assert f"rendez-vous {first_of_last} à 300 sur 300" in last
    assert last.count("data-appointment=") == 300 - first_of_last + 1 and "Rendez-vous précédents" in last
    assert "Rendez-vous suivants" not in last
    # A page typed by hand that does not exist gives the nearest one, never an error.
    assert f"page {pages} sur {pages}" in planning(assistant_client, "2030-06-04", page="99")
    assert f"page 1 sur {pages}" in planning(assistant_client, "2030-06-04", page="n'importe")


def test_the_state_menu_of_a_page_returns_to_that_page(assistant_client):
    from patients.selectors import PLANNING_PAGE

    _busy_day(PLANNING_PAGE + 10, day=(2024, 6, 4))  # past: may be marked missed
    back = f"{reverse('patients:planning')}?jour=2024-06-04&page=2"
    content = page_text(assistant_client.get(back))
    last = Appointment.objects.order_by("-start").first()
    assert f'data-appointment="{last.pk}"' in content
    response = assistant_client.post(reverse("patients:appointment_state", args=[last.pk]),
                                     {"state": "manque", "next": back})
    assert response["Location"] == back
    last.refresh_from_db()
    assert last.state == AppointmentState.MISSED


def test_every_kind_of_row_costs_no_query_of_its_own(assistant_client, django_assert_num_queries):
    """A row of each kind (patient, external person, chair and nature or none, cancelled by the
    patient, confirmed or cancellation asked by SMS, urgent, with a remark, an inactive
    practitioner's): the page's queries are those of a day of one row, and each row says what it
    should (times, links and labels are computed once per page, views.planning_slots)."""
    active, gone = PractitionerFactory(last_name="Actif"), PractitionerFactory(last_name="Parti", active=False)
    chair, nature = ChairFactory(code="F2", label="Fauteuil 2"), NatureFactory(code="DET", label="Détartrage")
    day = (2030, 6, 11)

    def rows(n):
        for i in range(n):
            patient = PatientFactory(last_name=f"Nom{i}", first_name="Léa")
            kind = i % 5
            AppointmentFactory(
                patient=None if kind == 1 else patient, external_name="M. Extérieur" if kind == 1 else "",
                practitioner=gone if kind == 2 else active, chair=chair if kind != 3 else None,
                nature=nature if kind != 3 else None, start=paris(*day, 8, 0) + dt.timedelta(minutes=5 * i),
                duration=15, urgent=kind == 4, remark="Apporter la radio" if kind == 4 else "",
                state=AppointmentState.CANCELLED if kind == 3 else AppointmentState.FUTURE,
                cancelled_by=CancelledBy.PATIENT if kind == 3 else "",
                confirmed_at=timezone.now() if kind == 0 else None,
                cancel_requested_at=timezone.now() if kind == 2 else None,
            )

    rows(1)
    planning(assistant_client, "2030-06-12")  # the session's and the practice's first loads
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        planning(assistant_client, "2030-06-11")
    Appointment.objects.all().delete()
    rows(40)
    with django_assert_num_queries(len(one.captured_queries)):
        content = planning(assistant_client, "2030-06-11")
    assert content.count("data-appointment=") == 40
    first = Appointment.objects.order_by("start").first()
    assert f'href="{reverse("patients:detail", args=[first.patient_id])}">NOM0 Léa</a>' in content
    assert "08h00</span> <span class=\"text-muted small\">– 08h15 · 15 min" in content
    assert "M. Extérieur <span class=\"badge text-bg-light border\">externe</span>" in content
    assert '<span title="Détartrage">DET</span> · <span title="Fauteuil 2">F2</span>' in content
    assert "Annulé (par le patient)" in content and "Urgence" in content and "Apporter la radio" in content
    assert "Confirmé par SMS le" in content and "Annulation demandée" in content
    assert 'aria-label="Dr PARTI' in content  # the inactive practitioner's column
    assert f'action="{reverse("patients:appointment_state", args=[first.pk])}"' in content
    assert f'href="{reverse("patients:appointment_cancel", args=[first.pk])}?next=/patients/rendez-vous/%3Fjour%3D2030-06-11"' in content
    assert f'href="{reverse("patients:appointment_move", args=[first.pk])}"' in content


def test_a_row_computed_once_is_in_the_users_language(assistant_client):
    """The row's labels (state menu, state, who cancelled) and times are computed in Python once
    per page: in the language of the staff member who reads it."""
    appointment = AppointmentFactory(start=paris(2030, 6, 13, 9, 30), state=AppointmentState.CANCELLED,
                                     cancelled_by=CancelledBy.PATIENT)
    french = planning(assistant_client, "2030-06-13")
    assert "09h30" in french and "Annulé (par le patient)" in french and ">Présent</button>" in french
    assistant_client.post("/langue/", {"language": "en"})
    english = planning(assistant_client, "2030-06-13")
    assert f'data-appointment="{appointment.pk}"' in english
    assert "09:30" in english and ">Attended</button>" in english and ">Présent<" not in english
    assert "Annulé" not in english
