"""The "Réponses" page: SMS patients send back, listed for staff, answered through the outbox,
marked handled; the menu's count; the received SMS in the "Messages" journal; the demo's
"Répondre en tant que patient"."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, InboundMessage, MailingOrigin, Message, MessageStatus, SandboxSms
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from messaging.webhooks import record_inbound
from tests.factories import GuardianFactory, MinorPatientFactory, PatientFactory, UserFactory
from tests.messaging.sending_helpers import NOON, sms_outbox  # noqa: F401

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)
REPLIES = "/envois/reponses/"


def _receive(number: str, body: str) -> InboundMessage:
    """What a gateway's webhook does with an SMS it received."""
    return record_inbound(provider_id=f"SM-test-{next(_ids)}", from_number=number, to_number="+33700000000",
                          body=body)


@pytest.fixture(autouse=True)
def _sender(db):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})


def _reminder(patient, user, body="Rappel : RDV demain 10h00."):
    recipient = recipients_for(patient=patient, channel=Channel.SMS)[0]
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=user,
                             recipients=[recipient], sms_body=body, schedule_dispatch=False)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    return mailing.messages.get()


def _rows(page: str) -> int:
    return page.count("data-reply=")


# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------


def test_the_page_lists_what_patients_and_unknown_numbers_wrote_but_not_stop(assistant_client, assistant,
                                                                            sms_outbox):  # noqa: F811
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111")
    sent = _reminder(emma, assistant, body="Rappel : RDV de Emma demain à 10h00.")
    _receive("+33611111111", "Je serai en retard de 10 minutes")
    _receive("+33699999999", "Qui est-ce ?")
    _receive("+33611111111", "STOP")

    page = assistant_client.get(REPLIES).content.decode()
    assert _rows(page) == 2
    assert "Je serai en retard de 10 minutes" in page and "Qui est-ce ?" in page
    assert ">STOP<" not in page
    assert "ABLIRANT Emma" in page and "Numéro inconnu" in page
    assert "06.99.99.99.99" in page
    # The message it answers: the reminder sent to that number before it came.
    assert sent.status == MessageStatus.SENT
    assert "Rappel : RDV de Emma demain à 10h00." in page
    # Open the patient file from the reply.
    assert emma.get_absolute_url() in page


def test_a_guardians_reply_names_the_guardian_and_the_children(assistant_client):
    mother = GuardianFactory(first_name="Stéphanie", last_name="Bernard", mobile="+33613682982")
    leo = MinorPatientFactory(first_name="Léo", last_name="Bernard", civil_guardian=mother, mobile="")
    MinorPatientFactory(first_name="Emma", last_name="Bernard", civil_guardian=mother, mobile="")
    _receive("06 13 68 29 82", "Léo sera absent")
    page = assistant_client.get(REPLIES).content.decode()
    assert "Mme BERNARD Stéphanie" in page
    assert "Responsable de BERNARD Emma" in page or "Responsable de BERNARD Léo" in page
    assert "BERNARD Léo" in page and "BERNARD Emma" in page
    assert leo.get_absolute_url() in page


def test_filters_handled_or_not_period_patient_and_text(assistant_client, assistant):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111", file_number="D42")
    PatientFactory(first_name="Léo", last_name="Carpentier", mobile="+33622222222")
    first = _receive("+33611111111", "Je ne pourrai pas venir")
    _receive("+33622222222", "Merci pour le rappel")
    InboundMessage.objects.filter(pk=first.pk).update(received_at=NOON)  # 10/03/2026

    assert _rows(assistant_client.get(REPLIES).content.decode()) == 2
    by_name = assistant_client.get(REPLIES, {"patient": "ablirant"}).content.decode()
    assert _rows(by_name) == 1 and "Je ne pourrai pas venir" in by_name
    assert _rows(assistant_client.get(REPLIES, {"patient": "D42"}).content.decode()) == 1
    by_number = assistant_client.get(REPLIES, {"patient": "06.22.22.22.22"}).content.decode()
    assert _rows(by_number) == 1 and "Merci pour le rappel" in by_number
    by_text = assistant_client.get(REPLIES, {"texte": "RAPPEL"}).content.decode()
    assert _rows(by_text) == 1 and "Merci pour le rappel" in by_text
    period = assistant_client.get(REPLIES, {"du": "01/03/2026", "au": "31/03/2026"}).content.decode()
    assert _rows(period) == 1 and "Je ne pourrai pas venir" in period

    # Handled ones leave the default list and stay under "Toutes".
    assistant_client.post(reverse("sending:reply-handled", args=[first.pk]))
    default = assistant_client.get(REPLIES).content.decode()
    assert _rows(default) == 1 and "Je ne pourrai pas venir" not in default
    everything = assistant_client.get(REPLIES, {"etat": "toutes"}).content.decode()
    assert _rows(everything) == 2 and "Traitée" in everything
    assert emma.pk  # the patient's file stays as it was


