"""Production SMS through OVHcloud's SMS API, with the official ``ovh`` package.

Credentials come from settings (read from the environment, each with a ``*_FILE`` variant):
``OVH_APPLICATION_KEY``, ``OVH_APPLICATION_SECRET``, ``OVH_CONSUMER_KEY`` and
``OVH_SMS_SERVICE_NAME`` (the SMS account, ``sms-ab12345-1``); ``OVH_BASE_URL`` is the API root
(OVH Europe by default; tests and operators point it elsewhere), ``OVH_TIMEOUT`` the delay of a
request.

One SMS is one job: ``POST /sms/{serviceName}/jobs`` with the practice's sender, the E.164
receiver and OVH's own fields. ``noStopClause`` stays False: OVH adds its STOP mention and keeps
the numbers that answer STOP off the account itself (replies reach us too, see webhooks.py).
Like Twilio, creating a job is not idempotent: a response that never came back is "ambiguous".
"""

from __future__ import annotations

import datetime as dt

import ovh
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy, gettext_noop
from ovh import exceptions as ovh_errors

from messaging.gateways.base import BaseSmsBackend, GatewayUnavailable, SendError, SentLookup, SmsMessage
from messaging.reasons import Why

from .checks import CREDENTIALS, system_checks
from .errors import DLR_STATUS, api_error, delivery_reason
from .webhooks import OvhWebhooks

# OVH's tag field is free text of at most 20 characters: our message id, for the outgoing list.
TAG_PREFIX = "dentcom-"
# The reply sender that asks OVH for one of its own numbers (the job's senderForResponse field).
REPLY_SHORT_NUMBER = "senderForResponse"


def virtual_number_path(number: str) -> str:
    """A virtual number in OVH's API paths: international format with 00 ("0033612345678")."""
    return "00" + number.lstrip("+")


