"""Production SMS through Twilio's Messages API, with the official SDK.

Credentials and options come from settings (read from the environment in practice/settings.py):
``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` (or ``TWILIO_AUTH_TOKEN_FILE``),
``TWILIO_MESSAGING_SERVICE_SID`` (optional: send through a Messaging Service instead of the
practice's sender name), ``TWILIO_BASE_URL`` (the API root; tests and operators point it at
another server), ``PUBLIC_BASE_URL`` (to build the status callback URL).

Twilio documents that creating a message is not idempotent, so what happens on the wire decides
whether a failure may be retried: a connection that never opened is safe to retry, a response
that never came back is "ambiguous" (the SMS may be on its way).
"""

from __future__ import annotations

import datetime as dt

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from messaging.gateways.base import (
    BaseSmsBackend,
    GatewayUnavailable,
    SendError,
    SentLookup,
    SmsMessage,
    never_connected,
)
from messaging.reasons import Why

from .checks import system_checks
from .errors import ERRORS, STATUSES, delivery_error_reason
from .webhooks import TwilioWebhooks


def status_callback_url() -> str:
    """The public URL of the delivery-status webhook, or "" when PUBLIC_BASE_URL is not set."""
    from django.urls import reverse

    base = (getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return f"{base}{reverse('webhooks:status', kwargs={'gateway': 'twilio'})}" if base else ""


class SmsBackend(BaseSmsBackend):
    name = "twilio"
    # Twilio refuses a longer body (error 21617): about 10 SMS in GSM-7, 24 in UCS-2.
    max_length = 1600
    # One message per request: the Messages API takes no batch.
    batch_size = 1
    webhooks = TwilioWebhooks()
    reply_sender_help = gettext_lazy(
        "Un numéro Twilio qui reçoit les SMS (+33…), ou un Messaging Service (MG…) dont les expéditeurs "
        "sont des numéros : Twilio prend l'expéditeur alphanumérique d'un service qui en a un, et personne "
        "ne peut y répondre. Les réponses arrivent sur le webhook « A message comes in » du numéro ou du "
        "service : /webhooks/twilio/inbound/."
    )

    @classmethod
    def system_checks(cls) -> list:
        return system_checks()

    @classmethod
    def clean_reply_sender(cls, value: str) -> str:
        """A Twilio number (E.164) or a Messaging Service SID (MG + 32 hexadecimal digits)."""
        import re

        value = (value or "").strip()
        if re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            return "MG" + value[2:].lower()
        if value[:2].upper() == "MG":
            raise ValueError(gettext("Un Messaging Service Twilio s'écrit MG suivi de 32 chiffres et lettres (a à f)."))
        return super().clean_reply_sender(value)

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        if not self.account_sid or not self.auth_token:
            raise ImproperlyConfigured(
                "Le backend SMS Twilio a besoin de TWILIO_ACCOUNT_SID et TWILIO_AUTH_TOKEN (ou TWILIO_AUTH_TOKEN_FILE)."
            )
        self.messaging_service_sid = (
            messaging_service_sid if messaging_service_sid is not None else settings.TWILIO_MESSAGING_SERVICE_SID
        )
        self.client = Client(
            self.account_sid,
            self.auth_token,
            http_client=TwilioHttpClient(timeout=timeout or settings.TWILIO_TIMEOUT),
        )
        # The one seam to another server: every API call is built from this root.
        self.client.api.base_url = (base_url or settings.TWILIO_BASE_URL).rstrip("/")

    def send_message(self, message: SmsMessage) -> str:
        params: dict[str, str] = {"to": message.to, "body": message.body}
        if message.reply_sender.startswith("MG"):
            # A Messaging Service whose senders are numbers: the patient can answer.
            params["messaging_service_sid"] = message.reply_sender
        elif message.reply_sender:
            # A Twilio number, never the alphanumeric name (nobody can answer it).
            params["from_"] = message.reply_sender
            if self.messaging_service_sid:
                params["messaging_service_sid"] = self.messaging_service_sid
        elif self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        elif message.sender:
            params["from_"] = message.sender
        elif settings.TWILIO_FROM_NUMBER:
            params["from_"] = settings.TWILIO_FROM_NUMBER
        else:
            raise SendError(
                Why(gettext_noop("Aucun expéditeur SMS : renseignez le nom d'expéditeur du cabinet (Paramétrage SMS).")),
                permanent=True,
                code="no-sender",
            )
        callback = message.status_callback or status_callback_url()
        if callback:
            params["status_callback"] = callback
        try:
            created = self.client.messages.create(**params)
        except TwilioRestException as exc:
            raise self._api_error(exc) from exc
        except requests.exceptions.ConnectionError as exc:
            if never_connected(exc):
                raise SendError(
                    Why(gettext_noop("La passerelle SMS est injoignable (connexion impossible) : nouvel essai plus tard.")),
                    permanent=False,
                    code="connect",
                ) from exc
            raise SendError(
                Why(gettext_noop("La connexion à la passerelle SMS a été coupée après l'envoi de la demande : le SMS "
                                 "est peut-être parti. Vérifiez avant de renvoyer.")),
                permanent=False,
                code="connection-lost",
                ambiguous=True,
            ) from exc
        except requests.exceptions.Timeout as exc:
            # The request was sent (a connect timeout is a ConnectionError, handled above).
            raise SendError(
                Why(gettext_noop("La passerelle SMS n'a pas répondu à temps : le SMS est peut-être parti. Vérifiez "
                                 "avant de renvoyer.")),
                permanent=False,
                code="timeout",
                ambiguous=True,
            ) from exc
        return created.sid

    def find_sent(self, *, to, body, since, until, exclude=frozenset()) -> SentLookup:
        """Twilio's Messages list filtered by recipient and date sent, matched on the body and
        the creation time (the list holds every SMS the account sent to that number)."""
        try:
            candidates = self.client.messages.list(to=to, date_sent_after=since - dt.timedelta(days=1), limit=200)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise GatewayUnavailable(f"Twilio n'a pas répondu à la recherche du SMS : {exc}") from exc
        for sms in candidates:
            created = sms.date_created
            if sms.sid in exclude or (sms.body or "") != body or sms.direction != "outbound-api":
                continue
            if created is not None and not (since <= created <= until):
                continue
            status = STATUSES.get((sms.status or "").lower(), "")
            code = str(sms.error_code or "")
            return SentLookup(found=True, provider_id=sms.sid, status=status, error_code=code,
                              reason=delivery_error_reason(code) if status == "failed" else "")
        return SentLookup(found=False)

    @staticmethod
    def _api_error(exc: TwilioRestException) -> SendError:
        code = exc.code
        if code in ERRORS:
            permanent, reason = ERRORS[code]
            return SendError(reason, permanent=permanent, code=str(code))
        status = exc.status or 0
        if status == 429:
            return SendError(ERRORS[20429][1], permanent=False, code=str(code or 429))
        if status == 503:
            # Service unavailable: Twilio refused the request before processing it.
            return SendError(
                Why(gettext_noop("La passerelle SMS est momentanément indisponible (HTTP 503) : nouvel essai plus tard.")),
                permanent=False,
                code=str(code or status),
            )
        if status >= 500:
            # Twilio documents that creating a message is not idempotent: after a 500/502/504 the
            # SMS may already be on its way, so a retry could send it twice. Staff decide.
            return SendError(
                Why(gettext_noop("La passerelle SMS a répondu par une erreur (HTTP %(status)s) : le SMS est peut-être "
                                 "parti. Vérifiez avant de renvoyer."), status=status),
                permanent=False,
                code=str(code or status),
                ambiguous=True,
            )
        # Twilio's own words, shown as received.
        detail = (exc.msg or "").strip()
        return SendError(
            Why(gettext_noop("La passerelle SMS a refusé le message (code %(code)s) : %(detail)s."),
                code=code or status, detail=detail)
            if detail else
            Why(gettext_noop("La passerelle SMS a refusé le message (code %(code)s)."), code=code or status),
            permanent=True,
            code=str(code or status),
        )
