"""The selection of a search's rows, kept on the server: every row of the search (1,500 here, past
Django's 1,000 form fields), paging, "Tous" / "Aucun", rows unticked and ticked by hand, and the
mass mailing and the campaign that start from it. Through the real views."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.mass_drafts import draft_load
from messaging.models import Campaign, Mailing
from patients.models import Patient, SearchSelection
from patients.selection import LIFETIME, selection_purge
from patients.views_search import PAGE_SIZE
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
    appointments_in_bulk,
)

pytestmark = pytest.mark.django_db

ROWS = 1500


def tomorrow() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=1)


def search_params(**extra) -> dict:
    day = tomorrow().isoformat()
    return {"date_from": day, "date_to": day, "time_from": "07:00", "time_to": "21:00", "states": "futur", **extra}


@pytest.fixture
def many_appointments(db) -> list[int]:
    """ROWS appointments tomorrow: their ids in the search's order."""
    return [a.pk for a in appointments_in_bulk(ROWS, day=tomorrow(), practitioner=PractitionerFactory(initials="MM"))]


def page(client, *, selection: str = "", number: int = 1, **extra):
    params = search_params(**extra, page=number)
    if selection:
        params["selection"] = selection
    return client.get(reverse("search:appointments"), params)


def change(client, key: str, action: str, ids=()):
    return client.post(reverse("search:selection", args=[key]), {"action": action, "ids": ",".join(map(str, ids))})


def test_more_rows_than_django_accepts_form_fields():
    # The reason the selection lives on the server: one form field per ticked row cannot work.
    assert ROWS > settings.DATA_UPLOAD_MAX_NUMBER_FIELDS


def test_all_rows_but_a_few_across_pages_start_a_mass_mailing(assistant_client, many_appointments):
    ids = many_appointments
    first = page(assistant_client)
    assert first.status_code == 200
    html = first.content.decode()
    key = first.context["selection"].key
    # Every row of the search is selected, not only the PAGE_SIZE shown.
    assert f"{ROWS} rendez-vous, {ROWS} sélectionnés" in html
    assert html.count('class="form-check-input row-check"') == PAGE_SIZE
    assert html.count(" checked aria-label=\"Sélectionner") == PAGE_SIZE
    assert f"Page 1 / {-(-ROWS // PAGE_SIZE)}" in html
    # The mass-mailing form is a handful of fields, whatever the number of rows.
    assert 'name="ids"' not in html and f'name="selection" value="{key}"' in html

    # Untick one row on page 1, then two on the last page (reached through the page links).
    assert change(assistant_client, key, "untick", [ids[0]]).json() == {"selected": ROWS - 1, "total": ROWS, "all": True}
    last = page(assistant_client, selection=key, number=8)
    assert last.context["selection"].key == key  # the pages of one search share its selection
    assert f"{ROWS} rendez-vous, {ROWS - 1} sélectionnés" in last.content.decode()
    reply = change(assistant_client, key, "untick", [ids[-1], ids[-2]]).json()
    assert reply["selected"] == ROWS - 3
    # A click sent twice counts once; ticking one again puts it back.
    assert change(assistant_client, key, "untick", [ids[-1]]).json()["selected"] == ROWS - 3
    assert change(assistant_client, key, "tick", [ids[-2]]).json()["selected"] == ROWS - 2

    again = page(assistant_client, selection=key, number=8)
    boxes = {r.pk: r.ticked for r in again.context["rows"]}
    assert boxes[ids[-1]] is False and boxes[ids[-2]] is True
    assert page(assistant_client, selection=key).context["rows"][0].ticked is False

    response = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "selection": key}
    )
    assert response.status_code == 302
    draft = draft_load(key=response.url.split("/")[-3], user=response.wsgi_request.user)
    assert draft.appointment_ids == [i for i in ids if i not in (ids[0], ids[-1])]  # in the search's order


