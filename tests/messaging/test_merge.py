"""The merge renderer: fields are data, never code."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from messaging.merge import catalog, merge_context, render, unknown_codes, validate_merge_text
from messaging.models import FreeField, ParticularField
from patients.models import CorrespondentLink, Practitioner
from practice.models import Practice
from tests.factories import (
    AppointmentFactory,
    CorrespondentFactory,
    MinorPatientFactory,
    PatientFactory,
    PractitionerFactory,
)

pytestmark = pytest.mark.django_db

SEED_TEXT = "Bonjour,\nLe @PRAT a le plaisir de vous rappeler le RDV de @PPREN @PNOM le @RDV1.\nNous vous souhaitons une agréable journée."


@pytest.fixture
def molaire():
    return PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")


@pytest.fixture
def emma_appointment(molaire):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", practitioner=molaire)
    start = timezone.make_aware(dt.datetime(2019, 10, 2, 11, 0))
    return AppointmentFactory(patient=emma, practitioner=molaire, start=start)


def test_the_seed_example_renders_exactly(emma_appointment):
    ctx = merge_context(appointment=emma_appointment, today=dt.date(2019, 10, 1))
    result = render(SEED_TEXT, ctx)
    assert result.text == (
        "Bonjour,\nLe Dr MOLAIRE Marc a le plaisir de vous rappeler le RDV de Emma ABLIRANT le "
        "02/10/2019 à 11h00.\nNous vous souhaitons une agréable journée."
    )
    assert result.warnings == []


def test_adjacent_fields_need_no_space(emma_appointment):
    ctx = merge_context(appointment=emma_appointment)
    assert render("@PPREN@PNOM", ctx).text == "EmmaABLIRANT"
    # The longest code wins: @PPREN2 is not @PPREN followed by "2".
    assert render("[@PPREN2]", ctx).text == "[]"
    assert render("@PNOM.", ctx).text == "ABLIRANT."


def test_appointment_time_is_in_paris_time_on_a_dst_day(molaire):
    # 27/10/2019 at 09:30 UTC is 10:30 in Paris (winter time started at 03:00 that night).
    start = dt.datetime(2019, 10, 27, 9, 30, tzinfo=dt.UTC)
    appt = AppointmentFactory(practitioner=molaire, start=start)
    ctx = merge_context(appointment=appt)
    assert render("@RDV1 / @RDVJOUR / @RDVHEURE", ctx).text == "27/10/2019 à 10h30 / dimanche 27 octobre 2019 / 10h30"


def test_dates_are_formatted_for_their_instant_and_zone_whatever_was_formatted_before():
    # format_datetime caches its strings by (instant, zone): the same instant in another zone
    # object, another zone, or a naive time must each give their own text.
    from zoneinfo import ZoneInfo

    from messaging.merge import format_datetime

    paris, tokyo = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")
    summer = dt.datetime(2019, 10, 27, 0, 30, tzinfo=dt.UTC)  # 02:30 in Paris, still summer time
    winter = dt.datetime(2019, 10, 27, 1, 30, tzinfo=dt.UTC)  # 02:30 in Paris again, winter time
    assert format_datetime(summer, paris) == format_datetime(winter, paris) == "27/10/2019 à 02h30"
    assert format_datetime(summer.astimezone(paris), paris) == "27/10/2019 à 02h30"
    assert format_datetime(summer, tokyo) == "27/10/2019 à 09h30"
    assert format_datetime(dt.datetime(2019, 10, 27, 0, 30), paris) == "27/10/2019 à 00h30"  # naive: as is
    assert format_datetime(None, paris) == ""


def test_missing_data_renders_empty_and_is_reported(molaire):
    patient = PatientFactory(first_name="Léa", mobile="", practitioner=molaire)
    result = render("Portable : @PORT_PAT, RDV : @RDV1.", merge_context(patient=patient))
    assert result.text == "Portable : , RDV : ."
    assert len(result.warnings) == 2
    assert any("@PORT_PAT" in w and "manquante" in w for w in result.warnings)
    assert any("@RDV1" in w and "aucun rendez-vous" in w for w in result.warnings)


def test_accents_and_text_around_fields_are_kept(emma_appointment):
    result = render("Chère @PPREN, à bientôt — l’équipe « @CABNOM »", merge_context(appointment=emma_appointment))
    assert result.text == f"Chère Emma, à bientôt — l’équipe « {Practice.get().name} »"


@pytest.mark.parametrize(
    "text",
    [
        "{{ settings.SECRET_KEY }}",
        "{% debug %}",
        "{0.__class__}",
        "{{ patient.__class__.__mro__ }} %(PNOM)s {PNOM}",
        "<script>alert(1)</script>",
    ],
)
def test_template_syntax_of_any_engine_is_literal_text(text, emma_appointment):
    result = render(text + " @PNOM", merge_context(appointment=emma_appointment))
    assert result.text == text + " ABLIRANT"


def test_values_are_escaped_in_html_but_not_in_text(molaire):
    patient = PatientFactory(last_name="<b>Evil</b>", first_name="A&B", practitioner=molaire)
    ctx = merge_context(patient=patient)
    assert render("<p>@PPREN @PNOM</p>", ctx, html=True).text == "<p>A&amp;B &lt;B&gt;EVIL&lt;/B&gt;</p>"
    assert render("@PPREN", ctx).text == "A&B"


def test_emails_and_lowercase_at_signs_are_not_codes(emma_appointment):
    text = "Écrivez à contact@cabinet.fr, @bientôt"
    assert render(text, merge_context(appointment=emma_appointment)).text == text
    assert unknown_codes(text) == []


def test_unknown_codes_are_refused_with_a_suggestion():
    problems = unknown_codes("Bonjour @PPRN, @ZZZZZZZZ et @PPRN")
    assert [(p.code, p.suggestion) for p in problems] == [("@PPRN", "@PPREN"), ("@ZZZZZZZZ", None)]
    with pytest.raises(ValidationError) as exc:
        validate_merge_text("Bonjour @PPRN")
    assert "Vouliez-vous dire @PPREN" in str(exc.value)
    validate_merge_text("Bonjour @PPREN @PNOM")  # known codes pass


def test_particular_field_for_each_sex_and_age(molaire):
    ParticularField.objects.create(number=1, label="né/née", girl="née", boy="né", woman="née", man="né")
    ParticularField.objects.create(number=2, label="il/elle", girl="petite", boy="petit", woman="Madame", man="Monsieur")
    today = timezone.localdate()
    cases = [
        ("F", dt.date(2015, 1, 1), "née petite"),
        ("M", dt.date(2015, 1, 1), "né petit"),
        ("F", dt.date(1980, 1, 1), "née Madame"),
        ("M", dt.date(1980, 1, 1), "né Monsieur"),
    ]
    for sex, birth, expected in cases:
        patient = PatientFactory(sex=sex, birth_date=birth, practitioner=molaire)
        assert render("@PART_01 @PART_02", merge_context(patient=patient, today=today)).text == expected
    # The seed's spelling without the underscore works too.
    patient = PatientFactory(sex="F", birth_date=dt.date(1980, 1, 1))
    assert render("@PART01", merge_context(patient=patient)).text == "née"


def test_particular_field_warns_when_sex_is_unknown():
    ParticularField.objects.create(number=1, label="né/née", girl="née", boy="né", woman="née", man="né")
    patient = PatientFactory(sex="")
    result = render("@PART_01", merge_context(patient=patient))
    assert result.text == ""
    assert "sexe" in result.warnings[0]


def test_free_field_follows_the_correspondents_relationship(molaire):
    FreeField.objects.create(number=1, label="Formule", ami="Amicalement", amie="Amicalement",
                             confrere="Confraternellement", consoeur="Confraternellement")
    other = Practitioner.objects.create(last_name="Canine", first_name="Anne", initials="AC")
    patient = PatientFactory(practitioner=molaire)
    friend = CorrespondentFactory()
    CorrespondentLink.objects.create(correspondent=friend, practitioner=molaire, relationship="ami")
    CorrespondentLink.objects.create(correspondent=friend, practitioner=other, relationship="consoeur")
    assert render("@LIBRE_01", merge_context(patient=patient, correspondent=friend)).text == "Amicalement"
    patient.practitioner = other
    assert render("@LIBRE01", merge_context(patient=patient, correspondent=friend)).text == "Confraternellement"
    stranger = CorrespondentFactory(last_name="Inconnu")
    result = render("@LIBRE_01", merge_context(patient=patient, correspondent=stranger))
    assert result.text == "" and "relation" in result.warnings[0]


def test_guardian_and_recipient_fields(molaire):
    minor = MinorPatientFactory(first_name="Luka", last_name="Kisiel", practitioner=molaire)
    guardian = minor.civil_guardian
    ctx = merge_context(patient=minor, recipient=guardian)
    assert render("Bonjour @DCIVIL @DNOM, le RDV de @PPREN", ctx).text == "Bonjour Mme ABLIRANT, le RDV de Luka"
    assert render("@RCPREN @RCNOM / @RFNOM", ctx).text == "Stéphanie ABLIRANT / KISIEL"


def test_next_appointment_and_file_fields(molaire):
    patient = PatientFactory(file_number="2228", birth_date=dt.date(2010, 11, 8), practitioner=molaire)
    soon = timezone.now() + dt.timedelta(days=3)
    AppointmentFactory(patient=patient, practitioner=molaire, start=soon)
    AppointmentFactory(patient=patient, practitioner=molaire, start=soon + dt.timedelta(days=30))
    result = render("@PDOSS @PNAIS @PROCHRDV", merge_context(patient=patient))
    local = timezone.localtime(soon)
    assert result.text == f"2228 08/11/2010 {local:%d/%m/%Y} à {local:%H}h{local:%M}"


def test_only_the_codes_used_are_computed(django_assert_num_queries, emma_appointment):
    ctx = merge_context(appointment=emma_appointment, practice=Practice.get())
    ctx.custom  # noqa: B018 - loaded once per batch, up front
    with django_assert_num_queries(0):
        render("@PPREN @PNOM @RDV1 @PRAT", ctx)


def test_catalog_search_and_categories():
    ParticularField.objects.create(number=3, label="accord participe", girl="e", boy="", woman="e", man="")
    codes = {f.code for f in catalog(search="portable")}
    assert "@PORT_PAT" in codes
    assert {f.code for f in catalog(search="prénom patient")} >= {"@PPREN", "@PPREN2"}
    assert {f.code for f in catalog(category="particuliers")} == {"@PART_03"}
    principal = {f.code for f in catalog(category="principaux")}
    assert {"@PNOM", "@PPREN", "@RDV1", "@PRAT", "@DATEJ"} <= principal
    seed_codes = {"@AGPAT", "@MAIL_PAT", "@PADR1", "@PADR2", "@PCIVIL", "@PCPOST", "@PNOM", "@PORT_PAT",
                  "@PPREN", "@PSEXE", "@PTYPE", "@PVILLE", "@TEL_PAT", "@PRAT", "@RDV1"}
    assert seed_codes <= {f.code for f in catalog()}


def test_a_typo_that_starts_with_a_real_code_is_refused_at_save_time():
    # At render time the longest known code wins (@PPREN + "OM"), but a code glued to more
    # capitals is almost always a typo: refuse it when the template is saved.
    problems = unknown_codes("Bonjour @PPRENOM, @PNOM@PPREN, @RDV1.")
    assert [(p.code, p.suggestion) for p in problems] == [("@PPRENOM", "@PPREN")]


def test_every_catalog_code_has_a_value_provider():
    from messaging.merge import _BUILTIN_CODES, _PROVIDERS

    assert set(_PROVIDERS) == set(_BUILTIN_CODES)


def test_a_batch_tokenizes_each_text_once_and_renders_every_row_the_same_way(emma_appointment):
    from messaging.merge import CustomFields, tokenize

    custom = CustomFields.load()
    text = "Bonjour @PPREN@PNOM, RDV le @RDV1 @INCONNU"
    first = tokenize(text, custom)
    assert tokenize(text, custom) == first and first is not tokenize(text, custom)  # callers get their own list
    ctx = merge_context(appointment=emma_appointment, practice=Practice.get(), custom=custom)
    fresh = merge_context(appointment=emma_appointment, practice=Practice.get(), custom=CustomFields.load())
    assert render(text, ctx) == render(text, fresh)
    assert render(text, ctx).text.startswith("Bonjour EmmaABLIRANT, RDV le ")
