"""The demo backend: every SMS lands in the database (SandboxSms), and the demo inbox page shows
each number's messages like a phone would."""

from __future__ import annotations

import uuid

from .base import BaseSmsBackend, SmsMessage


class SmsBackend(BaseSmsBackend):
    in_process = True

    def send_messages(self, messages) -> int:
        """Store the whole batch in one INSERT; every message is accepted."""
        from messaging.models import SandboxSms

        rows = []
        for message in messages:
            message.provider_id, message.error = f"SB{uuid.uuid4().hex}", None
            rows.append(SandboxSms(to=message.to, sender=message.sender[:32], body=message.body,
                                   provider_id=message.provider_id))
        SandboxSms.objects.bulk_create(rows)
        return len(rows)

    def send_message(self, message: SmsMessage) -> str:
        from messaging.models import SandboxSms

        provider_id = f"SB{uuid.uuid4().hex}"
        SandboxSms.objects.create(
            to=message.to, sender=message.sender[:32], body=message.body, provider_id=provider_id
        )
        return provider_id
