"""Reasons stored with a message (why it failed, was cancelled, skipped, waits) and the pause
reason of an email account are read in the language of whoever reads them (messaging.reasons):
the dispatch and the gateways write a msgid and its parameters beside the French text, and the
pages render it again for the viewer. A row written before, or a gateway's own words, are shown
as stored."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import translation
from twilio.base.exceptions import TwilioRestException

from messaging import lifecycle
from messaging.dispatch import dispatch_pending
from messaging.gateways.base import BaseSmsBackend
from messaging.gateways.twilio.backend import SmsBackend as TwilioBackend
from messaging.models import Channel, EmailAccount, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.reasons import Clock, Why, shown, stored
from messaging.recipients import recipients_for
from practice.models import Practice, StaffPreference
from tests.factories import PatientFactory, PatientWithoutPhoneFactory, UserFactory
from tests.messaging.sending_helpers import NOON

pytestmark = pytest.mark.django_db


def _sms_to(patient, user):
    return mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=user,
        recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Bonjour @PPREN",
        schedule_dispatch=False,
    )


@pytest.fixture
def english_client(db):
    """An assistant who chose English (their own browser: ``client`` is the French one's)."""
    anna = UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user=anna, language="en")
    client = Client()
    client.force_login(anna)
    return client


def _pages(client, patient) -> str:
    """The patient's history and the Messages journal, as the client reads them."""
    history = client.get(reverse("sending:history", args=[patient.pk]))
    journal = client.get("/messages/")
    assert history.status_code == journal.status_code == 200
    return html.unescape(history.content.decode()), html.unescape(journal.content.decode())


def test_a_message_cancelled_by_the_dispatch_reads_in_each_viewers_language(assistant, assistant_client,
                                                                             english_client, sms_outbox):
    patient = PatientFactory(mobile="+33612345630")
    mailing = _sms_to(patient, assistant)
    patient.sms_consent = False
    patient.save()
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    # The French text is stored as before (exports, search, the admin, the unattended trace).
    assert (m.status, m.reason) == (MessageStatus.CANCELLED, "Ne souhaite pas recevoir de SMS. Message non envoyé.")
    for page in _pages(english_client, patient):
        assert "Does not want to receive SMS. Message not sent." in page
        assert "Ne souhaite pas recevoir de SMS" not in page
    for page in _pages(assistant_client, patient):
        assert "Ne souhaite pas recevoir de SMS. Message non envoyé." in page


def test_a_wait_shows_its_time_the_way_each_language_writes_it(assistant, assistant_client, english_client,
                                                                sms_outbox):
    practice = Practice.get()
    practice.quiet_start, practice.quiet_end = dt.time(11, 0), dt.time(14, 0)  # covers noon
    practice.save()
    patient = PatientFactory(mobile="+33612345631")
    mailing = _sms_to(patient, assistant)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert (m.status, m.error_code) == (MessageStatus.PENDING, "quiet")
    assert m.reason == "Heures de silence du cabinet : envoi prévu le 10/03/2026 à 14h00."
    history, journal = _pages(english_client, patient)
    assert "Practice quiet hours: sending planned on 10/03/2026 at 14:00." in history
    assert "Practice quiet hours: sending planned on 10/03/2026 at 14:00." in journal
    history, _ = _pages(assistant_client, patient)
    assert "Heures de silence du cabinet : envoi prévu le 10/03/2026 à 14h00." in history


class RefusingTwilio(BaseSmsBackend):
    """Twilio's answer to a refused SMS, with its own words, through the real error mapping."""

    def send_message(self, message):
        raise TwilioBackend._api_error(TwilioRestException(400, "/Messages.json", msg="Carrier said no (X-17)",
                                                           code=99999))


class SaturatedTwilio(BaseSmsBackend):
    def send_message(self, message):
        raise TwilioBackend._api_error(TwilioRestException(429, "/Messages.json", msg="Too many", code=20429))