def test_bad_filters_get_a_french_message_not_a_crash(assistant_client):
    response = assistant_client.get(REPLIES, {"du": "31/02/2026", "au": "hier", "etat": "n'importe", "page": "x"})
    assert response.status_code == 200
    assert "Date invalide" in response.content.decode()
    swapped = assistant_client.get(REPLIES, {"du": "10/03/2026", "au": "01/03/2026"})
    assert "inversées" in swapped.content.decode()
    for url in (REPLIES, "/messages/"):
        far = assistant_client.get(url, {"du": "31/12/9999", "au": "01/01/0001"})
        assert far.status_code == 200 and "Date invalide" in far.content.decode()


def test_a_nul_character_in_a_text_filter_is_no_crash(assistant_client):
    """PostgreSQL refuses NUL in a text parameter: a pasted "\x00" in the patient or text
    filter of Réponses or in the journal's search was a 500."""
    PatientFactory(last_name="Ablirant", mobile="+33611111112")
    _receive("+33611111112", "Bonjour")
    for url, params in ((REPLIES, {"patient": "Abli\x00rant"}), (REPLIES, {"texte": "Bon\x00jour"}),
                        ("/messages/", {"q": "Abli\x00rant"})):
        response = assistant_client.get(url, params)
        assert response.status_code == 200, url
    assert "Ablirant" in assistant_client.get(REPLIES, {"patient": "Abli\x00rant"}).content.decode()


# ---------------------------------------------------------------------------------------------
# Handled: who, when, undo
# ---------------------------------------------------------------------------------------------


def test_mark_handled_records_who_and_when_and_can_be_undone(assistant_client, assistant):
    PatientFactory(mobile="+33611111111")
    inbound = _receive("+33611111111", "Pouvez-vous me rappeler ?")
    response = assistant_client.post(reverse("sending:reply-handled", args=[inbound.pk]), follow=True)
    assert "Réponse marquée traitée." in response.content.decode()
    inbound.refresh_from_db()
    assert inbound.handled_by == assistant and inbound.handled_at is not None
    detail = assistant_client.get(reverse("sending:reply", args=[inbound.pk])).content.decode()
    assert "par Julie Martin" in detail

    # A second click (another tab, a colleague) keeps the first record.
    colleague = UserFactory(username="secretaire", first_name="Paul", role="Assistant(e)")
    assistant_client.force_login(colleague)
    again = assistant_client.post(reverse("sending:reply-handled", args=[inbound.pk]), follow=True)
    assert "déjà traitée (par Julie Martin)" in again.content.decode()
    inbound.refresh_from_db()
    assert inbound.handled_by == assistant

    assistant_client.post(reverse("sending:reply-unhandled", args=[inbound.pk]))
    inbound.refresh_from_db()
    assert inbound.handled_at is None and inbound.handled_by is None
    assert _rows(assistant_client.get(REPLIES).content.decode()) == 1


def test_a_stop_is_no_reply_to_handle(assistant_client):
    stop = _receive("+33611111111", "Stop")
    assert assistant_client.post(reverse("sending:reply-handled", args=[stop.pk])).status_code == 404
    assert assistant_client.get(reverse("sending:reply", args=[stop.pk])).status_code == 404


# ---------------------------------------------------------------------------------------------
# Answering through the outbox
# ---------------------------------------------------------------------------------------------


