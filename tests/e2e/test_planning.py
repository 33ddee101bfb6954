"""The day planning in headless Chromium: pick a patient as you type, mark an appointment missed."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import Appointment, AppointmentState
from tests.factories import AppointmentFactory, ChairFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2030, 6, 3)


# A past day: an appointment can only be marked missed once its time has passed.
PAST_DAY = dt.date(2024, 6, 3)


def paris(hour, minute=0, day=DAY):
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time(hour, minute)), timezone.get_current_timezone()
    )


@pytest.fixture
def assistant_user(db):
    return UserFactory(username="julie", first_name="Julie", role="Assistant(e)")


def test_mark_an_appointment_missed_from_the_planning(login, live_server, assistant_user):
    appointment = AppointmentFactory(
        start=paris(10, day=PAST_DAY),
        patient=PatientFactory(last_name="Point", first_name="Estelle"),
        practitioner=PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM"),
    )
    page = login(assistant_user)
    page.goto(f"{live_server.url}/patients/rendez-vous/?jour={PAST_DAY.isoformat()}")
    slot = page.locator(f"[data-appointment='{appointment.pk}']")
    expect(slot).to_contain_text("10h00")
    expect(slot).to_contain_text("POINT Estelle")
    slot.get_by_role("button", name="Actions pour POINT Estelle à 10h00").click()
    slot.get_by_role("button", name="Manqué").click()
    expect(page.get_by_text("POINT Estelle : rendez-vous manqué.")).to_be_visible()
    slot = page.locator(f"[data-appointment='{appointment.pk}']")
    expect(slot).to_contain_text("Manqué")
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.MISSED


def test_take_an_appointment_picking_the_patient_as_you_type(login, live_server, assistant_user):
    PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    ChairFactory(code="F1", label="Fauteuil 1")
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228")
    page = login(assistant_user)
    page.goto(f"{live_server.url}/patients/rendez-vous/?jour={DAY.isoformat()}")
    page.get_by_role("link", name="Nouveau rendez-vous", exact=True).click()
    # The patient field suggests by script: typing before the page's scripts ran suggests nothing.
    page.wait_for_url(re.compile(r"/rendez-vous/nouveau/"))
    page.wait_for_load_state()
    page.get_by_role("combobox", name="Patient").fill("zimm")
    page.get_by_role("option", name="ZIMMER Alexis").click()
    page.get_by_label("Heure").fill("08:20")
    page.get_by_label("Fauteuil").select_option(label="Fauteuil 1")
    page.get_by_role("button", name="Prendre le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("03/06/2030")
    expect(page.get_by_role("link", name="ZIMMER Alexis")).to_be_visible()
    appointment = Appointment.objects.get()
    assert appointment.patient == patient
    assert timezone.localtime(appointment.start) == paris(8, 20)


def test_a_busy_day_pages_through_its_appointments_and_keeps_the_page_after_a_change(
    login, live_server, assistant_user
):
    from patients.selectors import PLANNING_PAGE
    from tests.e2e.conftest import screenshot

    practitioner = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    patients = [PatientFactory() for _ in range(PLANNING_PAGE + 20)]
    Appointment.objects.bulk_create(
        Appointment(patient=p, practitioner=practitioner, start=paris(7, day=PAST_DAY) + dt.timedelta(minutes=2 * i),
                    duration=20)
        for i, p in enumerate(patients)
    )
    total = PLANNING_PAGE + 20
    page = login(assistant_user)
    page.goto(f"{live_server.url}/patients/rendez-vous/?jour={PAST_DAY.isoformat()}")
    expect(page.get_by_text(f"{total} rendez-vous.")).to_be_visible()
    notice = page.locator(".planning-pages").first
    expect(notice).to_contain_text(f"rendez-vous 1 à {PLANNING_PAGE} sur {total}")
    expect(page.locator("[data-appointment]")).to_have_count(PLANNING_PAGE)
    screenshot(page, "planning-busy-day")
    notice.get_by_role("link", name="Rendez-vous suivants ›").click()
    expect(page.locator(".planning-pages").first).to_contain_text(f"rendez-vous {PLANNING_PAGE + 1} à {total} sur {total}")
    last = Appointment.objects.order_by("-start").first()
    slot = page.locator(f"[data-appointment='{last.pk}']")
    slot.locator("button.dropdown-toggle").click()
    slot.get_by_role("button", name="Manqué").click()
    expect(page.get_by_text("rendez-vous manqué.")).to_be_visible()
    expect(page.locator(".planning-pages").first).to_contain_text("page 2 sur 2")
    expect(page.locator(f"[data-appointment='{last.pk}']")).to_contain_text("Manqué")
