"""An unreachable SMTP account pauses (its emails wait, no attempt spent, staff see it) and
resumes by itself; a configuration error fails that account's messages with the reason, never
the batch or the task. Against a real SMTP server on loopback, stopped and started again."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, EmailAccount, MailingOrigin, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import Recipient, recipients_for
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON, free_port, make_account

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self):
        self.received: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"


def _emails(account, addresses, subject="Rappel"):
    patient = PatientFactory(first_name="Emma")
    recipients = [Recipient(role="other", name=a, address=a, channel=Channel.EMAIL, patient=patient) for a in addresses]
    return mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, email_subject=subject, email_body_html="<p>Bonjour</p>",
                          account=account, signature=None, schedule_dispatch=False)


def test_an_outage_longer_than_the_retry_ladder_pauses_then_resumes_by_itself(settings, assistant_client, admin_user,
                                                                                client):
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    settings.MESSAGING_BACKOFF_MINUTES = [1, 2]  # a short ladder: 2 attempts, 3 minutes
    settings.MESSAGING_MAX_ATTEMPTS = 2
    settings.MESSAGING_ACCOUNT_PROBE_SECONDS = 60
    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    account = make_account(smtp_port=port)
    before = _emails(account, ["avant@patients.test"])
    assert dispatch_pending(now=NOON).sent == 1
    server.stop()  # the provider's server goes down: connections are refused

    mailing = _emails(account, ["a@patients.test", "b@patients.test", "c@patients.test"], subject="Pendant")
    first = dispatch_pending(now=NOON + dt.timedelta(minutes=1))
    assert first.paused == ["Secrétariat"] and first.sent == first.failed == first.retried == 0
    # Two hours of outage, the every-minute dispatch running (every 5 minutes here).
    for minutes in range(5, 125, 5):
        result = dispatch_pending(now=NOON + dt.timedelta(minutes=minutes))
        assert result.failed == 0 and result.sent == 0
    rows = list(mailing.messages.all())
    assert {(m.status, m.error_code, m.attempts) for m in rows} == {(MessageStatus.PENDING, "paused", 0)}
    assert all("injoignable" in m.reason for m in rows)

    # Staff see the pause: home page, journal, the account's page.
    for url in (reverse("home"), reverse("messaging:index")):
        page = assistant_client.get(url).content.decode()
        assert "Compte email « Secrétariat » en pause" in page and "3 emails attendent" in page
    client.force_login(admin_user)
    page = client.get(reverse("messaging:account_edit", args=[account.pk])).content.decode()
    assert "Compte email « Secrétariat » en pause" in page

    # The server is back: the next probe resumes the account and the emails leave, once.
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        back = dispatch_pending(now=NOON + dt.timedelta(minutes=130))
        assert back.sent == 3 and back.failed == 0
        dispatch_pending(now=NOON + dt.timedelta(minutes=131))
    finally:
        server.stop()
    assert sorted(inbox.received) == ["a@patients.test", "avant@patients.test", "b@patients.test", "c@patients.test"]
    assert set(mailing.messages.values_list("status", "attempts")) == {(MessageStatus.SENT, 1)}
    account.refresh_from_db()
    assert (account.paused_at, account.probe_at, account.pause_reason) == (None, None, "")
    assert "en pause" not in assistant_client.get(reverse("home")).content.decode()
    assert before.messages.get().status == MessageStatus.SENT


def test_a_display_name_with_a_line_break_fails_that_accounts_messages_not_the_task(settings):
    from django.core import mail

    from messaging.tasks import dispatch_task

    bad = make_account(name="Accueil", email="accueil@cabinet.test", display_name="Cabinet\r\nBcc: tous@ailleurs.test")
    good = make_account(name="Secrétariat")
    patient = PatientFactory(email="emma@patients.test")
    bad_mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                                 recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
                                 email_subject="Devis", email_body_html="<p>Bonjour</p>", account=bad, signature=None,
                                 schedule_dispatch=False)
    good_mailing = _emails(good, ["a@patients.test", "b@patients.test"])
    result = dispatch_task()  # the django-q2 task: returns, never raises
    assert result["sent"] == 2 and result["failed"] == 1 and result["config_errors"]
    failed = bad_mailing.messages.get()
    assert failed.status == MessageStatus.FAILED and failed.error_code == "header"
    assert "le nom affiché à l'envoi du compte email « Accueil » contient un retour à la ligne" in failed.reason
    assert failed.handed_at is None and failed.attempts == 0  # failed before it was handed over
    assert set(good_mailing.messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert sorted(m.to[0] for m in mail.outbox) == ["a@patients.test", "b@patients.test"]
    assert EmailAccount.objects.get(pk=bad.pk).paused_at is None  # a configuration error is not a pause


# ---------------------------------------------------------------------------------------------
# manage.py dispatch
# ---------------------------------------------------------------------------------------------


def test_the_dispatch_command_sends_what_is_due_and_says_what_happened(sms_outbox, no_quiet_hours):
    from messaging.backends import SendError
    from messaging.gateways import locmem

    patient = PatientFactory()
    recipients = [Recipient(role="other", name=f"P{i}", address=f"+3361000000{i}", channel=Channel.SMS, patient=patient)
                  for i in range(4)]
    mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None, recipients=recipients,
                   sms_body="Rappel", schedule_dispatch=False)
    locmem.fail_for["+33610000001"] = SendError("Numéro non attribué.", permanent=True, code="21211")
    locmem.fail_for["+33610000002"] = SendError("Réponse perdue.", permanent=False, code="timeout", ambiguous=True)
    locmem.fail_for["+33610000003"] = SendError("Passerelle occupée.", permanent=False, code="429")
    out = StringIO()
    call_command("dispatch", stdout=out)
    text = out.getvalue()
    assert "Envoyés : 1" in text and "En échec : 1" in text and "Incertains : 1" in text
    assert "En attente : 1" in text
    assert [s.to for s in sms_outbox] == ["+33610000000"]
    out = StringIO()
    call_command("dispatch", stdout=out)  # nothing due any more: nothing sent twice
    assert "Envoyés : 0" in out.getvalue() and len(sms_outbox) == 1


def test_the_dispatch_command_exits_non_zero_on_a_configuration_error():
    bad = make_account(name="Accueil", display_name="Cabinet\nDr Molaire")
    _emails(bad, ["a@patients.test"])
    out = StringIO()
    with pytest.raises(CommandError, match="Erreur de configuration : Email non envoyé : le nom affiché"):
        call_command("dispatch", stdout=out)
    assert "En échec : 1" in out.getvalue()