def test_the_answer_goes_through_the_outbox_once_and_marks_the_reply_handled(assistant_client, assistant,
                                                                            sms_outbox):  # noqa: F811
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111")
    inbound = _receive("+33611111111", "Puis-je venir à 11h plutôt ?")
    url = reverse("sending:reply", args=[inbound.pk])
    page = assistant_client.get(url).content.decode()
    assert 'id="sms-counter"' in page and "sms_counter.js" in page  # the counter of the send window
    assert "ABLIRANT Emma" in page and "06.11.11.11.11" in page

    form = {"body": "Bonjour @PPREN, c'est noté pour 11h00.", "token": "t-1", "mark_handled": "1"}
    response = assistant_client.post(url, form, follow=True)
    assert "Réponse enregistrée pour ABLIRANT Emma" in response.content.decode()
    assistant_client.post(url, form)  # a double click: the same token writes nothing more
    message = Message.objects.get(mailing__origin=MailingOrigin.ANSWER)
    assert (message.to, message.patient, message.body) == ("+33611111111", emma, "Bonjour Emma, c'est noté pour 11h00.")
    assert message.mailing.requested_by == assistant
    dispatch_pending(now=NOON)
    assert [(m.to, m.body) for m in sms_outbox] == [("+33611111111", "Bonjour Emma, c'est noté pour 11h00.")]
    inbound.refresh_from_db()
    assert inbound.handled_by == assistant
    # The conversation on the reply's page shows the answer and its fate.
    page = assistant_client.get(url).content.decode()
    assert "c&#x27;est noté pour 11h00." in page and "Envoyé" in page


def test_the_answer_to_a_guardian_goes_to_the_guardian(assistant_client, sms_outbox):  # noqa: F811
    mother = GuardianFactory(first_name="Stéphanie", last_name="Bernard", mobile="+33613682982")
    leo = MinorPatientFactory(first_name="Léo", last_name="Bernard", civil_guardian=mother, mobile="+33644444444")
    inbound = _receive("+33613682982", "Léo a de la fièvre")
    assistant_client.post(reverse("sending:reply", args=[inbound.pk]),
                          {"body": "Merci, nous le rappelons.", "token": "t-2"})
    message = Message.objects.get(mailing__origin=MailingOrigin.ANSWER)
    assert (message.to, message.recipient_role, message.patient) == ("+33613682982", "civil", leo)
    inbound.refresh_from_db()
    assert inbound.handled_at is None  # not ticked: still to handle


def test_no_answer_after_stop_nor_to_a_patient_who_refuses_sms(assistant_client, sms_outbox):  # noqa: F811
    PatientFactory(mobile="+33611111111")
    question = _receive("+33611111111", "C'est à quelle heure ?")
    _receive("+33611111111", "STOP")
    url = reverse("sending:reply", args=[question.pk])
    page = assistant_client.get(url).content.decode()
    assert "Réponse par SMS impossible : A répondu STOP" in page
    response = assistant_client.post(url, {"body": "À 10h00.", "token": "t-3"})
    assert "Réponse impossible : A répondu STOP" in response.content.decode()
    assert not Message.objects.exists()

    PatientFactory(mobile="+33655555555", sms_consent=False)
    refused = _receive("+33655555555", "Bonjour")
    response = assistant_client.post(reverse("sending:reply", args=[refused.pk]), {"body": "Bonjour", "token": "t-4"})
    assert "Réponse impossible : Ne souhaite pas recevoir de SMS." in response.content.decode()
    assert not Message.objects.exists()


def test_an_unknown_number_is_answered_unless_it_replied_stop(assistant_client, sms_outbox):  # noqa: F811
    inbound = _receive("+33699999999", "Qui est-ce ?")
    assistant_client.post(reverse("sending:reply", args=[inbound.pk]),
                          {"body": "Le cabinet dentaire du Parc.", "token": "t-5"})
    dispatch_pending(now=NOON)
    assert [(m.to, m.body) for m in sms_outbox] == [("+33699999999", "Le cabinet dentaire du Parc.")]
    _receive("+33699999999", "stop")
    response = assistant_client.post(reverse("sending:reply", args=[inbound.pk]), {"body": "Bien noté.", "token": "t-6"})
    assert "Réponse impossible : A répondu STOP" in response.content.decode()
    assert Message.objects.count() == 1


def test_a_bad_answer_gets_a_french_message(assistant_client):
    PatientFactory(mobile="+33611111111")
    inbound = _receive("+33611111111", "Bonjour")
    url = reverse("sending:reply", args=[inbound.pk])
    assert "Le message est vide." in assistant_client.post(url, {"body": "   ", "token": "t"}).content.decode()
    mistyped = assistant_client.post(url, {"body": "Bonjour @PNOMM", "token": "t"}).content.decode()
    assert "@PNOMM" in mistyped
    assert "1600" in assistant_client.post(url, {"body": "x" * 1700, "token": "t"}).content.decode().replace(" ", "").replace("\u202f", "")
    assert not Message.objects.exists()


