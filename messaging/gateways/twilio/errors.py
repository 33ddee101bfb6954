"""Twilio's error codes and statuses, in staff's words."""

from __future__ import annotations

from messaging.models import MessageStatus

# Twilio error codes staff may meet, in their words. (permanent, reason)
ERRORS: dict[int, tuple[bool, str]] = {
    21211: (True, "Numéro de téléphone invalide : corrigez le portable dans la fiche."),
    21614: (True, "Ce numéro n'est pas un téléphone portable : il ne peut pas recevoir de SMS."),
    21610: (True, "Le destinataire a répondu STOP : il ne reçoit plus de SMS du cabinet."),
    21408: (True, "L'envoi de SMS vers ce pays n'est pas autorisé sur le compte Twilio."),
    21612: (True, "La passerelle ne peut pas joindre ce numéro depuis l'expéditeur choisi."),
    21606: (True, "L'expéditeur configuré n'est pas autorisé par Twilio."),
    21603: (True, "Aucun expéditeur n'est configuré pour les SMS."),
    20003: (
        True,
        "La passerelle SMS a refusé les identifiants du cabinet (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN) : "
        "contactez l'administrateur.",
    ),
    20429: (False, "La passerelle SMS est saturée (trop de demandes) : nouvel essai plus tard."),
}

# Delivery failures reported later by the status callback (ErrorCode), in French.
DELIVERY_ERRORS: dict[str, str] = {
    "30001": "File d'attente de la passerelle saturée.",
    "30002": "Compte Twilio suspendu.",
    "30003": "Téléphone du destinataire injoignable (éteint ou hors réseau).",
    "30004": "Message bloqué par le destinataire ou son opérateur.",
    "30005": "Numéro inconnu ou qui n'existe plus.",
    "30006": "Ce numéro ne peut pas recevoir de SMS (fixe ou opérateur non joignable).",
    "30007": "Message filtré par l'opérateur (considéré comme indésirable).",
    "30008": "Échec de remise inconnu signalé par l'opérateur.",
    "21610": "Le destinataire a répondu STOP : il ne reçoit plus de SMS du cabinet.",
}


def delivery_error_reason(code: str) -> str:
    code = (code or "").strip()
    if code in DELIVERY_ERRORS:
        return DELIVERY_ERRORS[code]
    return f"Le SMS n'a pas pu être remis (code {code})." if code else "Le SMS n'a pas pu être remis."


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
