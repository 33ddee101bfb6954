"""Mass-mailing drafts kept on the server for their user, and their preview merged once per change
of the draft: the wizard reopened after logging in again, the preview's pages read the stored
lines (no merge, constant queries), a change of the draft merges again, "Recalculer" too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import mass_mailing as mm
from messaging.mass_drafts import (
    LIFETIME,
    draft_load,
    draft_purge,
    line_from_json,
    line_to_json,
    preview_stored,
    summary_from_json,
    summary_to_json,
)
from messaging.models import MailingDraft, MailingDraftLine
from practice.bulk import statements
from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory, UserFactory, appointments_in_bulk

pytestmark = pytest.mark.django_db


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def start(client, ids, channel="sms") -> str:
    response = client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": channel, "ids": ids})
    assert response.status_code == 302, response
    return response.url.split("/")[-3]


@pytest.fixture
def merges(monkeypatch):
    """How many SMS the preview merged (``compose_sms`` as mass_mailing calls it)."""
    calls = []
    real = mm.compose_sms

    def counting(**kwargs):
        calls.append(kwargs["patient"].pk)
        return real(**kwargs)

    monkeypatch.setattr(mm, "compose_sms", counting)
    return calls


def test_the_wizard_reopens_after_logging_out_and_in(client):
    user = UserFactory(username="julie", role="Assistant(e)")
    a = AppointmentFactory(start=tomorrow_at(9))
    login = {"username": "julie", "password": "motdepasse-test"}
    assert client.post(reverse("login"), login).status_code == 302
    key = start(client, [a.pk])
    client.post(reverse("mass:message", args=[key]), {"body": "Gardé sur le serveur, @PPREN."})
    client.post(reverse("logout"))  # the session ends: nothing of the wizard was in it
    assert client.get(reverse("mass:message", args=[key])).status_code == 302  # to the login page
    assert client.post(reverse("login"), login).status_code == 302
    page = client.get(reverse("mass:message", args=[key]))
    assert page.status_code == 200 and "Gardé sur le serveur, @PPREN." in page.content.decode()
    recipients = client.get(reverse("mass:recipients", args=[key]))
    assert "Gardé sur le serveur, " + a.patient.first_name in recipients.content.decode()
    # Someone else's wizard is not found.
    client.force_login(UserFactory(username="autre", role="Assistant(e)"))
    assert client.get(reverse("mass:message", args=[key])).status_code == 404
    assert MailingDraft.objects.get(key=key).user == user


def test_the_preview_is_merged_once_per_change_of_the_draft(assistant_client, merges):
    rows = appointments_in_bulk(250, day=timezone.localdate() + dt.timedelta(days=1))
    key = start(assistant_client, [a.pk for a in rows])
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "RDV le @RDV1, @PPREN."})
    url = reverse("mass:recipients", args=[key])
    first = assistant_client.get(url)
    assert len(merges) == 250
    assert "250</strong> messages seront envoyés pour 250 patients" in first.content.decode()
    assert MailingDraftLine.objects.filter(draft__key=key).count() == 250
    for number in (2, 3, 1):  # paging reads the stored lines
        page = assistant_client.get(url, {"page": number})
        assert page.status_code == 200
    assert len(merges) == 250
    last = assistant_client.get(url, {"page": 3}).content.decode()
    assert rows[-1].patient.first_name in last and "Page 3 / 3" in last

    # Re-posting the same message changes nothing; another message merges again.
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "RDV le @RDV1, @PPREN."})
    assistant_client.get(url)
    assert len(merges) == 250
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "Nouveau : @PPREN."})
    assert "Nouveau : " + rows[0].patient.first_name in assistant_client.get(url).content.decode()
    assert len(merges) == 500
    # Removing a recipient changes the draft: merged again, without them.
    assistant_client.post(url, {"remove_appointment": rows[0].pk, "page": "1"})
    page = assistant_client.get(url).content.decode()
    assert len(merges) == 749 and "249</strong> messages" in page and rows[0].patient.first_name + "." not in page


def test_recalculer_merges_again_after_a_patient_file_changed(assistant_client, merges):
    a = AppointmentFactory(start=tomorrow_at(9), patient__first_name="Avant")
    key = start(assistant_client, [a.pk])
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "Bonjour @PPREN."})
    url = reverse("mass:recipients", args=[key])
    assert "Bonjour Avant." in assistant_client.get(url).content.decode()
    a.patient.first_name = "Après"
    a.patient.save()
    page = assistant_client.get(url).content.decode()
    assert "Bonjour Avant." in page and "Messages fusionnés le" in page  # stored, says when
    assistant_client.post(url, {"refresh": "1", "page": "1"})
    assert "Bonjour Après." in assistant_client.get(url).content.decode()
    assert len(merges) == 2


def test_preview_pages_cost_the_same_queries_for_30_or_250_recipients(assistant_client):
    day = timezone.localdate() + dt.timedelta(days=1)
    small = start(assistant_client, [a.pk for a in appointments_in_bulk(30, day=day)])
    large = start(assistant_client, [a.pk for a in appointments_in_bulk(250, day=day + dt.timedelta(days=1))])
    counts = {}
    for key in (small, large):
        assistant_client.post(reverse("mass:message", args=[key]), {"body": "RDV le @RDV1, @PPREN @PNOM."})
        url = reverse("mass:recipients", args=[key])
        with CaptureQueriesContext(connection) as merged:
            assistant_client.get(url)
        with CaptureQueriesContext(connection) as stored:
            assistant_client.get(url)
        counts[key] = (statements(merged), len(stored))
    assert counts[small] == counts[large]
    assert counts[large][1] < counts[large][0]


def test_the_stored_summary_and_lines_read_back_as_merged():
    practice = Practice.get()
    from messaging.cost import gateway_name

    practice.sms_prices = {gateway_name(): "0.08"}
    practice.save()
    appointments = [
        AppointmentFactory(start=tomorrow_at(9), patient=PatientFactory(first_name="Anaïs", mobile="+33612345678")),
        AppointmentFactory(start=tomorrow_at(10), patient=PatientFactory(first_name="Léa", mobile="")),
    ]
    draft = mm.MassDraft(search="rendez-vous", channel="sms", appointment_ids=[a.pk for a in appointments],
                         body="Bonjour @PPREN, votre rendez-vous au cabinet est le @RDV1. Merci de nous appeler en cas de retard.")
    preview = mm.mass_preview(draft)
    assert summary_from_json(summary_to_json(preview.summary)) == preview.summary
    assert preview.summary.estimate.accented and preview.summary.estimate.price is not None
    assert preview.summary.skipped == 1
    line = line_from_json(line_to_json(preview.lines[0], {appointments[0].pk}))
    assert line.text == preview.lines[0].text and line.sms_parts == preview.lines[0].sms_parts
    assert line.remove_appointment == appointments[0].pk and line.row.patient.pk == appointments[0].patient.pk
    assert line.row.appointment.start == appointments[0].start
    skipped = line_from_json(line_to_json(preview.lines[1], set()))
    assert not skipped.sendable and skipped.recipient.skip_reason and skipped.remove_appointment is None


def test_drafts_unused_for_a_week_are_purged(assistant_client):
    a = AppointmentFactory(start=tomorrow_at(9))
    old = start(assistant_client, [a.pk])
    assistant_client.post(reverse("mass:message", args=[old]), {"body": "Bonjour"})
    assistant_client.get(reverse("mass:recipients", args=[old]))
    MailingDraft.objects.filter(key=old).update(updated_at=timezone.now() - LIFETIME - dt.timedelta(minutes=1))
    start(assistant_client, [a.pk])  # the next wizard purges it, and its stored lines
    assert not MailingDraft.objects.filter(key=old).exists() and not MailingDraftLine.objects.exists()
    assert draft_purge() == 0
    assert assistant_client.get(reverse("mass:message", args=[old])).status_code == 404


def test_sending_forgets_the_stored_preview(assistant_client):
    a = AppointmentFactory(start=tomorrow_at(9))
    key = start(assistant_client, [a.pk])
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "Bonjour"})
    assistant_client.get(reverse("mass:recipients", args=[key]))
    assert MailingDraftLine.objects.count() == 1
    assistant_client.post(reverse("mass:send", args=[key]))
    assert MailingDraftLine.objects.count() == 0
    user = MailingDraft.objects.get(key=key).user
    assert draft_load(key=key, user=user).mailing_id is not None
    assert preview_stored(key=key, user=user).summary.patients == 1  # merged again if reopened
