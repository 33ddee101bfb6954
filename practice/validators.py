import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

_SENDER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 ]{0,10}$")


def validate_sms_sender_name(value: str) -> None:
    """An alphanumeric SMS sender: 1 to 11 characters, a letter first, then letters (no accents),
    digits and spaces. Operators reject anything else, so it is refused here with the reason."""
    if not value:
        return
    if len(value) > 11:
        raise ValidationError(gettext("Le nom d'expéditeur fait %(length)s caractères : 11 au maximum.")
                              % {"length": len(value)})
    if not value[0].isascii() or not value[0].isalpha():
        raise ValidationError(gettext("Le nom d'expéditeur doit commencer par une lettre (sans accent)."))
    if not _SENDER_RE.match(value):
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c == " "))})
        raise ValidationError(
            gettext("Le nom d'expéditeur ne peut contenir que des lettres sans accent, des chiffres et des espaces "
                    "(refusé : %(refused)s).") % {"refused": " ".join(repr(c) for c in bad)}
        )


# Line breaks (CR, LF, and Unicode's NEL, LS, PS) and other control characters. In an email
# header they end the header line: a display name or a subject holding one breaks sending (or,
# unchecked, would let text choose other headers).
def header_text_problem(value: str) -> str:
    """The reason (active language) ``value`` cannot go into an email header, or "" when it can."""
    for char in value or "":
        if char in "\r\n\x85\u2028\u2029":
            return gettext(
                "Retour à la ligne interdit : ce texte figure dans l'en-tête des emails (expéditeur, objet) "
                "et doit tenir sur une seule ligne."
            )
        if unicodedata.category(char) == "Cc":
            kind = gettext("tabulation") if char == "\t" else gettext("caractère de contrôle U+%(code)s") % {
                "code": f"{ord(char):04X}"}
            return gettext(
                "Caractère interdit (%(kind)s) : ce texte figure dans l'en-tête des emails (expéditeur, objet) "
                "et ne peut contenir que du texte sur une seule ligne."
            ) % {"kind": kind}
    return ""


def validate_header_text(value: str) -> None:
    """For every field whose text ends up in an email header (display names, subjects, and the
    names merged into subjects): refuse line breaks and control characters."""
    problem = header_text_problem(value)
    if problem:
        raise ValidationError(problem, code="header")
