"""Cost before sending (issue 14): the price of an SMS part per gateway, the estimate on the
mass-mailing summary, the campaign page and the send window, the warning for names whose accent
makes a message UCS-2, and the practice's option that merges such names in GSM-7."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging import cost
from messaging.compose import compose_sms
from messaging.models import Channel, Mailing, Message
from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
# 118 characters once "Emma" is merged: one GSM-7 SMS; "Anaïs" makes it UCS-2, so 2 parts.
BODY = ("Bonjour @PPREN, le cabinet du Dr Molaire vous rappelle votre rendez-vous de demain. "
        "Appelez-nous en cas d'absence.")


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace(NBSP, " ").replace("\u202f", " ").split())


def set_practice(*, price: str | None = "0.08", gsm_names: bool = False) -> Practice:
    practice = Practice.get()
    practice.sms_prices = {"locmem": price} if price else {}
    practice.sms_gsm_names = gsm_names
    practice.save()
    return practice


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def test_french_euro_formatting():
    assert cost.format_eur(Decimal("12.4")) == f"12,40{NBSP}€"
    assert cost.format_eur(Decimal("0.0725"), price=True) == f"0,0725{NBSP}€"  # a price keeps its digits
    assert cost.format_eur(Decimal("0.2175")) == f"0,22{NBSP}€"  # a total is rounded to the cent
    assert cost.format_eur(Decimal("1234.5")) == f"1\u202f234,50{NBSP}€"
    estimate = cost.Estimate(price=Decimal("0.08"))
    for _ in range(155):
        estimate.add(1)
    assert estimate.total_text == f"≈ 12,40{NBSP}€ pour 155 SMS"
    assert estimate.per_message(3) == f"≈ 0,24{NBSP}€"
    assert cost.Estimate(price=None, messages=2, parts=3).total_text == "3 SMS"


def test_price_is_kept_per_gateway(settings):
    practice = set_practice(price="0.08")
    practice.sms_prices["ovh"] = "0.0725"
    assert cost.price_per_part(practice) == Decimal("0.08")  # the configured gateway: locmem
    settings.SMS_BACKEND = "ovh"
    assert cost.price_per_part(practice) == Decimal("0.0725")
    settings.SMS_BACKEND = "twilio"
    assert cost.price_per_part(practice) is None


def test_sms_settings_page_saves_the_price_of_the_configured_gateway(admin_client):
    url = reverse("messaging:sms_settings")
    page = admin_client.get(url).content.decode()
    assert "Prix d&#x27;une partie de SMS" in page and "<strong>locmem</strong>" in page
    data = {"quiet_start": "20:00", "quiet_end": "08:00", "purpose_period_days": "3"}
    bad = admin_client.post(url, {**data, "sms_price": "douze"})
    assert bad.status_code == 200 and "Indiquez un prix en euros, par exemple 0,0725." in bad.content.decode()
    negative = admin_client.post(url, {**data, "sms_price": "-1"})
    assert "Le prix ne peut pas être négatif." in negative.content.decode()
    assert admin_client.post(url, {**data, "sms_price": "0,0725", "sms_gsm_names": "on"}).status_code == 302
    practice = Practice.objects.get()
    assert practice.sms_prices == {"locmem": "0.0725"} and practice.sms_gsm_names
    assert 'value="0,0725"' in admin_client.get(url).content.decode()
    admin_client.post(url, {**data, "sms_price": ""})  # emptied: no estimate in euros any more
    assert Practice.objects.get().sms_prices == {}


# ---------------------------------------------------------------------------------------------
# Names in GSM-7
# ---------------------------------------------------------------------------------------------


def test_an_accent_in_a_name_turns_one_sms_into_two_and_the_option_replaces_it():
    anais = PatientFactory(first_name="Anaïs", last_name="Adam")
    set_practice(gsm_names=False)
    merged = compose_sms(body=BODY, patient=anais)
    assert "Anaïs" in merged.text and merged.segments.encoding == "UCS-2"
    assert merged.segments.parts == 2 and merged.plain_name_parts == 1
    set_practice(gsm_names=True)
    plain = compose_sms(body=BODY, patient=anais)
    assert "Bonjour Anais, le cabinet" in plain.text
    assert plain.segments.parts == 1 and plain.segments.is_gsm and plain.plain_name_parts == 1


def test_the_option_never_changes_the_template_text():
    set_practice(gsm_names=True)
    anais = PatientFactory(first_name="Anaïs", last_name="Adam")
    composed = compose_sms(body="Bonjour @PPREN, à bientôt, ne soyez pas empêchée.", patient=anais)
    assert composed.text == "Bonjour Anais, à bientôt, ne soyez pas empêchée."
    assert composed.segments.encoding == "UCS-2"  # "ê" of the template stays as typed


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def start_mailing(client, appointments, body=BODY) -> str:
    response = client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "sms",
                                                   "ids": [a.pk for a in appointments]})
    key = response.url.split("/")[-3]
    client.post(reverse("mass:message", args=[key]), {"body": body})
    return key


def two_appointments():
    dr = PractitionerFactory(last_name="Molaire", first_name="Marc")
    emma = AppointmentFactory(start=tomorrow_at(9), practitioner=dr,
                              patient=PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560"))
    anais = AppointmentFactory(start=tomorrow_at(10), practitioner=dr,
                               patient=PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33611223344"))
    return emma, anais


def test_mass_mailing_summary_estimates_and_names_the_accented_recipients(assistant_client):
    set_practice(price="0.08")
    key = start_mailing(assistant_client, two_appointments())
    page = text_of(assistant_client.get(reverse("mass:recipients", args=[key])).content.decode())
    assert "≈ 0,24 € pour 3 SMS (0,08 € la partie de SMS, 2 messages)" in page
    assert "ADAM Anaïs (2 SMS au lieu de 1)" in page and "1 SMS de plus, soit 0,08 € de plus" in page
    assert "ABLIRANT Emma (" not in page
    assert "2 ≈ 0,16 €" in page and "1 ≈ 0,08 €" in page  # per recipient


def test_mass_mailing_without_a_price_counts_the_sms_and_says_where_to_set_it(assistant_client):
    set_practice(price=None)
    key = start_mailing(assistant_client, two_appointments())
    page = text_of(assistant_client.get(reverse("mass:recipients", args=[key])).content.decode())
    assert "3 SMS Aucun prix de SMS n'est renseigné" in page.replace("&#x27;", "'")
    assert "€" not in page


def test_replacement_option_changes_the_preview_the_sent_text_and_the_count(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    set_practice(price="0.08", gsm_names=True)
    key = start_mailing(assistant_client, two_appointments())
    page = text_of(assistant_client.get(reverse("mass:recipients", args=[key])).content.decode())
    assert "Bonjour Anais, le cabinet" in page and "≈ 0,16 € pour 2 SMS" in page
    assert "au lieu de" not in page  # nothing to warn about any more
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("mass:send", args=[key]))
    sent = sorted(s.body for s in sms_outbox)
    assert sent[0].startswith("Bonjour Anais, le cabinet") and sent[1].startswith("Bonjour Emma,")
    assert sorted(Message.objects.values_list("sms_parts", flat=True)) == [1, 1]


def test_without_the_option_the_accent_is_sent_and_billed(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    set_practice(price="0.08", gsm_names=False)
    key = start_mailing(assistant_client, two_appointments())
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("mass:send", args=[key]))
    assert any(s.body.startswith("Bonjour Anaïs,") for s in sms_outbox)
    assert sorted(Message.objects.values_list("sms_parts", flat=True)) == [1, 2]
    assert Mailing.objects.count() == 1


def test_campaign_page_estimates_before_sending(assistant_client, assistant):
    from messaging import campaigns as svc
    from messaging.models import CampaignKind

    set_practice(price="0.08")
    PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33611223344")
    campaign, _ = svc.campaign_create(
        created_by=assistant, name="Fermeture", channel=Channel.SMS, kind=CampaignKind.CARE,
        body="Bonjour @DPREN, le cabinet sera fermé du 1er au 15 juillet. Bonnes vacances à tous, à la rentrée.",
        pasted="0684285560\n0611223344\n0622334455",
    )
    url = reverse("campaigns:detail", args=[campaign.pk])
    # The two bare numbers have no name for @DPREN: left out (missing data), not priced.
    page = text_of(assistant_client.get(url).content.decode())
    assert "≈ 0,16 € pour 2 SMS (0,08 € la partie de SMS, 1 message)" in page
    campaign.keep_missing = True  # staff chose to send them anyway
    campaign.save()
    page = text_of(assistant_client.get(url).content.decode())
    # Two GSM-7 messages of one part, and Anaïs's in UCS-2: 2 parts.
    assert "≈ 0,32 € pour 4 SMS (0,08 € la partie de SMS, 3 messages)" in page
    assert "ADAM Anaïs (2 SMS au lieu de 1)" in page


def test_send_window_live_estimate_config_and_accent_warning(assistant_client):
    set_practice(price="0.0725")
    anais = PatientFactory(first_name="Anaïs", last_name="Adam")
    page = assistant_client.get(reverse("sending:sms", args=[anais.pk])).content.decode()
    assert '"price": "0.0725"' in page and 'data-counter="cost"' in page
    data = assistant_client.post(reverse("sending:preview", args=[anais.pk]), {"channel": "sms", "body": BODY}).json()
    assert data["segments"]["parts"] == 2
    assert "ADAM Anaïs (2 SMS au lieu de 1)" in data["accent"]
    emma = PatientFactory(first_name="Emma", last_name="Ablirant")
    assert assistant_client.post(reverse("sending:preview", args=[emma.pk]), {"channel": "sms", "body": BODY}).json()["accent"] == ""
