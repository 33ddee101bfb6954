"""Twilio's error codes and statuses, in staff's words."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from messaging.models import MessageStatus
from messaging.reasons import Why

# Twilio error codes staff may meet, in their words. (permanent, reason)
ERRORS: dict[int, tuple[bool, Why]] = {
    21211: (True, Why(gettext_noop("Numéro de téléphone invalide : corrigez le portable dans la fiche."))),
    21614: (True, Why(gettext_noop("Ce numéro n'est pas un téléphone portable : il ne peut pas recevoir de SMS."))),
    21610: (True, Why(gettext_noop("Le destinataire a répondu STOP : il ne reçoit plus de SMS du cabinet."))),
    21408: (True, Why(gettext_noop("L'envoi de SMS vers ce pays n'est pas autorisé sur le compte Twilio."))),
    21612: (True, Why(gettext_noop("La passerelle ne peut pas joindre ce numéro depuis l'expéditeur choisi."))),
    21606: (True, Why(gettext_noop("L'expéditeur configuré n'est pas autorisé par Twilio."))),
    21603: (True, Why(gettext_noop("Aucun expéditeur n'est configuré pour les SMS."))),
    20003: (
        True,
        Why(gettext_noop("La passerelle SMS a refusé les identifiants du cabinet (TWILIO_ACCOUNT_SID / "
                         "TWILIO_AUTH_TOKEN) : contactez l'administrateur.")),
    ),
    20429: (False, Why(gettext_noop("La passerelle SMS est saturée (trop de demandes) : nouvel essai plus tard."))),
}

# Delivery failures reported later by the status callback (ErrorCode), in French.
DELIVERY_ERRORS: dict[str, Why] = {
    "30001": Why(gettext_noop("File d'attente de la passerelle saturée.")),
    "30002": Why(gettext_noop("Compte Twilio suspendu.")),
    "30003": Why(gettext_noop("Téléphone du destinataire injoignable (éteint ou hors réseau).")),
    "30004": Why(gettext_noop("Message bloqué par le destinataire ou son opérateur.")),
    "30005": Why(gettext_noop("Numéro inconnu ou qui n'existe plus.")),
    "30006": Why(gettext_noop("Ce numéro ne peut pas recevoir de SMS (fixe ou opérateur non joignable).")),
    "30007": Why(gettext_noop("Message filtré par l'opérateur (considéré comme indésirable).")),
    "30008": Why(gettext_noop("Échec de remise inconnu signalé par l'opérateur.")),
    "21610": Why(gettext_noop("Le destinataire a répondu STOP : il ne reçoit plus de SMS du cabinet.")),
}


def delivery_error_reason(code: str) -> Why:
    code = (code or "").strip()
    if code in DELIVERY_ERRORS:
        return DELIVERY_ERRORS[code]
    if code:
        return Why(gettext_noop("Le SMS n'a pas pu être remis (code %(code)s)."), code=code)
    return Why(gettext_noop("Le SMS n'a pas pu être remis."))


# Twilio's message statuses (callbacks and the Messages list), as ours. Others (receiving,
# received, read, scheduled, canceled) say nothing about a message we sent.
STATUSES = {
    "accepted": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
}
