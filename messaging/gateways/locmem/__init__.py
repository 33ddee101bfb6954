"""The test gateway: records messages in ``outbox`` instead of sending them, and can be told to
fail (``fail_with`` for every message, ``fail_for[number]`` for one recipient). ``find_sent``
answers from ``outbox``, as a real gateway's message list would."""

from __future__ import annotations

import itertools
import threading

from messaging.gateways.base import BaseSmsBackend, SendError, SentLookup, SmsMessage

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
    name = "locmem"
    in_process = True
    batch_size = 1000

    def send_message(self, message: SmsMessage) -> str:
        error = fail_for.get(message.to) or fail_with
        if error is not None:
            raise error
        with _lock:
            message.provider_id = f"LM{next(_ids):08d}"
            outbox.append(message)
        return message.provider_id

    def find_sent(self, *, to, body, since, until, exclude=frozenset()) -> SentLookup:
        with _lock:
            for sms in outbox:
                if sms.to == to and sms.body == body and sms.provider_id not in exclude:
                    return SentLookup(found=True, provider_id=sms.provider_id)
        return SentLookup(found=False)