def test_a_gateways_own_words_are_kept_inside_the_translated_sentence(settings, assistant, assistant_client,
                                                                      english_client):
    settings.SMS_BACKEND = "tests.messaging.test_reason_language.RefusingTwilio"
    patient = PatientFactory(mobile="+33612345632")
    mailing = _sms_to(patient, assistant)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert m.status == MessageStatus.FAILED
    assert m.reason == "La passerelle SMS a refusé le message (code 99999) : Carrier said no (X-17)."
    for page in _pages(english_client, patient):
        assert "The SMS gateway refused the message (code 99999): Carrier said no (X-17)." in page
    report = html.unescape(english_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode())
    assert "The SMS gateway refused the message (code 99999): Carrier said no (X-17)." in report


def test_a_retry_and_its_nested_reason_are_translated_with_the_time_of_the_next_attempt(settings, assistant,
                                                                                         english_client):
    settings.SMS_BACKEND = "tests.messaging.test_reason_language.SaturatedTwilio"
    patient = PatientFactory(mobile="+33612345633")
    mailing = _sms_to(patient, assistant)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    m = mailing.messages.get()
    assert (m.status, m.attempts) == (MessageStatus.PENDING, 1)
    assert m.reason == ("Tentative 1 échouée, nouvel essai à 12h01 : La passerelle SMS est saturée (trop de "
                        "demandes) : nouvel essai plus tard.")
    history, _ = _pages(english_client, patient)
    assert ("Attempt 1 failed, next attempt at 12:01: The SMS gateway is overloaded (too many requests): "
            "will try again later.") in history


def test_a_skipped_recipient_reads_in_each_viewers_language(assistant, assistant_client, english_client):
    nina = PatientWithoutPhoneFactory(first_name="Nina", last_name="Sansnumero")
    mailing = _sms_to(nina, assistant)
    m = mailing.messages.get()
    assert (m.status, m.reason) == (MessageStatus.SKIPPED, "Aucun numéro de portable.")
    _, journal = _pages(english_client, nina)
    assert "No mobile number." in journal
    report = html.unescape(english_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode())
    assert "No mobile number." in report
    _, journal = _pages(assistant_client, nina)
    assert "Aucun numéro de portable." in journal


def test_a_row_written_before_shows_its_stored_text(assistant, english_client):
    patient = PatientFactory(mobile="+33612345634")
    mailing = _sms_to(patient, assistant)
    Message.objects.filter(mailing=mailing).update(status=MessageStatus.FAILED, reason="Raison d'autrefois.",
                                                   reason_i18n=None)
    for page in _pages(english_client, patient):
        assert "Raison d'autrefois." in page
    # A stored msgid whose parameters no longer fit: the stored text, never an error.
    assert shown("Texte gardé.", {"m": "Compte « %(account)s »", "p": {"autre": 1}}) == "Texte gardé."


def test_the_paused_account_banner_reads_in_each_viewers_language(assistant_client, english_client):
    account = EmailAccount.objects.create(name="Secrétariat", email="secretariat@cabinet.test", smtp_host="127.0.0.1",
                                          smtp_port=2)
    reason = Why("Serveur d'envoi du compte « %(account)s » injoignable (%(host)s:%(port)s) : %(error)s. "
                 "Nouvel essai plus tard.", account="Secrétariat", host="127.0.0.1", port=2,
                 error="[Errno 111] Connection refused")
    lifecycle.account_pause(account, reason=reason, now=NOON)
    account.refresh_from_db()
    assert account.pause_reason == str(reason)
    page = html.unescape(english_client.get("/messages/").content.decode())
    assert ("Sending server of account “Secrétariat” unreachable (127.0.0.1:2): [Errno 111] Connection refused. "
            "Will try again later.") in page
    page = html.unescape(assistant_client.get("/messages/").content.decode())
    assert "Serveur d'envoi du compte « Secrétariat » injoignable (127.0.0.1:2)" in page


def test_a_why_is_its_french_text_and_keeps_what_it_is_made_of():
    why = Why("Tentative %(n)s échouée, nouvel essai à %(time)s : %(reason)s", n=2, time=Clock(dt.time(8, 5)),
              reason=Why("Le SMS n'a pas pu être remis (code %(code)s).", code="30099"))
    assert why == "Tentative 2 échouée, nouvel essai à 08h05 : Le SMS n'a pas pu être remis (code 30099)."
    text, data = stored(why)
    assert text == why and Why.from_json(data) == why
    with translation.override("en"):
        assert shown(text, data) == "Attempt 2 failed, next attempt at 08:05: The SMS could not be delivered (code 30099)."
    assert stored("Un texte du serveur.") == ("Un texte du serveur.", None)