# ---------------------------------------------------------------------------------------------
# Permissions and the menu
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Administrateur", "Praticien", "Assistant(e)"])
def test_every_role_that_sends_reads_answers_and_handles_replies(client, role):
    PatientFactory(mobile="+33611111111")
    inbound = _receive("+33611111111", "Bonjour")
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    page = client.get(REPLIES)
    assert page.status_code == 200 and 'id="replies-menu"' in page.content.decode()
    assert client.get(reverse("sending:reply", args=[inbound.pk])).status_code == 200
    assert client.post(reverse("sending:reply-handled", args=[inbound.pk])).status_code == 302


def test_who_may_not_read_replies_sees_neither_the_page_nor_the_count(client):
    inbound = _receive("+33611111111", "Bonjour")
    nobody = UserFactory(username="stagiaire")
    client.force_login(nobody)
    for url in (REPLIES, reverse("sending:reply", args=[inbound.pk])):
        assert client.get(url).status_code == 403
    assert client.post(reverse("sending:reply-handled", args=[inbound.pk])).status_code == 403
    assert client.post(reverse("sending:reply", args=[inbound.pk]), {"body": "x", "token": "t"}).status_code == 403

    # May send, but not read what patients write: no page, no count, nothing in the journal.
    nobody.user_permissions.add(Permission.objects.get(codename="send_messages"))
    client.force_login(nobody)
    assert client.get(REPLIES).status_code == 403
    journal = client.get("/messages/").content.decode()
    assert 'id="replies-menu"' not in journal and "Bonjour" not in journal


def test_reading_without_the_right_to_change_cannot_mark_handled(client):
    inbound = _receive("+33611111111", "Bonjour")
    reader = UserFactory(username="lecteur")
    reader.user_permissions.add(*Permission.objects.filter(codename__in=["send_messages", "view_inboundmessage"]))
    client.force_login(reader)
    page = client.get(REPLIES).content.decode()
    assert "Bonjour" in page and "Marquer traitée" not in page
    assert client.post(reverse("sending:reply-handled", args=[inbound.pk])).status_code == 403
    inbound.refresh_from_db()
    assert inbound.handled_at is None


def test_the_menu_counts_the_replies_to_handle_in_one_query(assistant_client, django_assert_num_queries,
                                                            django_assert_max_num_queries):
    PatientFactory(mobile="+33611111111")
    _receive("+33611111111", "Bonjour")
    home = reverse("home")
    page = assistant_client.get(home).content.decode()
    assert 'id="replies-menu"' in page and ">1<span class=\"visually-hidden\"> à traiter" in page
    with django_assert_max_num_queries(100) as few:
        assistant_client.get(home)
    for n in range(30):
        _receive(f"+336222222{n:02d}", f"Message {n}")
    _receive("+33611111111", "STOP")
    with django_assert_num_queries(len(few.captured_queries)):
        page = assistant_client.get(home).content.decode()
    assert ">31<span class=\"visually-hidden\"> à traiter" in page


def test_the_list_query_count_does_not_grow_with_replies(assistant_client, assistant, django_assert_num_queries,
                                                         django_assert_max_num_queries,
                                                         sms_outbox):  # noqa: F811
    def some(n):
        for _ in range(n):
            patient = PatientFactory(mobile=f"+3361{next(_ids):07d}")
            _reminder(patient, assistant)
            _receive(str(patient.mobile), "Oui")
        _receive(f"+3369{next(_ids):07d}", "Numéro inconnu")

    some(2)
    with django_assert_max_num_queries(100) as few:
        assistant_client.get(REPLIES, {"etat": "toutes"})
    some(20)
    with django_assert_num_queries(len(few.captured_queries)):
        assistant_client.get(REPLIES, {"etat": "toutes"})


# ---------------------------------------------------------------------------------------------
# The "Messages" journal
# ---------------------------------------------------------------------------------------------


