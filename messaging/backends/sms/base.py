from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from messaging.backends import SendError


@dataclass
class SmsMessage:
    """One SMS as a gateway sees it. ``sender`` is the alphanumeric sender name (or a number);
    a backend may override it with its own (Twilio Messaging Service). After ``send_messages``
    exactly one of ``provider_id`` / ``error`` is set."""

    to: str
    body: str
    sender: str = ""
    status_callback: str = ""
    reference: str = ""  # our Message id, for logs only
    provider_id: str = ""
    error: SendError | None = None


class BaseSmsBackend:
    """Subclasses implement ``send_message``; ``send_messages`` never raises for one message's
    failure: it records it on the message so a batch goes on."""

    def __init__(self, **kwargs) -> None:
        pass

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        """Send each message; return how many the gateway accepted. Each message ends with
        ``provider_id`` (accepted) or ``error`` (a SendError)."""
        sent = 0
        for message in messages:
            message.provider_id, message.error = "", None
            try:
                message.provider_id = self.send_message(message)
            except SendError as exc:
                message.error = exc
            else:
                sent += 1
        return sent

    def send_message(self, message: SmsMessage) -> str:
        """Send one message and return the gateway's id, or raise SendError."""
        raise NotImplementedError
