"""SMS length as the network counts it (3GPP TS 23.038).

GSM-7: 160 characters in one SMS, 153 per part beyond; the characters of the extension table
(``\\f ^ { } \\ [ ~ ] |`` and ``€``) take two septets. Any character outside GSM-7 forces UCS-2: 70
UTF-16 units in one SMS, 67 per part beyond; characters outside the BMP (emoji) take two units.
A part never splits an escape sequence or a surrogate pair.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import gettext

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# The longest body the configured gateway takes (its folder's ``max_length``: Twilio refuses more
# than 1,600 characters, error 21617). Refused when written rather than failing at send time.
MAX_SMS_CHARS = 1600


def max_sms_chars() -> int:
    """The configured gateway's maximum length (characters)."""
    from messaging.gateways import backend_class

    try:
        return backend_class().max_length
    except ImportError:
        return MAX_SMS_CHARS


def too_long_message(text: str) -> str | None:
    """The refusal (active language) when ``text`` is longer than the SMS gateway takes, else None."""
    length, limit = len(text or ""), max_sms_chars()
    if length <= limit:
        return None
    limit_text = f"{limit:,}".replace(",", " ")
    return gettext(
        "Ce message fait %(length)s caractères : un SMS ne peut pas dépasser %(limit)s caractères "
        "avec la passerelle du cabinet. Raccourcissez-le."
    ) % {"length": length, "limit": limit_text}


@dataclass(frozen=True)
class SmsSegments:
    encoding: str  # "GSM-7" or "UCS-2"
    length: int  # septets (GSM-7) or UTF-16 units (UCS-2), as the network counts them
    parts: int
    ucs2_chars: tuple[str, ...]  # the characters that force UCS-2, each once, in order of appearance

    @property
    def is_gsm(self) -> bool:
        return self.encoding == "GSM-7"


def _unit_sizes(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _count_parts(sizes: list[int], single: int, multi: int) -> int:
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > multi:
            parts += 1
            used = 0
        used += size
    return parts


# A character outside the basic GSM-7 table (a regular expression scans a message three times
# faster than a set comparison).
_OUTSIDE_GSM7_BASIC = re.compile("[^" + "".join(re.escape(c) for c in sorted(GSM7_BASIC)) + "]")


@lru_cache(maxsize=1024)
def _plain_gsm(length: int) -> SmsSegments:
    # Depends on the length only: one (immutable) result per length, shared by a whole mailing.
    parts = 0 if not length else 1 if length <= GSM7_SINGLE else -(-length // GSM7_MULTI)
    return SmsSegments(encoding="GSM-7", length=length, parts=parts, ucs2_chars=())


def segments(text: str) -> SmsSegments:
    """Encoding, network length and number of SMS parts of ``text``."""
    text = text or ""
    first = _OUTSIDE_GSM7_BASIC.search(text)
    if first is None:
        # The common case, at C speed: one septet per character, so no escape sequence to keep
        # whole across parts.
        return _plain_gsm(len(text))
    # The characters outside the basic table, each once, in order of appearance (found by the
    # regular expression: a loop over the text costs 40 ns a character).
    ucs2 = [c for c in dict.fromkeys(_OUTSIDE_GSM7_BASIC.findall(text, first.start())) if c not in GSM7_EXTENSION]
    gsm = not ucs2
    if not gsm and len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):
        # UCS-2 without characters outside the BMP (a French name with "ï", "ë"...): one unit
        # per character, nothing to keep whole across parts.
        length = len(text)
        parts = 1 if length <= UCS2_SINGLE else -(-length // UCS2_MULTI)
        return SmsSegments(encoding="UCS-2", length=length, parts=parts, ucs2_chars=tuple(ucs2))
    sizes = _unit_sizes(text, gsm)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    return SmsSegments(
        encoding="GSM-7" if gsm else "UCS-2",
        length=sum(sizes),
        parts=_count_parts(sizes, single, multi),
        ucs2_chars=tuple(ucs2),
    )


# Replacements for what French text commonly holds outside GSM-7.
_GSM_REPLACEMENTS = {
    "ê": "e", "ë": "e", "â": "a", "á": "a", "î": "i", "ï": "i", "í": "i", "ô": "o", "ó": "o",
    "û": "u", "ú": "u", "ç": "c", "ÿ": "y", "œ": "oe", "Œ": "OE", "À": "A", "Â": "A", "È": "E",
    "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I", "Ô": "O", "Û": "U", "Ù": "U", "Ÿ": "Y",
    "’": "'", "‘": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "…": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "\t": " ", "•": "-", "·": ".",
}


def to_gsm(text: str) -> str:
    """``text`` with every character that forces UCS-2 replaced by its GSM-7 equivalent when there
    is one (ê→e, ç→c, œ→oe, typographic quotes, non-breaking spaces...). Characters with no
    sensible equivalent (emoji) are kept: the counter keeps showing UCS-2 for them."""
    out = []
    for c in text or "":
        if c in GSM7_BASIC or c in GSM7_EXTENSION:
            out.append(c)
        elif c in _GSM_REPLACEMENTS:
            out.append(_GSM_REPLACEMENTS[c])
        else:
            base = "".join(b for b in unicodedata.normalize("NFKD", c) if not unicodedata.combining(b))
            out.append(base if base and all(b in GSM7_BASIC for b in base) else c)
    return "".join(out)