class SmsBackend(BaseSmsBackend):
    name = "ovh"
    # OVH splits a long text into parts and bills each; the STOP mention it appends takes about a
    # dozen characters, kept free under the 1,600 characters we accept from any gateway.
    max_length = 1588
    # One job per message: each patient's text is their own.
    batch_size = 1
    webhooks = OvhWebhooks()
    reply_sender_help = gettext_lazy(
        "« senderForResponse » : un numéro court d'OVH, auquel le patient peut répondre (OVH ne transmet "
        "les réponses que pendant quelques jours) ; ou un numéro virtuel OVH du compte SMS (+33…), auquel "
        "les réponses arrivent toujours. Les réponses sont transmises à l'adresse « smsResponse » du compte "
        "(manage.py ovhcallbacks)."
    )

    @classmethod
    def system_checks(cls) -> list:
        return system_checks()

    @classmethod
    def clean_reply_sender(cls, value: str) -> str:
        """"senderForResponse" (OVH's numbers), or a virtual number of the account (E.164)."""
        value = (value or "").strip()
        if value.replace(" ", "").lower() == REPLY_SHORT_NUMBER.lower():
            return REPLY_SHORT_NUMBER
        return super().clean_reply_sender(value)

    def __init__(self, *, application_key: str | None = None, application_secret: str | None = None,
                 consumer_key: str | None = None, service_name: str | None = None, base_url: str | None = None,
                 timeout: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        values = {
            "OVH_APPLICATION_KEY": application_key or settings.OVH_APPLICATION_KEY,
            "OVH_APPLICATION_SECRET": application_secret or settings.OVH_APPLICATION_SECRET,
            "OVH_CONSUMER_KEY": consumer_key or settings.OVH_CONSUMER_KEY,
            "OVH_SMS_SERVICE_NAME": service_name or settings.OVH_SMS_SERVICE_NAME,
        }
        missing = [name for name in CREDENTIALS if not values[name]]
        if missing:
            raise ImproperlyConfigured(f"Le backend SMS OVH a besoin de {', '.join(missing)} (ou de leurs variantes *_FILE).")
        self.service_name = values["OVH_SMS_SERVICE_NAME"]
        self.base_url = (base_url or settings.OVH_BASE_URL).rstrip("/")
        self.timeout = timeout or settings.OVH_TIMEOUT
        self._keys = values
        self.client: ovh.Client | None = None

    def open(self) -> bool:
        if self.client is not None:
            return False
        client = ovh.Client(
            endpoint="ovh-eu",
            application_key=self._keys["OVH_APPLICATION_KEY"],
            application_secret=self._keys["OVH_APPLICATION_SECRET"],
            consumer_key=self._keys["OVH_CONSUMER_KEY"],
            timeout=self.timeout,
        )
        # The one seam to another server: every call is built from this root (ovh.Client looks
        # the root up by region name only).
        client._endpoint = self.base_url
        self.client = client
        return True

    def close(self) -> None:
        if self.client is not None:
            self.client._session.close()
            self.client = None

    def _client(self) -> ovh.Client:
        if self.client is None:
            self.open()
        return self.client

    def _clock(self, client: ovh.Client) -> None:
        """Learn OVH's clock (``GET /auth/time``) before the first signed call, apart from it: a
        failure there means no SMS left, so it is always safe to try again."""
        try:
            client.time_delta  # noqa: B018 - the property calls /auth/time once and keeps the offset
        except (ovh_errors.APIError, ValueError, TypeError) as exc:
            raise SendError(Why(gettext_noop("La passerelle SMS OVH est injoignable (heure du serveur indisponible) : "
                                             "nouvel essai plus tard.")),
                            permanent=False, code="auth-time") from exc

    def send_message(self, message: SmsMessage) -> str:
        client = self._client()
        self._clock(client)
        params = {
            "message": message.body,
            "receivers": [message.to],
            "noStopClause": False,
            "priority": "high",
        }
        path = f"/sms/{self.service_name}/jobs"
        if message.reply_sender == REPLY_SHORT_NUMBER:
            # An answer is asked for: one of OVH's numbers, which patients can answer.
            params["senderForResponse"] = True
        elif message.reply_sender:
            # From the account's virtual number: the job is created on that number, which
            # receives the answers (no sender field there).
            path = f"/sms/{self.service_name}/virtualNumbers/{virtual_number_path(message.reply_sender)}/jobs"
            del params["noStopClause"]  # not a field of a virtual number's jobs
        elif message.sender:
            params.update(sender=message.sender, senderForResponse=False)
        else:
            # No sender name: one of OVH's numbers, which patients can answer.
            params["senderForResponse"] = True
        if message.reference:
            params["tag"] = f"{TAG_PREFIX}{message.reference}"[:20]
        try:
            answer = client.post(path, **params)
        except ovh_errors.APIError as exc:
            raise api_error(exc, service_name=self.service_name) from exc
        ids = (answer or {}).get("ids") or []
        if ids:
            return str(ids[0])
        if message.to in ((answer or {}).get("invalidReceivers") or []):
            raise SendError(Why(gettext_noop("Numéro de téléphone refusé par OVH : corrigez le portable dans la fiche.")),
                            permanent=True, code="invalid-receiver")
        # A 200 without an id: OVH created no SMS for this receiver.
        raise SendError(Why(gettext_noop("OVH n'a pas accepté le SMS (aucun identifiant rendu) : nouvel essai plus tard.")),
                        permanent=False, code="no-id")

    def find_sent(self, *, to, body, since, until, exclude=frozenset()) -> SentLookup:
        """OVH's outgoing list filtered by receiver and creation date, then each SMS read
        (``GET .../outgoing/{id}``) and matched on its text (OVH may append its STOP mention);
        then the jobs OVH still holds (deferred), ``GET .../jobs`` and ``.../jobs/{id}``. The
        same under the practice's virtual number when it has one (the SMS that ask for an
        answer leave from it, and OVH lists them there)."""
        client = self._client()
        bases = [f"/sms/{self.service_name}"]
        virtual = _virtual_number()
        if virtual:
            bases.append(f"/sms/{self.service_name}/virtualNumbers/{virtual_number_path(virtual)}")
        try:
            self._clock(client)
            for base in bases:
                found = self._find_under(client, base, to=to, body=body, since=since, until=until, exclude=exclude)
                if found is not None:
                    return found
        except (ovh_errors.APIError, SendError) as exc:
            raise GatewayUnavailable(f"OVH n'a pas répondu à la recherche du SMS : {exc}") from exc
        return SentLookup(found=False)

    @staticmethod
    def _find_under(client, base: str, *, to, body, since, until, exclude) -> SentLookup | None:
        path = f"{base}/outgoing"
        ids = client.get(path, receiver=to, **{
            "creationDatetime.from": _iso(since), "creationDatetime.to": _iso(until),
        })
        for sms_id in ids or []:
            if str(sms_id) in exclude:
                continue
            sms = client.get(f"{path}/{sms_id}")
            if not (sms.get("message") or "").startswith(body.rstrip()):
                continue
            dlr = str(sms.get("deliveryReceipt") or "")
            status = DLR_STATUS.get(dlr, "")
            return SentLookup(found=True, provider_id=str(sms_id), status=status,
                              error_code=f"dlr-{dlr}" if status == "failed" else "",
                              reason=delivery_reason(dlr) if status == "failed" else "")
        # Not sent yet is not "never left": OVH holds jobs it defers (an SMS with its STOP
        # mention is not sent at night or at the weekend) in its list of jobs.
        jobs = f"{base}/jobs"
        for job_id in client.get(jobs) or []:
            if str(job_id) in exclude:
                continue
            job = client.get(f"{jobs}/{job_id}")
            if job.get("receiver") == to and (job.get("message") or "").startswith(body.rstrip()):
                return SentLookup(found=True, provider_id=str(job_id))
        return None


def _virtual_number() -> str:
    """The virtual number the practice set as OVH's reply sender ("" for none)."""
    from practice.models import Practice

    value = (Practice.objects.filter(pk=1).values_list("sms_reply_senders", flat=True).first() or {}).get("ovh", "")
    return value if value and value != REPLY_SHORT_NUMBER else ""


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()
