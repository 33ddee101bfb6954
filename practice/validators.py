import re

from django.core.exceptions import ValidationError

_SENDER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 ]{0,10}$")


def validate_sms_sender_name(value: str) -> None:
    """An alphanumeric SMS sender: 1 to 11 characters, a letter first, then letters (no accents),
    digits and spaces. Operators reject anything else, so it is refused here with the reason."""
    if not value:
        return
    if len(value) > 11:
        raise ValidationError(f"Le nom d'expéditeur fait {len(value)} caractères : 11 au maximum.")
    if not value[0].isascii() or not value[0].isalpha():
        raise ValidationError("Le nom d'expéditeur doit commencer par une lettre (sans accent).")
    if not _SENDER_RE.match(value):
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c == " "))})
        raise ValidationError(
            "Le nom d'expéditeur ne peut contenir que des lettres sans accent, des chiffres et des espaces "
            f"(refusé : {' '.join(repr(c) for c in bad)})."
        )