def test_a_stored_msgid_without_its_parameters_shows_the_stored_text(assistant, english_client):
    # A msgid stored without its parameters (an old writer, a row edited by hand): the pages show
    # the stored French text, not the msgid's bare placeholders.
    patient = PatientFactory(mobile="+33612345635")
    m = _sms_to(patient, assistant).messages.get()
    Message.objects.filter(pk=m.pk).update(
        status=MessageStatus.FAILED, reason="Tentative 3 échouée.",
        reason_i18n={"m": "Tentative %(n)s échouée, nouvel essai à %(time)s : %(reason)s"})
    for page in _pages(english_client, patient):
        assert "Tentative 3 échouée." in page
        assert "%(n)s" not in page


def test_a_delivery_report_reason_reads_in_each_viewers_language_even_when_it_came_early(client, settings,
                                                                                          assistant, english_client):
    """Twilio's status callback (signed, through the real webhook view): the failure code's
    sentence is stored with its msgid, also when the report came before the message was
    recorded with its id (kept, then applied)."""
    from twilio.request_validator import RequestValidator

    from messaging.lifecycle import apply_kept_events

    settings.ALLOWED_HOSTS = ["cabinet.example.fr", "testserver"]
    path = "/webhooks/twilio/status/"

    def report(params):
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature("https://cabinet.example.fr" + path,
                                                                                   params)
        response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST="cabinet.example.fr")
        assert response.status_code == 200, response.content.decode()[:3000]

    first, early = PatientFactory(mobile="+33612345635"), PatientFactory(mobile="+33612345636")
    for patient, sid in ((first, "SMnow"), (early, "")):
        mailing = _sms_to(patient, assistant)
        Message.objects.filter(mailing=mailing).update(status=MessageStatus.SENT, provider_id=sid)
    report({"MessageSid": "SMnow", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    report({"MessageSid": "SMearly", "MessageStatus": "failed", "ErrorCode": "30099"})
    Message.objects.filter(patient=early).update(provider_id="SMearly")
    assert apply_kept_events(["SMearly"]) == 1
    assert Message.objects.get(patient=first).reason == "Téléphone du destinataire injoignable (éteint ou hors réseau)."
    assert Message.objects.get(patient=early).reason == "Le SMS n'a pas pu être remis (code 30099)."
    history, _ = _pages(english_client, first)
    assert "The recipient's phone is unreachable (switched off or out of coverage)." in history
    history, _ = _pages(english_client, early)
    assert "The SMS could not be delivered (code 30099)." in history


def test_an_unreachable_smtp_server_pauses_its_account_with_a_reason_in_each_viewers_language(
        settings, assistant_client, english_client):
    """A real connection refused (nothing listens on the port): the account pauses; the banner
    and the waiting email read in each viewer's language, the system's error text as received."""
    from messaging.outbox import mailing_create as create
    from messaging.recipients import Recipient
    from tests.messaging.sending_helpers import free_port, make_account

    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    account = make_account(smtp_port=free_port())
    patient = PatientFactory(first_name="Emma")
    create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
           recipients=[Recipient(role="other", name="a", address="a@patients.test", channel=Channel.EMAIL,
                                 patient=patient)],
           email_subject="Rappel", email_body_html="<p>Bonjour</p>", account=account, signature=None,
           schedule_dispatch=False)
    assert dispatch_pending(now=NOON).paused == ["Secrétariat"]
    account.refresh_from_db()
    assert account.pause_reason.startswith(f"Serveur d'envoi du compte « Secrétariat » injoignable (127.0.0.1:"
                                           f"{account.smtp_port}) : ")
    error = account.pause_reason_i18n["p"]["error"]  # the system's own words, e.g. "[Errno 111] Connection refused"
    assert error and error in account.pause_reason
    history, journal = _pages(english_client, patient)
    assert (f"Sending server of account “Secrétariat” unreachable (127.0.0.1:{account.smtp_port}): {error}. "
            "Will try again later.") in journal
    assert "Email account “Secrétariat” unreachable: sending paused, next try at 12:01 (no attempt is lost)." in history
    _, journal = _pages(assistant_client, patient)
    assert "Compte email « Secrétariat » injoignable : envoi en pause, nouvel essai à 12h01" in journal


def test_a_reason_shown_on_a_page_as_it_is_computed_reads_in_the_viewers_language():
    """A ``Why`` given to a template (a preview's "Rappel déjà envoyé…", a reply's "RDV confirmé
    par SMS…") is rendered for the reader, not in French."""
    from django.template import Context, Template

    from messaging.replies import confirmed_reason
    from tests.messaging.sending_helpers import paris

    why = confirmed_reason(paris(2026, 3, 10, 9, 14))
    assert why == "RDV confirmé par SMS le 10/03 à 09h14."
    template = Template("<p>{{ why }}</p>")
    with translation.override("en"):
        assert template.render(Context({"why": why})) == "<p>Appointment confirmed by SMS on 10/03 at 09:14.</p>"
    with translation.override("fr"):
        assert template.render(Context({"why": why})) == "<p>RDV confirmé par SMS le 10/03 à 09h14.</p>"


def test_a_campaign_reaching_nobody_is_refused_with_the_reasons_in_the_senders_language(assistant):
    from messaging import campaigns as svc
    from messaging.models import CampaignKind

    for i in range(3):
        PatientFactory(mobile=f"+3361122334{i}", news_consent=False)
    campaign = svc.campaign_create(created_by=assistant, name="Nouveautés", channel=Channel.SMS,
                                   kind=CampaignKind.NEWS, all_patients=True, body="Nouveau : ouvert le samedi.")[0]
    with translation.override("en"), pytest.raises(ValueError) as error:
        svc.campaign_send(campaign=campaign, requested_by=assistant)
    assert "Has not accepted the practice's news (3)" in str(error.value)
    with pytest.raises(ValueError) as error:
        svc.campaign_send(campaign=campaign, requested_by=assistant)
    assert "N'a pas accepté les actualités du cabinet (3)" in str(error.value)


def test_the_admin_lists_reasons_in_the_readers_language(assistant, admin_user, sms_outbox):
    patient = PatientFactory(mobile="+33612345637")
    mailing = _sms_to(patient, assistant)
    patient.sms_consent = False
    patient.save()
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    StaffPreference.objects.create(user=admin_user, language="en")
    client = Client()
    client.force_login(admin_user)
    for url in (reverse("admin:messaging_message_changelist"),
                reverse("admin:messaging_mailing_change", args=[mailing.pk])):
        page = html.unescape(client.get(url).content.decode())
        assert "Does not want to receive SMS. Message not sent." in page, url


def test_a_missing_data_reason_written_by_english_staff_reads_in_each_viewers_language(assistant_client,
                                                                                       english_client):
    """A message left out for missing data: the detail was written in the sender's language;
    it is stored in French with its msgid and read by each viewer in their own."""
    anna = get_user_model().objects.get(username="anna")
    patient = PatientFactory(mobile="+33612345640")
    with translation.override("en"):  # Anna's request
        mailing = mailing_create(
            channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=anna,
            recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1],
            sms_body="Rappel : RDV le @RDV1", schedule_dispatch=False,
        )
    m = mailing.messages.get()
    french = ("Données manquantes : @RDV1 (Date et heure du rendez-vous (02/10/2019 à 11h00)) : "
              "aucun rendez-vous choisi.")
    english = "Missing data: @RDV1 (Date and time of the appointment (02/10/2019 à 11h00)): no appointment chosen."
    assert (m.status, m.reason) == (MessageStatus.SKIPPED, french)
    report = reverse("mass:detail", args=[mailing.pk])
    for page in [*_pages(english_client, patient), html.unescape(english_client.get(report).content.decode())]:
        assert english in page
        assert "Données manquantes" not in page
    for page in [*_pages(assistant_client, patient), html.unescape(assistant_client.get(report).content.decode())]:
        assert french in page
        assert "Missing data" not in page
