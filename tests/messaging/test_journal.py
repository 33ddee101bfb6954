"""The "Messages" page: every message, what failed and what waits."""

import pytest

from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from tests.factories import PatientFactory, PatientWithoutPhoneFactory, UserFactory

pytestmark = pytest.mark.django_db


def _sms_to(patients, user, body="Bonjour @PPREN"):
    recipients = [r for p in patients for r in recipients_for(patient=p, channel=Channel.SMS)[:1]]
    return mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=user, recipients=recipients,
        sms_body=body, schedule_dispatch=False,
    )


def test_the_journal_lists_messages_and_flags_what_to_check(assistant_client, assistant):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant")
    leo = PatientFactory(first_name="Léo", last_name="Bernard")
    nophone = PatientWithoutPhoneFactory(first_name="Nina", last_name="Sansnumero")
    mailing = _sms_to([emma, leo, nophone], assistant)
    Message.objects.filter(mailing=mailing, patient=leo).update(
        status=MessageStatus.FAILED, reason="Ce numéro n'existe pas."
    )
    page = assistant_client.get("/messages/").content.decode()
    assert "Bonjour Emma" in page
    assert "Ce numéro n&#x27;existe pas." in page or "Ce numéro n'existe pas." in page
    assert "1 message à vérifier" in page
    assert "Non envoyé" in page  # Nina has no mobile: skipped, with its reason
    only_failed = assistant_client.get("/messages/", {"etat": "a-verifier"}).content.decode()
    assert "Bernard".upper() in only_failed and "Bonjour Emma" not in only_failed
    by_name = assistant_client.get("/messages/", {"q": "ablirant"}).content.decode()
    assert "Bonjour Emma" in by_name and "BERNARD" not in by_name


def test_bad_dates_get_a_french_message_not_a_crash(assistant_client):
    response = assistant_client.get("/messages/", {"du": "31/02/2026", "au": "demain"})
    assert response.status_code == 200
    assert "Date invalide" in response.content.decode()
    swapped = assistant_client.get("/messages/", {"du": "10/03/2026", "au": "01/03/2026"})
    assert "inversées" in swapped.content.decode()


def test_the_journal_needs_the_sending_permission(client):
    client.force_login(UserFactory(username="stagiaire"))
    assert client.get("/messages/").status_code == 403


def test_the_journal_query_count_does_not_grow_with_messages(assistant_client, assistant, django_assert_max_num_queries):
    _sms_to([PatientFactory() for _ in range(3)], assistant)
    # 15: the page's own queries, the received SMS beside the sent ones (their count, one
    # UNION for the page's lines) and the menu's count of replies to handle.
    with django_assert_max_num_queries(15) as small:
        assistant_client.get("/messages/")
    _sms_to([PatientFactory() for _ in range(30)], assistant)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assistant_client.get("/messages/")


def test_a_number_typed_the_french_way_finds_its_messages(assistant_client, assistant):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33676396023")
    _sms_to([emma], assistant)
    for typed in ("06.76.39.60.23", "0676396023", "+33676396023"):
        page = assistant_client.get("/messages/", {"q": typed}).content.decode()
        assert "Bonjour Emma" in page, typed