def test_the_journal_shows_received_sms_marked_as_such(assistant_client, assistant, sms_outbox):  # noqa: F811
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111")
    _reminder(emma, assistant, body="Rappel pour Emma")
    inbound = _receive("+33611111111", "Oui merci")
    _receive("+33611111111", "STOP")
    page = assistant_client.get("/messages/").content.decode()
    assert "Rappel pour Emma" in page and "Oui merci" in page
    assert page.count("journal-received") == 2 and "STOP : SMS désactivés" in page
    assert reverse("sending:reply", args=[inbound.pk]) in page
    received = assistant_client.get("/messages/", {"sens": "recus"}).content.decode()
    assert "Oui merci" in received and "Rappel pour Emma" not in received
    sent = assistant_client.get("/messages/", {"sens": "envoyes"}).content.decode()
    assert "Oui merci" not in sent and "Rappel pour Emma" in sent
    # A status ("à vérifier") or the email channel concerns sent messages only.
    assert "Oui merci" not in assistant_client.get("/messages/", {"canal": "email"}).content.decode()
    assert "Oui merci" in assistant_client.get("/messages/", {"q": "ablirant"}).content.decode()
    assert "Oui merci" not in assistant_client.get("/messages/", {"q": "carpentier"}).content.decode()


def test_the_journal_pages_through_sent_and_received_in_date_order(assistant_client, assistant, sms_outbox):  # noqa: F811
    patient = PatientFactory(mobile="+33611111111")
    for n in range(30):
        _reminder(patient, assistant, body=f"Envoi {n}")
        _receive("+33611111111", f"Reçu {n}")
    first = assistant_client.get("/messages/").content.decode()
    second = assistant_client.get("/messages/", {"page": 2}).content.decode()
    assert "60 messages" in first
    assert "Reçu 29" in first and "Envoi 29" in first and "Reçu 0<" not in first
    assert "Envoi 0<" in second and "Reçu 0<" in second


# ---------------------------------------------------------------------------------------------
# The demo: "Répondre en tant que patient"
# ---------------------------------------------------------------------------------------------


def test_the_demo_answer_goes_through_the_webhooks_path(assistant_client, settings, monkeypatch):
    settings.SMS_BACKEND = "sandbox"
    SandboxSms.objects.create(to="+33611111111", sender="Cabinet", body="Rappel : RDV demain", provider_id="sb-1")
    PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111")
    calls = []
    import messaging.webhooks as webhooks

    real = webhooks.record_inbound
    monkeypatch.setattr(webhooks, "record_inbound", lambda **kw: calls.append(kw) or real(**kw))

    inbox = reverse("sending:demo-inbox")
    page = assistant_client.get(inbox, {"numero": "+33611111111"}).content.decode()
    assert "Répondre en tant que patient" in page
    response = assistant_client.post(reverse("sending:demo-reply"), {"numero": "+33611111111", "body": "Oui merci"},
                                     follow=True)
    assert "Réponse reçue par le cabinet" in response.content.decode()
    assert "Oui merci" in response.content.decode()  # in the phone's thread
    assistant_client.post(reverse("sending:demo-reply"), {"numero": "+33611111111", "body": "Oui merci"})
    assert [c["from_number"] for c in calls] == ["+33611111111", "+33611111111"]
    assert len({c["provider_id"] for c in calls}) == 2  # each answer is a new SMS
    assert InboundMessage.objects.filter(from_number="+33611111111", body="Oui merci").count() == 2
    assert "Oui merci" in assistant_client.get(REPLIES).content.decode()

    stop = assistant_client.post(reverse("sending:demo-reply"), {"numero": "+33611111111", "body": "STOP"})
    assert stop.status_code == 302
    from patients.models import Patient

    assert Patient.objects.get(mobile="+33611111111").sms_consent is False


def test_the_demo_answer_is_refused_outside_the_demo_and_without_text(assistant_client, settings):
    settings.SMS_BACKEND = "locmem"
    url = reverse("sending:demo-reply")
    assert assistant_client.post(url, {"numero": "+33611111111", "body": "Oui"}).status_code == 404
    settings.SMS_BACKEND = "sandbox"
    empty = assistant_client.post(url, {"numero": "+33611111111", "body": ""}, follow=True)
    assert "Écrivez la réponse du patient." in empty.content.decode()
    never = assistant_client.post(url, {"numero": "+33611111111", "body": "Oui"}, follow=True)
    assert "Aucun SMS n&#x27;a été envoyé à ce numéro" in never.content.decode()
    assert not InboundMessage.objects.exists()


