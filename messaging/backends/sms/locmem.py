"""The test backend: records messages in ``outbox`` instead of sending them, and can be told to
fail (``fail_with`` for every message, ``fail_for[number]`` for one recipient)."""

from __future__ import annotations

import itertools
import threading

from messaging.backends import SendError

from .base import BaseSmsBackend, SmsMessage

outbox: list[SmsMessage] = []
fail_with: SendError | None = None
fail_for: dict[str, SendError] = {}
_lock = threading.Lock()
_ids = itertools.count(1)


def reset() -> None:
    """Empty the outbox and forget the failures asked for."""
    global fail_with
    with _lock:
        outbox.clear()
        fail_for.clear()
        fail_with = None


class SmsBackend(BaseSmsBackend):
    def send_message(self, message: SmsMessage) -> str:
        error = fail_for.get(message.to) or fail_with
        if error is not None:
            raise error
        with _lock:
            message.provider_id = f"LM{next(_ids):08d}"
            outbox.append(message)
        return message.provider_id