def test_none_then_a_few_ticked_by_hand(assistant_client, many_appointments):
    ids = many_appointments
    key = page(assistant_client).context["selection"].key
    assert change(assistant_client, key, "none").json() == {"selected": 0, "total": ROWS, "all": False}
    assert "1500 rendez-vous, 0 sélectionné<" in page(assistant_client, selection=key).content.decode()
    assert change(assistant_client, key, "tick", [ids[5], ids[900]]).json()["selected"] == 2
    assert change(assistant_client, key, "untick", [ids[5]]).json()["selected"] == 1
    start = assistant_client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "email", "selection": key})
    draft = draft_load(key=start.url.split("/")[-3], user=start.wsgi_request.user)
    assert draft.appointment_ids == [ids[900]] and draft.channel == "email"
    # "Tous" again: every row, the hand-ticked ones forgotten.
    assert change(assistant_client, key, "all").json()["selected"] == ROWS


def test_nothing_selected_is_refused_with_a_message(assistant_client, many_appointments):
    key = page(assistant_client).context["selection"].key
    change(assistant_client, key, "none")
    response = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "selection": key}, follow=True
    )
    assert "Cochez au moins une ligne avant de lancer un publipostage." in response.content.decode()


def test_a_new_search_starts_a_new_selection_all_ticked(assistant_client):
    a = AppointmentFactory()
    key = page(assistant_client).context["selection"].key
    change(assistant_client, key, "untick", [a.pk])
    # Other criteria with the old selection's name: a new run, all ticked.
    other = page(assistant_client, selection=key, time_from="08:00")
    assert other.context["selection"].key != key and other.context["rows"][0].ticked
    # The same criteria without a name ("Rechercher" again): a new run too.
    assert page(assistant_client).context["selection"].key != key


def test_a_selection_is_its_users_only(client, assistant_client, many_appointments):
    key = page(assistant_client).context["selection"].key
    other = UserFactory(username="autre", role="Assistant(e)")
    client.force_login(other)
    response = change(client, key, "none")
    assert response.status_code == 404
    assert response.json()["error"] == "Cette sélection a expiré : relancez la recherche."
    started = client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "selection": key},
                          HTTP_REFERER=reverse("search:appointments"), follow=True)
    assert "Cette sélection a expiré : relancez la recherche." in started.content.decode()
    assert SearchSelection.objects.get(key=key).all_rows  # untouched


def test_bad_requests_answer_in_french(assistant_client):
    AppointmentFactory()
    key = page(assistant_client).context["selection"].key
    assert change(assistant_client, key, "everything").json() == {"error": "Action inconnue : everything"}
    bad = assistant_client.post(reverse("search:selection", args=[key]), {"action": "tick", "ids": "1,abc"})
    assert bad.status_code == 400 and bad.json() == {"error": "Lignes invalides."}
    assert assistant_client.get(reverse("search:selection", args=[key])).status_code == 405


def test_selections_unused_for_a_day_are_purged(assistant_client):
    AppointmentFactory()
    old = page(assistant_client).context["selection"]
    SearchSelection.objects.filter(pk=old.pk).update(updated_at=timezone.now() - LIFETIME - dt.timedelta(minutes=1))
    page(assistant_client)  # the next run purges it
    assert not SearchSelection.objects.filter(pk=old.pk).exists()
    assert selection_purge() == 0


def test_the_campaign_starts_from_the_patient_search_selection(assistant_client):
    kept = [PatientFactory(last_name=f"Garde{n}", mobile=f"+3361234560{n}") for n in range(3)]
    response = assistant_client.get(reverse("search:patients"), {"rechercher": "1", "has_mobile": "1"})
    key = response.context["selection"].key
    change(assistant_client, key, "untick", [kept[1].pk])
    form = assistant_client.post(reverse("campaigns:create"), {"selection": key})
    assert form.context["selected_count"] == 2
    hidden = form.context["form"]["patient_ids"].value()
    assert sorted(int(i) for i in hidden.split(",")) == sorted([kept[0].pk, kept[2].pk])
    created = assistant_client.post(reverse("campaigns:create"), {
        "name": "Rappel", "channel": "sms", "kind": "soins", "body": "Bonjour @PPREN", "patient_ids": hidden,
    })
    assert created.status_code == 302
    assert Campaign.objects.get().recipients.count() == 2


