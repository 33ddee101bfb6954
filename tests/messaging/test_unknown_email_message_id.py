"""An email left "incertain" keeps its Message-ID for staff: the SMTP server (aiosmtpd on
loopback) took the message, then the line was cut before its answer; the Message-ID kept on the
row is the one the server received, and the patient's history and the journal show it."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.models import MessageStatus
from tests.messaging.sending_helpers import NOON, make_account
from tests.messaging.test_smtp import _mailing, smtp  # noqa: F401 (fixture)


@pytest.mark.django_db
def test_an_email_left_incertain_keeps_the_message_id_the_server_received(smtp, assistant_client):  # noqa: F811
    account = make_account(smtp_port=smtp.port)
    smtp.drop_after_data.add("b@patients.test")  # stored by the server, then the line cut
    mailing = _mailing(account, ["a@patients.test", "b@patients.test"])
    dispatch_pending(now=NOON)
    time.sleep(0.1)
    unknown = mailing.messages.get(to="b@patients.test")
    assert unknown.status == MessageStatus.UNKNOWN
    received = {m["To"]: m["Message-ID"] for m in smtp.received}
    assert unknown.provider_id and unknown.provider_id == received["b@patients.test"]
    sent = mailing.messages.get(to="a@patients.test")
    assert sent.status == MessageStatus.SENT and sent.provider_id == received["a@patients.test"]

    for url in (reverse("sending:history", args=[unknown.patient_id]), reverse("messaging:index")):
        page = assistant_client.get(url).content.decode()
        assert f"Message-ID : {unknown.provider_id}".replace("<", "&lt;").replace(">", "&gt;") in page
        # Only the incertain one: a sent email's id is not noise on the page.
        assert sent.provider_id.replace("<", "&lt;").replace(">", "&gt;") not in page
    detail = assistant_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode()
    assert unknown.provider_id.replace("<", "&lt;").replace(">", "&gt;") in detail
