"""The demo gateway: every SMS lands in the database (SandboxSms), and the demo inbox page shows
each number's messages like a phone would."""

from __future__ import annotations

import uuid

from messaging.gateways.base import BaseSmsBackend, SentLookup, SmsMessage


class SmsBackend(BaseSmsBackend):
    name = "sandbox"
    in_process = True
    # The whole batch in one INSERT.
    batch_size = 1000

    def send_messages(self, messages) -> int:
        """Store the whole batch in one INSERT; every message is accepted."""
        from messaging.models import SandboxSms

        rows = []
        for message in messages:
            message.provider_id, message.error = f"SB{uuid.uuid4().hex}", None
            rows.append(SandboxSms(to=message.to, sender=(message.reply_sender or message.sender)[:32], body=message.body,
                                   provider_id=message.provider_id))
        SandboxSms.objects.bulk_create(rows)
        return len(rows)

    def send_message(self, message: SmsMessage) -> str:
        from messaging.models import SandboxSms

        provider_id = f"SB{uuid.uuid4().hex}"
        SandboxSms.objects.create(
            to=message.to, sender=(message.reply_sender or message.sender)[:32], body=message.body,
            provider_id=provider_id,
        )
        return provider_id

    def find_sent(self, *, to, body, since, until, exclude=frozenset()) -> SentLookup:
        """The demo inbox is the gateway's own record."""
        from messaging.models import SandboxSms

        row = (
            SandboxSms.objects.filter(to=to, body=body, created_at__gte=since, created_at__lte=until)
            .exclude(provider_id__in=exclude).order_by("created_at").first()
        )
        return SentLookup(found=True, provider_id=row.provider_id) if row else SentLookup(found=False)
