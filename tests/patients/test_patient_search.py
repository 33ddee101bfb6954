"""patient_search finds a patient by the start of the name in either order ("MERCIER Élodie" and
"Élodie Mercier"), accents ignored, and both prefixes are served by indexes."""

from __future__ import annotations

import types

import pytest
from django.apps import apps as global_apps
from django.db import connection

from patients.models import Patient
from patients.selectors import patient_search
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def elodie():
    PatientFactory(last_name="Élodie", first_name="Marc")  # a surname that looks like a first name
    PatientFactory(last_name="Martin", first_name="Paul")
    return PatientFactory(last_name="Mercier", first_name="Élodie")


def found(query: str) -> set[str]:
    return {p.display_name for p in patient_search(query=query)}


@pytest.mark.parametrize("query", ["elodie", "Élodie", "ELODIE", "élo"])
def test_first_name_alone_finds_the_patient_accents_ignored(elodie, query):
    assert elodie.display_name in found(query)
    assert "MARTIN Paul" not in found(query)


@pytest.mark.parametrize("query", ["elodie mercier", "Élodie Merc", "mercier elodie", "MERCIER"])
def test_first_name_then_name_and_name_then_first_name(elodie, query):
    assert found(query) == {"MERCIER Élodie"}


def test_accented_first_name_with_a_diaeresis():
    anais = PatientFactory(last_name="Durand", first_name="Anaïs")
    for query in ("Anaïs", "anais", "anaïs durand"):
        assert list(patient_search(query=query)) == [anais], query


def test_the_key_follows_a_rename_even_with_update_fields():
    patient = PatientFactory(last_name="Mercier", first_name="Élodie")
    assert patient.search_key_first == "ELODIE MERCIER"
    patient.first_name = "Anaïs"
    patient.save(update_fields=["first_name"])
    assert Patient.objects.get(pk=patient.pk).search_key_first == "ANAIS MERCIER"


def test_both_name_prefixes_are_served_by_their_indexes(elodie):
    """With sequential scans priced out (the table is tiny here, a real one has 100,000 rows), the
    planner must be able to answer from the two name indexes: no Seq Scan on patients.

    The table gets a few thousand rows and fresh statistics first: the plan otherwise depends on
    whatever statistics earlier tests left (autovacuum analyses the table while other tests fill
    it), and on a table believed empty a full scan of any index, filtered, is as cheap as the
    prefix scans."""
    others = [PatientFactory.build(last_name=f"Nom{i:04d}", first_name=f"Prenom{i:04d}") for i in range(3000)]
    for patient in others:
        patient.set_search_keys()
    Patient.objects.bulk_create(others, batch_size=1000)
    sql, params = patient_search(query="elodie").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Patient._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on patients_patient" not in plan, plan
    assert "search_key_first" in plan, plan
    assert "patients_patient_search_key_" in plan.replace("search_key_first", ""), plan


def test_the_migration_fills_the_key_of_existing_patients(monkeypatch):
    import importlib

    migration = importlib.import_module("patients.migrations.0005_patient_search_key_first")
    first = PatientFactory(last_name="Mercier", first_name="Élodie")
    second = PatientFactory(last_name="D'Arc", first_name="Jeanne")
    Patient.objects.update(search_key_first="")  # as the rows are just after AddField
    schema_editor = types.SimpleNamespace(connection=connection)
    monkeypatch.setattr(migration, "BATCH", 1)  # several batches, to walk the primary keys
    migration.fill_search_key_first(global_apps, schema_editor)
    keys = dict(Patient.objects.values_list("pk", "search_key_first"))
    assert keys == {first.pk: "ELODIE MERCIER", second.pk: "JEANNE D ARC"}
