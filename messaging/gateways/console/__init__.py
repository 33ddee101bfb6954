"""Writes each SMS to standard output: for a developer's terminal."""

from __future__ import annotations

import sys
import uuid

from messaging.gateways.base import BaseSmsBackend, SmsMessage


class SmsBackend(BaseSmsBackend):
    name = "console"
    in_process = True
    batch_size = 1000

    def __init__(self, *, stream=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout

    def send_message(self, message: SmsMessage) -> str:
        provider_id = f"CO{uuid.uuid4().hex[:16]}"
        self.stream.write(
            f"--- SMS {provider_id}\nDe : {message.sender}\nÀ : {message.to}\n\n{message.body}\n---\n"
        )
        self.stream.flush()
        return provider_id
