"""What every SMS gateway folder provides, and the events its webhooks are parsed into.

A gateway is one folder ``messaging/gateways/<name>/`` whose package exposes ``SmsBackend``, a
subclass of ``BaseSmsBackend``. The class carries everything the rest of the code needs to know
about that gateway: its limits (``max_length``, ``batch_size``), its start-up checks
(``system_checks``), its webhooks (``webhooks``: signature check and parsing into
``DeliveryEvent`` / ``InboundEvent``) and how to look a message up when its outcome is unknown
(``find_sent``). Nothing outside the folder knows a gateway's field names or error codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from messaging.backends import SendError

__all__ = [
    "BaseSmsBackend", "DeliveryEvent", "GatewayUnavailable", "GatewayWebhooks", "InboundEvent", "SendError",
    "SentLookup", "SmsMessage", "never_connected",
]


@dataclass
class SmsMessage:
    """One SMS as a gateway sees it. ``sender`` is the alphanumeric sender name (or a number);
    a backend may override it with its own (Twilio Messaging Service). ``reply_sender`` is set
    when the SMS asks for an answer: the practice's reply number for this gateway (Paramétrage
    SMS), which the backend uses INSTEAD of ``sender`` (an alphanumeric sender cannot receive
    SMS); each gateway reads its own kinds of value (``reply_sender_choices``). After
    ``send_messages`` exactly one of ``provider_id`` / ``error`` is set."""

    to: str
    body: str
    sender: str = ""
    reply_sender: str = ""
    status_callback: str = ""
    reference: str = ""  # our Message id, for logs only
    provider_id: str = ""
    error: SendError | None = None


@dataclass(frozen=True)
class DeliveryEvent:
    """A gateway's report on one SMS we sent, in our words. ``status`` is a MessageStatus value
    (``sent``, ``delivered`` or ``failed``); ``reason`` is the French explanation of a failure."""

    provider_id: str
    status: str
    error_code: str = ""
    reason: str = ""


@dataclass(frozen=True)
class InboundEvent:
    """An SMS a patient sent to the practice (a reply, or STOP)."""

    from_number: str
    to_number: str
    body: str
    provider_id: str


@dataclass(frozen=True)
class SentLookup:
    """What a gateway says about an SMS whose outcome we do not know: ``found`` with its
    ``provider_id`` (and the ``status`` it reached, a MessageStatus value, when the gateway says),
    or not found (it never left)."""

    found: bool
    provider_id: str = ""
    status: str = ""
    error_code: str = ""
    reason: str = ""


def never_connected(exc: Exception) -> bool:
    """True when ``exc`` (a requests ConnectionError) says the TCP/TLS connection was never
    established, so the request never left: safe to try again. Anything else after the request
    was written (reset, timeout) may hide an SMS on its way."""
    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError | NameResolutionError)


class GatewayUnavailable(Exception):
    """The gateway could not answer a question (lookup): nothing can be concluded, ask later."""


class GatewayWebhooks:
    """How a gateway calls us back. The views in messaging.webhooks do the rest (403 on a bad
    signature, keeping early delivery reports, recording replies and STOP)."""

    def verify(self, request: HttpRequest) -> bool:
        """Whether ``request`` really comes from the gateway (signature, secret token...)."""
        return False

    def delivery_events(self, request: HttpRequest) -> list[DeliveryEvent]:
        """The delivery reports in a verified status callback (possibly none)."""
        return []

    def inbound_events(self, request: HttpRequest) -> list[InboundEvent]:
        """The SMS received in a verified inbound callback (possibly none)."""
        return []

    def delivery_response(self) -> HttpResponse:
        return HttpResponse(status=200)

    def inbound_response(self) -> HttpResponse:
        return HttpResponse(status=200)


class BaseSmsBackend:
    """An SMS gateway, used like Django's email backends: ``with backend: backend.send_messages(...)``
    opens whatever the gateway needs once for the batch. ``send_messages`` never raises for one
    message's failure: it records it on the message so a batch goes on.

    Subclasses implement ``send_message`` (or ``send_messages`` for a gateway that takes a batch
    in one request) and set the class attributes below."""

    #: The short name accepted by SMS_BACKEND and used in webhook URLs.
    name = ""
    #: The longest body the gateway takes (characters), refused when a text is written.
    max_length = 1600
    #: How many messages may be handed over in one ``send_messages`` call.
    batch_size = 1
    #: True when the gateway answers at once without the network (demo, tests, console).
    in_process = False
    #: The gateway's callbacks, or None when it has none.
    webhooks: GatewayWebhooks | None = None
    #: How the practice tells this gateway which sender patients can answer (Paramétrage SMS),
    #: in staff's words; "" when the gateway needs none (the demo receives every answer).
    reply_sender_help = ""

    @classmethod
    def clean_reply_sender(cls, value: str) -> str:
        """The reply sender as stored, from what staff typed ("" for none). Raises
        ValueError with a French message when the gateway cannot use it. By default a mobile
        or virtual number, stored in E.164."""
        from patients.phones import normalize

        value = (value or "").strip()
        if not value:
            return ""
        number = normalize(value)
        if not number:
            raise ValueError(gettext("« %(value)s » n'est pas un numéro de téléphone.") % {"value": value})
        return number

    def __init__(self, **kwargs) -> None:
        pass

    @classmethod
    def system_checks(cls) -> list:
        """Start-up checks (django.core.checks messages) for this gateway as configured."""
        return []

    def open(self) -> bool:
        """Open what the gateway needs for a batch (a session). Returns whether something was
        opened; calling it twice is harmless."""
        return False

    def close(self) -> None:
        """Release what ``open`` took; harmless when nothing is open."""

    def __enter__(self):
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.close()

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

    def find_sent(self, *, to: str, body: str, since: dt.datetime, until: dt.datetime,
                  exclude: frozenset[str] = frozenset()) -> SentLookup:
        """Ask the gateway whether an SMS with ``body`` left for ``to`` between ``since`` and
        ``until`` (ids in ``exclude`` belong to other messages). Raises GatewayUnavailable when
        the gateway cannot tell; NotImplementedError when it cannot be asked at all."""
        raise NotImplementedError
