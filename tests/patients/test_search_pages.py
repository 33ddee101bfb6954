"""The "Recherches" forms refuse what would silently find nobody, with a French message."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from patients.forms_search import PatientSearchForm

pytestmark = pytest.mark.django_db


def test_a_reversed_birthday_range_is_a_form_error_on_the_page(assistant_client):
    page = assistant_client.get(
        reverse("search:patients"),
        {"rechercher": "1", "birthday_from": "2026-03-10", "birthday_to": "2026-03-01"},
    )
    content = html.unescape(page.content.decode())
    assert "La fin de la période d'anniversaires est avant son début" in content
    assert page.context["rows"] is None  # no search run on it


def test_birthday_ranges_across_the_new_year_and_age_ranges():
    across = PatientSearchForm({"birthday_from": "2025-12-20", "birthday_to": "2026-01-10"})
    assert across.is_valid(), across.errors
    reversed_ages = PatientSearchForm({"age_min": "40", "age_max": "20"})
    assert not reversed_ages.is_valid()
    assert reversed_ages.errors["age_max"] == ["L'âge maximum est inférieur à l'âge minimum."]
