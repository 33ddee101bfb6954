"""What patients really write back to a reminder, and what it means (messaging.replies.interpret).

A pure function: no database. A wrong "confirm" would stop the chase of a patient who did not
confirm, a wrong "cancel" would alarm staff for nothing; anything doubtful goes to the inbox
("other") where a person reads it."""

import pytest

from messaging.models import ReplyKind
from messaging.replies import interpret

CONFIRM, CANCEL, STOP, OTHER = ReplyKind.CONFIRM, ReplyKind.CANCEL, ReplyKind.STOP, ReplyKind.OTHER

CASES = [
    # The answer the reminder asks for, and what people write instead.
    ("OUI", CONFIRM),
    ("oui", CONFIRM),
    ("Oui.", CONFIRM),
    ("Oui !", CONFIRM),
    ("Ouiii", CONFIRM),
    ("Oui merci", CONFIRM),
    ("oui merci beaucoup, bonne journée", CONFIRM),
    ("Oui merci 🙂", CONFIRM),
    ("OK", CONFIRM),
    ("ok", CONFIRM),
    ("Ok 👍", CONFIRM),
    ("okay", CONFIRM),
    ("ok c'est noté", CONFIRM),
    ("Ok c’est noté merci", CONFIRM),  # typographic apostrophe (phones put it)
    ("C'est noté", CONFIRM),
    ("Bien noté, merci", CONFIRM),
    ("d'accord", CONFIRM),
    ("D’accord merci", CONFIRM),
    ("daccord", CONFIRM),
    ("je confirme", CONFIRM),
    ("Je confirme ma présence", CONFIRM),
    ("Je confirme ma presence", CONFIRM),
    ("Confirmé", CONFIRM),
    ("confirme", CONFIRM),
    ("Oui je serai là", CONFIRM),
    ("Oui je serai la", CONFIRM),
    ("Parfait, à demain", CONFIRM),
    ("Pas de souci, merci", CONFIRM),
    ("👍", CONFIRM),
    ("✅", CONFIRM),
    ("Oui, merci Docteur", CONFIRM),
    ("  oui\n", CONFIRM),
    # Cancelling.
    ("NON", CANCEL),
    ("non", CANCEL),
    ("Non merci", CANCEL),
    ("non.", CANCEL),
    ("annuler", CANCEL),
    ("Annuler svp", CANCEL),
    ("ANNULATION", CANCEL),
    ("Je souhaite annuler mon rendez-vous", CANCEL),
    ("je ne pourrai pas venir", CANCEL),
    ("Je ne pourrai pas venir, désolée", CANCEL),
    ("Je ne pourrais pas venir", CANCEL),
    ("je ne peux pas venir", CANCEL),
    ("Je ne viendrai pas", CANCEL),
    ("Empêchée, je ne pourrai pas être là", CANCEL),
    ("Non je ne pourrai pas venir, pouvez-vous me rappeler ?", CANCEL),
    ("❌", CANCEL),
    # STOP keeps working as before (consent withdrawn by messaging.webhooks).
    ("STOP", STOP),
    ("Stop", STOP),
    ("Arrêt", STOP),
    ("stop sms.", STOP),
    # Doubtful or something else: a person reads it.
    ("Oui mais j'aurai 10 minutes de retard", OTHER),
    ("oui ou non ?", OTHER),
    ("Est-ce que je peux venir à 11h plutôt ?", OTHER),
    ("Pouvez-vous décaler mon rendez-vous ?", OTHER),
    ("Je ne confirme pas", OTHER),
    ("Qui êtes-vous ?", OTHER),
    ("Merci", OTHER),
    ("", OTHER),
    ("🙂", OTHER),
    ("Bonjour, j'ai mal à une dent depuis hier, est-ce grave ?", OTHER),
    ("Non pas ok", OTHER),
    ("Ok pour moi mais pas pour Léo", OTHER),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] or "(vide)" for c in CASES])
def test_interpret(text, expected):
    assert interpret(text) == expected


def test_a_long_message_that_says_oui_somewhere_is_not_a_confirmation():
    text = "Oui " + "je voulais aussi vous demander pour la facture du mois dernier et le devis " * 3
    assert interpret(text) == OTHER
