"""A campaign's check page merged once per version of the campaign (list, texts, options): its
pages read the stored lines (no merge, constant queries), a change of the campaign merges again,
"Recalculer" too, and its counts are those the send produces."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import campaigns as svc
from messaging.campaign_checks import (
    check_stored,
    line_from_json,
    line_to_json,
    summary_from_json,
    summary_to_json,
)
from messaging.models import Campaign, CampaignCheckLine, CampaignKind, Channel, Message, MessageStatus
from practice.bulk import statements
from practice.models import Practice
from tests.factories import PatientFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db

CLOSED = "Le cabinet sera fermé du 1er au 15 août."


def _numbers(n: int, first: int = 0) -> str:
    return "\n".join(f"06 12 {(first + i) // 10000 % 100:02d} {(first + i) // 100 % 100:02d} {(first + i) % 100:02d}"
                     for i in range(n))


def _create(user, **kwargs):
    kwargs.setdefault("name", "Fermeture estivale")
    kwargs.setdefault("channel", Channel.SMS)
    kwargs.setdefault("kind", CampaignKind.CARE)
    kwargs.setdefault("body", CLOSED)
    return svc.campaign_create(created_by=user, **kwargs)[0]


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def merges(monkeypatch):
    """How many SMS the check merged (``compose_sms`` as the campaign preview calls it)."""
    calls = []
    real = svc.compose_sms

    def counting(**kwargs):
        calls.append(kwargs["recipient"])
        return real(**kwargs)

    monkeypatch.setattr(svc, "compose_sms", counting)
    return calls


def test_the_check_is_merged_once_per_version_of_the_campaign(assistant_client, assistant, merges):
    campaign = _create(assistant, pasted=_numbers(250))
    url = reverse("campaigns:detail", args=[campaign.pk])
    first = _text(assistant_client.get(url))
    assert len(merges) == 250
    assert "250 destinataires sur 250 recevront le message." in first and "Page 1 / 5" in first
    assert CampaignCheckLine.objects.filter(campaign=campaign).count() == 250
    for number in (2, 5, 3, 1):  # paging reads the stored lines
        assert assistant_client.get(url, {"page": number}).status_code == 200
    assert len(merges) == 250
    last = _text(assistant_client.get(url, {"page": 5}))
    assert "06.12.00.02.49" in last and "Page 5 / 5" in last and "06.12.00.01.99" not in last  # page 4's last

    # Another version of the campaign (here its choice about missing data) merges again, once.
    Campaign.objects.filter(pk=campaign.pk).update(keep_missing=True)
    assistant_client.get(url)
    assistant_client.get(url, {"page": 2})
    assert len(merges) == 500
    # Scheduling checks the campaign (one merge) and keeps that check for the page.
    when = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assistant_client.post(url, {"action": "schedule", "scheduled_at": when})
    assert len(merges) == 750
    assert "250 destinataires sur 250 recevront le message." in _text(assistant_client.get(url))
    assert len(merges) == 750
    # Sent: the check goes, the report takes over.
    svc.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk), requested_by=assistant)
    assert not CampaignCheckLine.objects.filter(campaign=campaign).exists()


def test_check_pages_cost_the_same_queries_for_30_or_250_recipients(assistant_client, assistant):
    counts = {}
    for n, first in ((30, 0), (250, 1000)):
        campaign = _create(assistant, name=f"Liste de {n}", pasted=_numbers(n, first))
        url = reverse("campaigns:detail", args=[campaign.pk])
        with CaptureQueriesContext(connection) as merged:
            assistant_client.get(url)
        with CaptureQueriesContext(connection) as stored:
            assistant_client.get(url, {"page": 2})
        counts[n] = (statements(merged), len(stored))
    assert counts[30][1] == counts[250][1]
    assert counts[250][1] < counts[250][0]


def test_the_stored_counts_are_what_the_send_does(assistant_client, assistant, sms_outbox, no_quiet_hours):
    """Reach, who receives nothing and why, missing data and the cost, as stored and read back,
    equal a fresh merge and the messages the send writes."""
    practice = Practice.get()
    practice.sms_prices = {"locmem": "0.08"}
    practice.save()
    PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33611223344")
    PatientFactory(first_name="Alexis", last_name="Martin", mobile="+33684285560")
    PatientFactory(first_name="Refus", mobile="+33622334455", sms_consent=False)
    campaign = _create(assistant, body="Bonjour @DPREN, le cabinet sera fermé du 1er au 15 juillet. Bonnes vacances "
                                        "à tous, à la rentrée.",
                       pasted="0611223344\n0684285560\n0622334455\n0633445566\n0644556677")
    url = reverse("campaigns:detail", args=[campaign.pk])
    assistant_client.get(url)
    page = _text(assistant_client.get(url))  # read back
    stored = check_stored(Campaign.objects.get(pk=campaign.pk)).summary
    fresh = svc.campaign_preview(campaign).summary()
    assert stored == summary_from_json(summary_to_json(fresh))
    assert (stored.total, stored.reach, stored.nobody, stored.missing_data) == (5, 2, 3, 2)
    assert stored.reason_list == [("Ne souhaite pas recevoir de SMS.", 1)]
    assert "2 destinataires sur 5 recevront le message." in page and "3 ne recevront rien" in page
    assert "≈ 0,24 € pour 3 SMS" in page and "ADAM Anaïs (2 SMS au lieu de 1)" in page

    assistant_client.post(url, {"action": "send"})
    mailing = Campaign.objects.get(pk=campaign.pk).mailing
    messages = Message.objects.filter(mailing=mailing)
    pending = messages.filter(status=MessageStatus.PENDING)
    assert pending.count() == stored.reach
    assert messages.filter(status=MessageStatus.SKIPPED).count() == stored.nobody
    assert messages.filter(error_code="missing-data").count() == stored.missing_data
    assert pending.aggregate(parts=Sum("sms_parts"))["parts"] == stored.estimate.parts == 3


def test_recalculer_reads_the_patients_files_again(assistant_client, assistant, merges):
    patient = PatientFactory(first_name="Alexis", mobile="+33684285560")
    campaign = _create(assistant, pasted="0684285560\n0612345678", body="Bonjour @DPREN, " + CLOSED)
    url = reverse("campaigns:detail", args=[campaign.pk])
    assert "Bonjour Alexis, " in _text(assistant_client.get(url))
    patient.first_name, patient.sms_consent = "Alex", False
    patient.save()
    page = _text(assistant_client.get(url))
    assert "Bonjour Alexis, " in page and "Messages fusionnés le" in page  # stored, says when
    assert len(merges) == 2
    response = assistant_client.post(url, {"action": "recheck", "page": "1"})
    assert response.status_code == 302 and response.url == url + "?page=1"
    page = _text(assistant_client.get(url))
    assert "Bonjour Alexis, " not in page and "Ne souhaite pas recevoir de SMS." in page
    assert "0 destinataire sur 2 recevra le message." in page
    assert len(merges) == 4


def test_the_check_follows_the_language_of_the_page(assistant_client, assistant):
    """The reasons are worded in the staff member's language: a page read in English is merged
    for English rather than showing the French reasons stored by a French reader."""
    PatientFactory(mobile="+33622334455", sms_consent=False)
    campaign = _create(assistant, pasted="0622334455\n0684285560")
    url = reverse("campaigns:detail", args=[campaign.pk])
    assert "Ne souhaite pas recevoir de SMS." in _text(assistant_client.get(url))
    assistant_client.post("/langue/", {"language": "en"})
    english = _text(assistant_client.get(url))
    assert "Ne souhaite pas recevoir de SMS." not in english


def test_stored_lines_read_back_as_merged(assistant):
    PatientFactory(first_name="Alexis", last_name="Martin", mobile="+33684285560")
    campaign = _create(assistant, pasted="0684285560\n0612345678", body="Bonjour @DPREN, " + CLOSED)
    preview = svc.campaign_preview(campaign)
    for line in preview.lines:
        back = line_from_json(line_to_json(line))
        assert (back.recipient.name, back.recipient.address, back.recipient.skip_reason) == (
            line.recipient.name, line.recipient.address, line.recipient.skip_reason)
        assert (back.sendable, back.text, back.sms_parts, back.missing) == (
            line.sendable, line.text, line.sms_parts, line.missing)


def test_a_patient_added_since_is_in_the_check_of_a_campaign_to_all_patients(assistant_client, assistant):
    PatientFactory(first_name="Alexis", mobile="+33684285560")
    campaign = _create(assistant, all_patients=True, body="Bonjour @DPREN, " + CLOSED)
    url = reverse("campaigns:detail", args=[campaign.pk])
    assert "1 destinataire sur 1 recevra le message." in _text(assistant_client.get(url))
    PatientFactory(first_name="Nouvelle", mobile="+33611223344")
    page = _text(assistant_client.get(url))
    assert "2 destinataires sur 2 recevront le message." in page and "Bonjour Nouvelle, " in page


def test_a_change_of_a_particular_field_merges_the_check_again(assistant_client, assistant):
    # @PART_nn is merged from the practice's own table: a text changed there is what the send
    # writes, so the check page must not keep showing the old one.
    from messaging.models import ParticularField

    field = ParticularField.objects.create(number=1, label="Accord", girl="chère", boy="cher", woman="chère",
                                           man="cher")
    PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33612000001")
    campaign = _create(assistant, pasted="06 12 00 00 01", body="Bonjour @PART_01 patiente. " + CLOSED)
    url = reverse("campaigns:detail", args=[campaign.pk])
    assert "Bonjour chère patiente." in _text(assistant_client.get(url))
    field.woman = "très chère"
    field.save()
    assert "Bonjour très chère patiente." in _text(assistant_client.get(url))


def test_a_campaign_changed_after_the_check_staff_read_is_not_sent_on_it(assistant_client, assistant, sms_outbox,
                                                                          no_quiet_hours):
    # Staff read the check (what each recipient will receive), someone changes the campaign's
    # text meanwhile (the admin, a particular field, the practice's settings), then "Envoyer":
    # nothing leaves on the check they read; the page shows the new one to read first.
    campaign = _create(assistant, pasted="06 12 00 00 01")
    url = reverse("campaigns:detail", args=[campaign.pk])
    page = assistant_client.get(url).content.decode()
    [seen] = re.findall(r'name="checked" value="([0-9a-f]+)"', page)[:1]
    Campaign.objects.filter(pk=campaign.pk).update(body="Le cabinet sera fermé du 1er au 31 août.")
    for action in ({"action": "send"}, {"action": "schedule", "scheduled_at": "2099-01-01T10:00"}):
        response = assistant_client.post(url, {**action, "checked": seen}, follow=True)
        text = _text(response)
        assert "La campagne a changé depuis la vérification affichée" in text.replace("&#x27;", "'")
        assert "Le cabinet sera fermé du 1er au 31 août." in text  # the new check, to read
    campaign.refresh_from_db()
    assert campaign.mailing is None and campaign.scheduled_at is None and sms_outbox == []
    [fresh] = re.findall(r'name="checked" value="([0-9a-f]+)"', assistant_client.get(url).content.decode())[:1]
    assistant_client.post(url, {"action": "send", "checked": fresh})
    campaign.refresh_from_db()
    assert campaign.mailing is not None
    assert Message.objects.get(mailing=campaign.mailing).body == "Le cabinet sera fermé du 1er au 31 août."
