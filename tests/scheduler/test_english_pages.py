"""The programmeur's pages for an English-speaking staff member: the form's sections and
choices, its refusals, the list's labels and the run-now refusal, in English; French for the
others (tests/scheduler/test_views.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from scheduler.models import Treatment
from tests.helpers import page_text, sign_in_speaking

pytestmark = pytest.mark.django_db


@pytest.fixture
def english_admin(client):
    sign_in_speaking(client, "en", username="admin-en", role="Administrateur")
    return client


def test_the_treatment_form_speaks_english(english_admin):
    page = page_text(english_admin.get(reverse("scheduler:create"), {"kind": "appointments"}))
    assert "Period searched" in page and "Sending modes" in page and "Checkers" in page
    assert ">Working days (Monday to Friday)</option>" in page and ">From a date calculation</option>" in page
    assert "Période recherchée" not in page and "Jours ouvrés" not in page


def test_a_reversed_window_and_a_missing_channel_are_refused_in_english(english_admin, sms_template):
    data = {
        "kind": "appointments", "title": "Reminder", "hour": "07:00", "start_date": "2025-01-01",
        "periodicity": "weekdays", "weekdays": ["0", "3"], "date_mode": "relative", "offset_from": "3",
        "offset_to": "1", "send_sms": "on", "sms_template": sms_template.pk, "c_states": ["futur"], "active": "on",
    }
    page = page_text(english_admin.post(reverse("scheduler:create"), data))
    assert "The period “from D+3 to D+1” ends before it starts: enter from D+1 to D+3." in page
    page = page_text(english_admin.post(reverse("scheduler:create"), {**data, "offset_from": "1", "send_sms": ""}))
    assert "Tick at least one mode: SMS, email, letter or list." in page
    response = english_admin.post(reverse("scheduler:create"), {**data, "offset_from": "1", "offset_to": "3",
                                                                       "working_days": "on"})
    assert response.status_code == 302
    treatment = Treatment.objects.get()
    page = page_text(english_admin.get(reverse("scheduler:index")))
    assert "On Monday, Thursday" in page and "D+1 to D+3 (working days)" in page
    with translation.override("fr"):
        assert treatment.periodicity_label == "Le lundi, jeudi" and treatment.period_label == "de J+1 à J+3 (jours ouvrés)"


def test_running_an_inactive_treatment_by_hand_is_refused_in_english(client, reminder):
    sign_in_speaking(client, "en")
    Treatment.objects.filter(pk=reminder.pk).update(active=False)
    page = page_text(client.post(reverse("scheduler:run_now", args=[reminder.pk]), follow=True))
    assert "This treatment is inactive: only a user allowed to change treatments may run it by hand." in page