def test_the_search_page_costs_the_same_queries_for_a_page_of_200_as_for_3(assistant_client, many_appointments):
    key = page(assistant_client).context["selection"].key
    change(assistant_client, key, "untick", many_appointments[:3])
    with CaptureQueriesContext(connection) as full:
        page(assistant_client, selection=key)
    with CaptureQueriesContext(connection) as small:
        page(assistant_client, selection=key, number=8)  # 100 rows
    with CaptureQueriesContext(connection) as few:
        page(assistant_client, selection=key, time_from="20:29")  # 3 rows, a new selection
    assert len(full) == len(small)
    assert len(few) <= len(full) + 2  # the new selection: purge + insert
    assert len(full) < 20


def test_a_row_id_no_database_holds_answers_in_french(assistant_client):
    """Ids the database cannot hold (past a bigint) or digits that are not ASCII ("²") are bad
    input, answered like any other (they were a 500 on PostgreSQL, or Python's English text)."""
    AppointmentFactory()
    key = page(assistant_client).context["selection"].key
    assert change(assistant_client, key, "none").status_code == 200
    for ids in ("99999999999999999999999", "1,²"):
        bad = assistant_client.post(reverse("search:selection", args=[key]), {"action": "tick", "ids": ids})
        assert bad.status_code == 400 and bad.json() == {"error": "Lignes invalides."}
    assert not SearchSelection.objects.get(key=key).rows.exists()


def test_a_recall_to_1500_patients_is_sent_from_the_patient_search(assistant_client):
    """The issue's case: a recall (no visit for 6 months) to 1,500 patients, all ticked but two,
    sent from the page: one mailing of 1,498 SMS."""
    patients = []
    for n in range(ROWS):
        p = PatientFactory.build(mobile=f"+3361{n:07d}")
        p.set_search_keys()
        patients.append(p)
    patients = Patient.objects.bulk_create(patients)
    search = assistant_client.get(reverse("search:patients"),
                                  {"rechercher": "1", "no_appointment_since_months": "6", "has_mobile": "1"})
    key = search.context["selection"].key
    assert f"{ROWS} patients, {ROWS} sélectionnés" in search.content.decode()
    assert change(assistant_client, key, "untick", [patients[0].pk, patients[-1].pk]).json()["selected"] == ROWS - 2
    start = assistant_client.post(reverse("mass:start"), {"search": "patients", "channel": "sms", "selection": key})
    wizard = start.url.split("/")[-3]
    assistant_client.post(reverse("mass:message", args=[wizard]), {"body": "Bonjour @PPREN, pensez à votre contrôle."})
    preview = assistant_client.get(reverse("mass:recipients", args=[wizard])).content.decode()
    assert f"{ROWS - 2}</strong> messages seront envoyés pour {ROWS - 2} patients" in preview
    sent = assistant_client.post(reverse("mass:send", args=[wizard]))
    mailing = Mailing.objects.get()
    assert sent.url == reverse("mass:detail", args=[mailing.pk])
    assert mailing.messages.count() == ROWS - 2
    assert not mailing.messages.filter(patient_id__in=[patients[0].pk, patients[-1].pk]).exists()


def test_ids_posted_from_a_search_that_are_no_numbers_are_ignored(assistant_client):
    """"²" is a digit to str.isdigit but not to int(): the mass mailing's and the campaign's
    start pages ignore it (they were a 500)."""
    appointment = AppointmentFactory()
    started = assistant_client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "sms",
                                                            "ids": ["²", str(appointment.pk)]})
    assert started.status_code == 302
    form = assistant_client.post(reverse("campaigns:create"), {"patient_ids": ["²", str(appointment.patient_id)]})
    assert form.status_code == 200 and form.context["selected_count"] == 1
    bad = assistant_client.post(reverse("campaigns:create"), {
        "name": "Rappel", "channel": "sms", "kind": "soins", "body": "Bonjour", "patient_ids": f"²,{appointment.patient_id}",
    })
    assert bad.status_code in (200, 302)
