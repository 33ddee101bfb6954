"""PhoneField: E.164 in the database and as a plain str in Python, normalised on assignment,
typed and shown the French way in forms."""

import pytest
from django import forms
from django.db import connection

from patients.fields import PhoneField, as_e164
from patients.models import Guardian, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_numbers_assigned_any_usual_way_are_kept_in_e164():
    patient = PatientFactory(mobile="06 84 28 55 60", phone="03.80.32.01.40")
    assert patient.mobile == "+33684285560" and type(patient.mobile) is str
    assert patient.phone == "+33380320140"
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, phone FROM patients_patient WHERE id = %s", [patient.pk])
        assert cursor.fetchone() == ("+33684285560", "+33380320140")


def test_numbers_read_from_the_database_are_plain_strings():
    PatientFactory(mobile="+33684285560")
    loaded = Patient.objects.get()
    assert type(loaded.mobile) is str and loaded.mobile == "+33684285560"
    assert Patient.objects.filter(mobile="06 84 28 55 60").get() == loaded  # lookups normalise too


def test_an_invalid_number_keeps_what_was_typed_and_is_refused_by_validation():
    assert as_e164("06 12") == "06 12"
    assert as_e164("") == "" and as_e164(None) is None
    from django.core.exceptions import ValidationError

    mobile = Patient._meta.get_field("mobile")
    with pytest.raises(ValidationError, match="portable"):
        mobile.clean("03 80 32 01 40", None)
    assert mobile.clean("06 84 28 55 60", None) == "+33684285560"


def test_a_phonenumber_object_from_a_form_is_stored_in_e164():
    import phonenumbers

    guardian = Guardian(last_name="Zimmer", first_name="Anne")
    guardian.mobile = phonenumbers.parse("07 81 23 45 67", "FR")
    assert guardian.mobile == "+33781234567"


def test_the_form_field_shows_the_national_format_and_parses_what_staff_type():
    class Form(forms.ModelForm):
        class Meta:
            model = Guardian
            fields = ["mobile"]

    form = Form(instance=Guardian(mobile="+33781234567"))
    assert 'value="07 81 23 45 67"' in str(form["mobile"])
    bound = Form(data={"mobile": "07.81.23.45.67"}, instance=Guardian(last_name="Z", first_name="A"))
    assert bound.is_valid(), bound.errors
    assert bound.instance.mobile == "+33781234567"


def test_the_field_deconstructs_for_migrations():
    name, path, args, kwargs = PhoneField("portable", blank=True).deconstruct()
    assert path == "patients.fields.PhoneField" and kwargs["max_length"] == 128
