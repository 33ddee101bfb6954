"""Mass mailings and missing merge data: the rows whose required data is missing are listed
apart ("Données manquantes", with the missing field) and left out, unless staff explicitly
include them when sending (or printing)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from messaging.mass_mailing import draft_start, mass_mailing_send, mass_preview
from messaging.models import Message, MessageStatus
from tests.factories import PatientFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db

BODY = "Bonjour @PPREN, votre prochain rendez-vous : @PROCHRDV."


@pytest.fixture
def two_patients():
    from tests.factories import AppointmentFactory
    from tests.messaging.test_mass_views import tomorrow_at

    with_next = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560")
    AppointmentFactory(patient=with_next, start=tomorrow_at(10))
    without = PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33611223344")
    return with_next, without


def _draft(patients):
    draft = draft_start(search="patients", channel="sms", ids=[p.pk for p in patients])
    draft.body = BODY
    return draft


def test_preview_lists_the_missing_rows_apart_and_leaves_them_out(two_patients):
    preview = mass_preview(_draft(two_patients))
    summary = preview.summary
    assert (summary.messages, summary.missing_data, summary.skipped) == (1, 1, 0)
    [line] = preview.missing_lines
    assert line.recipient.name == "ADAM Anaïs" and not line.sendable
    assert line.missing == ["@PROCHRDV (Date et heure du prochain rendez-vous) : aucun prochain rendez-vous."]
    assert summary.estimate.parts == 1  # only the message that leaves is priced


def test_sending_leaves_them_out_by_default(two_patients):
    mailing = mass_mailing_send(draft=_draft(two_patients), requested_by=None)
    left_out = Message.objects.get(mailing=mailing, recipient_name="ADAM Anaïs")
    assert left_out.status == MessageStatus.SKIPPED and left_out.error_code == "missing-data"
    assert left_out.reason == ("Données manquantes : @PROCHRDV (Date et heure du prochain rendez-vous) : "
                               "aucun prochain rendez-vous.")
    assert Message.objects.get(mailing=mailing, recipient_name="ABLIRANT Emma").status == MessageStatus.PENDING


def test_an_explicit_choice_includes_them(two_patients):
    draft = _draft(two_patients)
    draft.keep_missing = True
    preview = mass_preview(draft)
    assert (preview.summary.messages, preview.summary.missing_data, preview.summary.missing_kept) == (2, 0, 1)
    mailing = mass_mailing_send(draft=draft, requested_by=None)
    kept = Message.objects.get(mailing=mailing, recipient_name="ADAM Anaïs")
    assert kept.status == MessageStatus.PENDING and kept.body == "Bonjour Anaïs, votre prochain rendez-vous : ."
    assert "Envoyé malgré des données manquantes (@PROCHRDV)" in kept.note


def _start(client, patients, body=BODY, channel="sms"):
    response = client.post(reverse("mass:start"), {"search": "patients", "channel": channel,
                                                   "ids": [p.pk for p in patients]})
    key = response.url.split("/")[-3]
    client.post(reverse("mass:message", args=[key]), {"body": body})
    return key


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_page_lists_them_and_sends_without_them(assistant_client, two_patients, django_capture_on_commit_callbacks,
                                                    sms_outbox, no_quiet_hours):
    key = _start(assistant_client, two_patients)
    response = assistant_client.get(reverse("mass:recipients", args=[key]))
    page = response.content.decode()
    assert "1 message laissé de côté : données manquantes" in _text(response)
    assert 'id="missing-data"' in page and escape("@PROCHRDV (Date et heure du prochain rendez-vous)") in page
    assert 'name="keep_missing"' in page
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("mass:send", args=[key]))
    assert [m.to for m in sms_outbox] == ["+33684285560"]


def test_the_page_includes_them_when_ticked(assistant_client, two_patients, django_capture_on_commit_callbacks,
                                            sms_outbox, no_quiet_hours):
    key = _start(assistant_client, two_patients)
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("mass:send", args=[key]), {"keep_missing": "1"})
    assert sorted(m.to for m in sms_outbox) == ["+33611223344", "+33684285560"]


def test_letters_with_missing_data_are_printed_only_when_asked(assistant_client):
    from messaging.models import PrintedLetter

    with_address = PatientFactory(first_name="Emma", last_name="Ablirant", address1="1 rue Haute", postcode="21000",
                                  city="Dijon")
    key = _start(assistant_client, [with_address], body="Madame, votre rendez-vous du @RDV1.", channel="letter")
    page = assistant_client.get(reverse("mass:recipients", args=[key])).content.decode()
    assert 'id="letters-with-missing"' in page
    response = assistant_client.get(reverse("mass:letters", args=[key]), follow=True)
    assert "Aucun courrier à imprimer : des données manquent pour chaque destinataire" in _text(response).replace(
        "&#x27;", "'")
    assert not PrintedLetter.objects.exists()
    response = assistant_client.get(reverse("mass:letters", args=[key]) + "?donnees_manquantes=1")
    assert response["Content-Type"] == "application/pdf"
    assert PrintedLetter.objects.count() == 1


def test_retrying_the_failures_keeps_the_choice_made_on_each_row(sms_outbox, no_quiet_hours):
    """"Renvoyer les échecs" of a mailing sent with "Envoyer malgré les données manquantes": the
    message staff kept although its data was missing goes again (it was left out of the retry, as
    if nobody had chosen); one whose data went missing only since (nobody chose for it) is left
    out with the reason; one left out the first time is not sent by the retry."""
    from messaging.backends import SendError
    from messaging.dispatch import dispatch_pending
    from messaging.gateways import locmem
    from messaging.mass_mailing import mailing_report, mailing_retry_failures
    from patients.models import Appointment
    from tests.factories import AppointmentFactory
    from tests.messaging.test_mass_views import tomorrow_at

    with_next = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560")
    AppointmentFactory(patient=with_next, start=tomorrow_at(10))
    kept = PatientFactory(first_name="Anaïs", last_name="Adam", mobile="+33611223344")
    draft = _draft([with_next, kept])
    draft.keep_missing = True
    for number in ("+33684285560", "+33611223344"):
        locmem.fail_for[number] = SendError("Passerelle indisponible.", permanent=True, code="x")
    mailing = mass_mailing_send(draft=draft, requested_by=None)
    dispatch_pending(mailing_id=mailing.pk)
    assert Message.objects.filter(mailing=mailing, status=MessageStatus.FAILED).count() == 2
    assert [m.missing_kept for m in Message.objects.filter(mailing=mailing).order_by("recipient_name")] == [False, True]

    # Since then Emma's appointment was cancelled: her @PROCHRDV is empty now, nobody chose for it.
    Appointment.objects.filter(patient=with_next).delete()
    locmem.reset()
    retry = mailing_retry_failures(mailing=mailing, requested_by=None)
    again = {m.recipient_name: m for m in retry.messages.all()}
    assert again["ADAM Anaïs"].status == MessageStatus.PENDING and again["ADAM Anaïs"].missing_kept
    assert "Envoyé malgré des données manquantes (@PROCHRDV)" in again["ADAM Anaïs"].note
    assert again["ABLIRANT Emma"].status == MessageStatus.SKIPPED
    assert again["ABLIRANT Emma"].error_code == "missing-data"
    dispatch_pending(mailing_id=retry.pk)
    assert [(s.to, s.body) for s in sms_outbox] == [("+33611223344", "Bonjour Anaïs, votre prochain rendez-vous : .")]
    assert mailing_report(mailing=mailing).retry.pk == retry.pk


def test_a_retry_does_not_send_what_the_first_send_left_out_for_missing_data(two_patients, sms_outbox,
                                                                             no_quiet_hours):
    from messaging.backends import SendError
    from messaging.dispatch import dispatch_pending
    from messaging.gateways import locmem
    from messaging.mass_mailing import mailing_retry_failures

    locmem.fail_for["+33684285560"] = SendError("Passerelle indisponible.", permanent=True, code="x")
    mailing = mass_mailing_send(draft=_draft(two_patients), requested_by=None)  # Anaïs left out
    dispatch_pending(mailing_id=mailing.pk)
    locmem.reset()
    retry = mailing_retry_failures(mailing=mailing, requested_by=None)
    assert list(retry.messages.values_list("recipient_name", "status")) == [("ABLIRANT Emma", MessageStatus.PENDING)]
    assert not retry.messages.get().missing_kept
