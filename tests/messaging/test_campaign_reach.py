"""Campaigns show their reach before anything leaves: each recipient's merged message, who gets
nothing and why, the messages left out for missing data (@DPREN for a bare number); a campaign
that reaches nobody is neither sent nor scheduled silently; the form keeps its CSV file and
preselects the only active account."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from messaging import campaigns as svc
from messaging.models import Campaign, CampaignKind, CampaignStatus, Channel, Mailing, Message, MessageStatus
from tests.factories import PatientFactory
from tests.messaging import sending_helpers
from tests.messaging.sending_helpers import make_account

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db


def _create(user, **kwargs):
    kwargs.setdefault("name", "Fermeture estivale")
    kwargs.setdefault("channel", Channel.SMS)
    kwargs.setdefault("kind", CampaignKind.CARE)
    kwargs.setdefault("body", "Bonjour @DPREN, le cabinet sera fermé du 1er au 15 août.")
    return svc.campaign_create(created_by=user, **kwargs)[0]


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_preview_merges_each_message_and_flags_a_bare_number(assistant):
    PatientFactory(first_name="Alexis", last_name="Martin", mobile="+33684285560")
    campaign = _create(assistant, pasted="06 84 28 55 60\n06 12 34 56 78")
    preview = svc.campaign_preview(campaign)
    assert (preview.total, preview.reach, preview.missing_data) == (2, 1, 1)
    sent, missing = preview.lines
    assert sent.text == "Bonjour Alexis, le cabinet sera fermé du 1er au 15 août."
    assert missing.missing == ["@DPREN (Prénom du destinataire) : donnée manquante."]
    assert not missing.sendable and missing.recipient.skip_reason.startswith("Données manquantes : @DPREN")
    kept = svc.campaign_preview(campaign, keep_missing=True)
    assert (kept.reach, kept.missing_data, kept.missing_kept) == (2, 0, 1)


def test_send_leaves_the_bare_number_out_unless_kept(assistant, sms_outbox, no_quiet_hours):
    PatientFactory(first_name="Alexis", mobile="+33684285560")
    campaign = _create(assistant, pasted="0684285560, 0612345678")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    skipped = Message.objects.get(mailing=campaign.mailing, to="+33612345678")
    assert skipped.status == MessageStatus.SKIPPED and skipped.error_code == "missing-data"
    other = _create(assistant, name="Bis", pasted="0612345678")
    other = svc.campaign_send(campaign=other, requested_by=assistant, keep_missing=True)
    kept = Message.objects.get(mailing=other.mailing)
    assert kept.status == MessageStatus.PENDING and kept.body == "Bonjour , le cabinet sera fermé du 1er au 15 août."
    assert Campaign.objects.get(pk=other.pk).keep_missing


def test_a_campaign_reaching_nobody_is_refused_with_the_reason(assistant):
    for i in range(3):
        PatientFactory(mobile=f"+3361122334{i}", news_consent=False)
    campaign = _create(assistant, kind=CampaignKind.NEWS, all_patients=True, body="Nouveau : ouvert le samedi.")
    preview = svc.campaign_preview(campaign)
    assert (preview.total, preview.reach) == (3, 0)
    assert preview.reason_list == [("N'a pas accepté les actualités du cabinet.", 3)]
    refusal = ("Cette campagne n'atteint personne (0 sur 3) : N'a pas accepté les actualités du cabinet (3). "
               "Rien n'a été envoyé ni programmé : changez la liste ou le message.")
    with pytest.raises(ValueError) as error:
        svc.campaign_schedule(campaign=campaign, when=timezone.now() + dt.timedelta(days=1))
    assert str(error.value) == refusal
    with pytest.raises(ValueError) as error:
        svc.campaign_send(campaign=campaign, requested_by=assistant)
    assert str(error.value) == refusal
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.mailing is None
    assert not Mailing.objects.exists() and not Schedule.objects.filter(name=svc.schedule_name(campaign)).exists()


def test_a_scheduled_campaign_that_reaches_nobody_at_its_time_records_why(assistant):
    patient = PatientFactory(mobile="+33611223340", news_consent=True)
    campaign = _create(assistant, kind=CampaignKind.NEWS, all_patients=True, body="Nouveau : ouvert le samedi.")
    svc.campaign_schedule(campaign=campaign, when=timezone.now() + dt.timedelta(hours=1))
    patient.news_consent = False  # withdrawn in between
    patient.save()
    result = svc.send_due_campaigns(now=timezone.now() + dt.timedelta(hours=2))
    assert result["sent"] == [campaign.pk]
    message = Message.objects.get()
    assert message.status == MessageStatus.SKIPPED and message.reason == "N'a pas accepté les actualités du cabinet."


def test_scheduling_keeps_the_choice_about_missing_data(assistant, sms_outbox, no_quiet_hours):
    campaign = _create(assistant, pasted="0612345678")
    with pytest.raises(ValueError, match="n'atteint personne"):
        svc.campaign_schedule(campaign=campaign, when=timezone.now() + dt.timedelta(hours=1))
    svc.campaign_schedule(campaign=campaign, when=timezone.now() + dt.timedelta(hours=1), keep_missing=True)
    svc.send_due_campaigns(now=timezone.now() + dt.timedelta(hours=2))
    assert Message.objects.get().status == MessageStatus.PENDING


def test_check_page_shows_reach_messages_and_missing_data(assistant_client, assistant):
    PatientFactory(first_name="Alexis", last_name="Martin", mobile="+33684285560")
    campaign = _create(assistant, pasted="0684285560\n0612345678")
    response = assistant_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    text = _text(response)
    assert "1 destinataire sur 2 recevra le message." in text
    assert "Bonjour Alexis, le cabinet sera fermé du 1er au 15 août." in text
    assert "Données manquantes" in text and "@DPREN (Prénom du destinataire) : donnée manquante." in text
    assert 'name="keep_missing"' in response.content.decode()


def test_check_page_shows_a_bare_number_in_the_french_format(assistant_client, assistant):
    # Seen in the browser walk-through: a pasted number's line read "+590690123456" where the
    # list above it read "06.90.12.34.56" (the number is its own name).
    campaign = _create(assistant, pasted="0690 12 34 56\n0612345678")
    text = _text(assistant_client.get(reverse("campaigns:detail", args=[campaign.pk])))
    assert "+590690123456" not in text and "+33612345678" not in text
    missing = text[text.index("Données manquantes"):]
    assert "06.90.12.34.56 @DPREN" in missing and "06.12.34.56.78 @DPREN" in missing


def test_check_page_says_a_campaign_reaches_nobody_and_refuses_it(assistant_client, assistant):
    PatientFactory(mobile="+33611223340", news_consent=False)
    campaign = _create(assistant, kind=CampaignKind.NEWS, all_patients=True, body="Nouveau : ouvert le samedi.")
    url = reverse("campaigns:detail", args=[campaign.pk])
    text = _text(assistant_client.get(url))
    assert "0 destinataire sur 1 recevra le message." in text
    assert "Cette campagne n'atteint personne (0 sur 1)" in text.replace("&#x27;", "'")
    when = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = assistant_client.post(url, {"action": "schedule", "scheduled_at": when}, follow=True)
    assert "Cette campagne n'atteint personne" in _text(response).replace("&#x27;", "'")
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    assert not Schedule.objects.filter(name=svc.schedule_name(campaign)).exists()


def test_check_page_sends_with_missing_data_when_ticked(assistant_client, assistant, sms_outbox, no_quiet_hours):
    campaign = _create(assistant, pasted="0612345678")
    url = reverse("campaigns:detail", args=[campaign.pk])
    assistant_client.post(url, {"action": "send"})
    assert Campaign.objects.get().status == CampaignStatus.DRAFT  # refused: nobody without the choice
    assistant_client.post(url, {"action": "send", "keep_missing": "1"})
    campaign.refresh_from_db()
    assert campaign.mailing_id is not None
    assert Message.objects.get().status == MessageStatus.PENDING


def test_the_only_active_account_is_preselected(assistant_client):
    account = make_account()
    page = assistant_client.get(reverse("campaigns:create")).content.decode()
    assert f'<option value="{account.pk}" selected>' in page
    make_account(name="Praticien", email="dr@cabinet.test")
    page = assistant_client.get(reverse("campaigns:create")).content.decode()
    assert '<option value="" selected>' in page.split('id="id_account"')[1].split("</select>")[0]


def test_a_form_error_keeps_the_chosen_csv_file(assistant_client):
    csv = SimpleUploadedFile("patients.csv", "nom;prénom;portable\nMartin;Alexis;0684285560\n".encode(),
                             content_type="text/csv")
    data = {"name": "Rentrée", "channel": "sms", "kind": "soins", "body": "Bonjour @DPRENN", "csv_file": csv}
    response = assistant_client.post(reverse("campaigns:create"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Le champ d&#x27;intégration @DPRENN n&#x27;existe pas" in page
    assert "Fichier conservé : <strong>patients.csv</strong>" in page
    token = re.search(r'name="csv_kept" value="([^"]+)"', page).group(1)
    # Corrected, sent again without picking the file: the kept one is imported.
    response = assistant_client.post(reverse("campaigns:create"), {**{k: v for k, v in data.items() if k != "csv_file"},
                                                               "body": "Bonjour @DPREN", "csv_kept": token})
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert list(campaign.recipients.values_list("address", "first_name")) == [("+33684285560", "Alexis")]
    # Used once: the same token names nothing any more.
    response = assistant_client.post(reverse("campaigns:create"), {**{k: v for k, v in data.items() if k != "csv_file"},
                                                               "body": "Bonjour", "csv_kept": token})
    assert response.status_code == 200 and Campaign.objects.count() == 1


def test_a_token_of_another_session_names_nothing(assistant_client):
    csv = SimpleUploadedFile("patients.csv", b"nom;portable\nMartin;0684285560\n", content_type="text/csv")
    page = assistant_client.post(reverse("campaigns:create"), {"channel": "sms", "kind": "soins", "body": "@NOPE",
                                                            "csv_file": csv}).content.decode()
    token = re.search(r'name="csv_kept" value="([^"]+)"', page).group(1)
    from django.test import Client

    from tests.factories import UserFactory

    other = Client()
    other.force_login(UserFactory(username="autre", role="Assistant(e)"))
    client = other
    response = client.post(reverse("campaigns:create"), {"channel": "sms", "kind": "soins", "body": "Bonjour",
                                                      "csv_kept": token})
    assert response.status_code == 200 and not Campaign.objects.exists()


def test_a_time_with_its_offset_schedules_the_campaign_at_that_instant(assistant_client, assistant):
    """The field sends a local time; one typed with its offset is taken as it is (it was a
    ValueError of make_aware, shown in English)."""
    PatientFactory(first_name="Alexis", mobile="+33684285561")
    campaign = _create(assistant, pasted="0684285561")
    url = reverse("campaigns:detail", args=[campaign.pk])
    when = (timezone.now() + dt.timedelta(days=1)).replace(microsecond=0)
    response = assistant_client.post(url, {"action": "schedule", "scheduled_at": when.isoformat()}, follow=True)
    assert response.status_code == 200 and "Not naive" not in _text(response)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.SCHEDULED, when)
