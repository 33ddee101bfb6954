"""OVH's answers, in staff's words, and whether trying again can help (see SendError)."""

from __future__ import annotations

import requests
from django.utils.translation import gettext_noop
from ovh import exceptions as ovh_errors

from messaging.gateways.base import SendError, never_connected
from messaging.models import MessageStatus
from messaging.reasons import Why

CREDENTIALS = Why(gettext_noop(
    "La passerelle SMS OVH a refusé les identifiants du cabinet (OVH_APPLICATION_KEY, "
    "OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY) ou ne leur donne pas le droit d'envoyer : contactez "
    "l'administrateur."
))

# Words of OVH's 400 answers (``message``) and what they mean for staff. (permanent, reason)
BAD_PARAMETERS: list[tuple[tuple[str, ...], bool, Why]] = [
    (("sender",), True,
     Why(gettext_noop("L'expéditeur du cabinet n'est pas autorisé sur le compte SMS OVH (un nom d'expéditeur doit "
                      "être déclaré puis validé par OVH) : corrigez le nom d'expéditeur (Paramétrage SMS) ou "
                      "faites-le valider."))),
    (("credit", "crédit"), False,
     Why(gettext_noop("Le compte SMS OVH n'a plus assez de crédits : rechargez-le ; nouvel essai plus tard."))),
    (("receiver", "destinataire", "number", "numéro"), True,
     Why(gettext_noop("Numéro de téléphone refusé par OVH : corrigez le portable dans la fiche."))),
    (("message", "empty", "length", "too long"), True,
     Why(gettext_noop("OVH a refusé le texte du SMS (vide ou trop long) : raccourcissez-le."))),
]


def api_error(exc: ovh_errors.APIError, *, service_name: str) -> SendError:
    """The SendError for an exception raised by ``ovh.Client`` while creating a job."""
    detail = (str(exc.args[0]) if exc.args and exc.args[0] else "").strip()
    if isinstance(exc, ovh_errors.HTTPError):
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, Exception) and never_connected(cause):
            return SendError(Why(gettext_noop("La passerelle SMS OVH est injoignable (connexion impossible) : nouvel "
                                              "essai plus tard.")), permanent=False, code="connect")
        if isinstance(cause, requests.exceptions.Timeout):
            return SendError(Why(gettext_noop("La passerelle SMS OVH n'a pas répondu à temps : le SMS est peut-être "
                                              "parti. Vérifiez avant de renvoyer.")),
                             permanent=False, code="timeout", ambiguous=True)
        return SendError(Why(gettext_noop("La connexion à la passerelle SMS OVH a été coupée après l'envoi de la "
                                          "demande : le SMS est peut-être parti. Vérifiez avant de renvoyer.")),
                         permanent=False, code="connection-lost", ambiguous=True)
    if isinstance(exc, ovh_errors.InvalidResponse):
        return SendError(Why(gettext_noop("La passerelle SMS OVH a donné une réponse illisible : le SMS est "
                                          "peut-être parti. Vérifiez avant de renvoyer.")),
                         permanent=False, code="invalid-response", ambiguous=True)
    if isinstance(exc, ovh_errors.NotCredential | ovh_errors.InvalidCredential | ovh_errors.InvalidKey
                  | ovh_errors.NotGrantedCall | ovh_errors.Forbidden):
        return SendError(CREDENTIALS, permanent=True, code="credentials")
    if isinstance(exc, ovh_errors.ResourceNotFoundError):
        return SendError(Why(gettext_noop("Le compte SMS OVH « %(name)s » est introuvable : vérifiez "
                                          "OVH_SMS_SERVICE_NAME."), name=service_name),
                         permanent=True, code="service-not-found")
    if isinstance(exc, ovh_errors.BadParametersError):
        lowered = detail.lower()
        for words, permanent, reason in BAD_PARAMETERS:
            if any(word in lowered for word in words):
                return SendError(reason, permanent=permanent, code="bad-parameters")
        # OVH's own words, shown as received.
        return SendError(Why(gettext_noop("OVH a refusé le SMS : %(detail)s."), detail=detail) if detail
                         else Why(gettext_noop("OVH a refusé le SMS.")), permanent=True, code="bad-parameters")
    status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
    if status == 429:
        return SendError(Why(gettext_noop("La passerelle SMS OVH est saturée (trop de demandes) : nouvel essai "
                                          "plus tard.")), permanent=False, code="429")
    if status == 503:
        return SendError(Why(gettext_noop("La passerelle SMS OVH est momentanément indisponible (HTTP 503) : "
                                          "nouvel essai plus tard.")), permanent=False, code="503")
    if status >= 500 or status == 0:
        # Creating a job is not idempotent: after a 500/502/504 the SMS may be on its way.
        return SendError(Why(gettext_noop("La passerelle SMS OVH a répondu par une erreur (HTTP %(status)s) : le "
                                          "SMS est peut-être parti. Vérifiez avant de renvoyer."), status=status or "?"),
                         permanent=False, code=str(status or "api"), ambiguous=True)
    return SendError(Why(gettext_noop("OVH a refusé le SMS (HTTP %(status)s) : %(detail)s."), status=status, detail=detail)
                     if detail else Why(gettext_noop("OVH a refusé le SMS (HTTP %(status)s)."), status=status),
                     permanent=True, code=str(status))


# The ``dlr`` values of OVH's delivery callbacks and the ``deliveryReceipt`` of its outgoing list:
# 1 delivered to the phone, 2 not delivered, 4 waiting at the operator, 8 handed to the
# operator, 16 refused by the operator.
DLR_STATUS = {
    "1": MessageStatus.DELIVERED,
    "2": MessageStatus.FAILED,
    "4": MessageStatus.SENT,
    "8": MessageStatus.SENT,
    "16": MessageStatus.FAILED,
}
# (reason, the same with OVH's description) by ``dlr``; None: any other failure.
DLR_REASONS = {
    "2": (gettext_noop("Le SMS n'a pas pu être remis : téléphone du destinataire injoignable ou numéro inexistant "
                       "(OVH)."),
          gettext_noop("Le SMS n'a pas pu être remis : téléphone du destinataire injoignable ou numéro inexistant "
                       "(OVH) : %(description)s.")),
    "16": (gettext_noop("L'opérateur du destinataire a refusé le SMS (OVH)."),
           gettext_noop("L'opérateur du destinataire a refusé le SMS (OVH) : %(description)s.")),
    None: (gettext_noop("Le SMS n'a pas pu être remis (OVH)."),
           gettext_noop("Le SMS n'a pas pu être remis (OVH) : %(description)s.")),
}


def delivery_reason(dlr: str, description: str = "") -> Why:
    """Why OVH did not deliver an SMS, with its ``description`` (OVH's own words, shown as
    received) when it adds something."""
    reason, with_description = DLR_REASONS.get(dlr) or DLR_REASONS[None]
    if not description or description in reason:
        return Why(reason)
    return Why(with_description, description=description)
