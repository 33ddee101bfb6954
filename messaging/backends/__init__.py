"""Gateways: how a message physically leaves (SMTP for emails, an SMS backend chosen by
``SMS_BACKEND``). The dispatcher (messaging.dispatch) is the only caller; backends know nothing
about the outbox table and never retry on their own.
"""

from __future__ import annotations


class SendError(Exception):
    """A message could not be handed to the gateway.

    ``message`` is shown to staff as the reason: a ``messaging.reasons.Why`` (a catalogue string
    and its parameters; it is also its French text), shown in each reader's language, or a plain
    text shown as it is. ``permanent`` says whether trying
    again can help: an invalid number is permanent, a timeout before the request left is not.
    ``ambiguous`` marks the dangerous middle: the request may have reached the gateway (the
    connection dropped after it was sent), so the message may already be on its way and must not
    be sent again blindly; the dispatcher records it as "unknown".
    """

    def __init__(self, message: str, permanent: bool, code: str = "", *, ambiguous: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = str(code or "")
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        kind = "ambiguous" if self.ambiguous else ("permanent" if self.permanent else "transient")
        return f"SendError({self.message!r}, {kind}, code={self.code!r})"