def test_what_was_handled_automatically_is_not_listed_but_a_cancellation_request_is(assistant_client, assistant,
                                                                                   sms_outbox):  # noqa: F811
    """The interpretation (messaging.replies) marks a confirmation handled by itself: staff have
    nothing to do. A cancellation request is marked on the appointment, and staff cancel or move
    it: it stays in the list, with the SMS it answers and the appointment's mark."""
    from django.utils import timezone

    from messaging.models import ReplyKind
    from tests.factories import AppointmentFactory

    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33611111111")
    appointment = AppointmentFactory(patient=emma)
    asked = _reminder(emma, assistant, body="RDV demain 10h00. Répondez OUI pour confirmer, NON pour annuler.")
    Message.objects.filter(pk=asked.pk).update(appointment=appointment)
    yes = _receive("+33611111111", "Oui merci")
    no = _receive("+33611111111", "Je ne pourrai pas venir")
    InboundMessage.objects.filter(pk=yes.pk).update(kind=ReplyKind.CONFIRM, handled_automatically=True, answers=asked)
    InboundMessage.objects.filter(pk=no.pk).update(kind=ReplyKind.CANCEL, handled_automatically=True, answers=asked)
    type(appointment).objects.filter(pk=appointment.pk).update(cancel_requested_at=timezone.now())

    page = assistant_client.get(REPLIES, {"etat": "toutes"}).content.decode()
    assert _rows(page) == 1 and "Je ne pourrai pas venir" in page and "Oui merci" not in page
    assert "Demande d&#x27;annulation" in page and "Dernier SMS envoyé" not in page
    detail = assistant_client.get(reverse("sending:reply", args=[no.pk])).content.decode()
    assert "En réponse au SMS du" in detail and "Répondez OUI pour confirmer" in detail
    assert "Annulation demandée le" in detail and "Planning du jour" in detail
    # Handled by itself, it can still be opened and answered (from the journal, the patient file).
    assert assistant_client.get(reverse("sending:reply", args=[yes.pk])).status_code == 200
    # The journal still shows both.
    journal = assistant_client.get("/messages/", {"sens": "recus"}).content.decode()
    assert "Oui merci" in journal and "Je ne pourrai pas venir" in journal
    history = assistant_client.get(reverse("sending:history", args=[emma.pk])).content.decode()
    assert reverse("sending:reply", args=[yes.pk]) in history


def test_in_the_demo_a_patient_confirms_or_asks_to_cancel_from_the_demo_inbox(assistant_client, settings,
                                                                              no_quiet_hours):  # noqa: F811
    """The issue's demo path: a reminder that asks for an answer leaves through the demo gateway;
    "Oui merci" typed in the demo inbox confirms the appointment (nothing left for staff);
    "Je ne pourrai pas venir" marks the other one "annulation demandée" and waits in Réponses."""
    from messaging.models import Purpose, SmsTemplate, TemplateCategory
    from messaging.policy import recipient_for
    from patients.models import Appointment
    from tests.factories import AppointmentFactory

    settings.SMS_BACKEND = "sandbox"
    category = TemplateCategory.objects.create(name="Rappels", purpose=Purpose.REMINDER)
    template = SmsTemplate.objects.create(category=category, title="Rappel J-1", asks_reply=True,
                                          body="Rappel : RDV demain. Répondez OUI pour confirmer, NON pour annuler.")

    def remind_and_answer(mobile, answer):
        appointment = AppointmentFactory(patient=PatientFactory(mobile=mobile))
        mailing = mailing_create(
            channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None, template=template,
            recipients=[recipient_for(patient=appointment.patient, channel=Channel.SMS, role="patient",
                                      appointment=appointment)],
            appointment=appointment, purpose=Purpose.REMINDER, schedule_dispatch=False)
        dispatch_pending(mailing_id=mailing.pk)
        assert SandboxSms.objects.filter(to=mobile).exists()
        assistant_client.post(reverse("sending:demo-reply"), {"numero": mobile, "body": answer})
        return Appointment.objects.get(pk=appointment.pk)

    confirmed = remind_and_answer("+33611111111", "Oui merci")
    assert confirmed.confirmed_at is not None
    cancelled = remind_and_answer("+33622222222", "Je ne pourrai pas venir")
    assert cancelled.cancel_requested_at is not None

    page = assistant_client.get(REPLIES).content.decode()
    assert _rows(page) == 1 and "Je ne pourrai pas venir" in page and "Oui merci" not in page
    assert "Annulation demandée" in page
