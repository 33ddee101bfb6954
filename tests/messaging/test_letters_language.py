"""The frame of a mass-mailing letter (the practice's telephone, the place and date above the
text) goes to the patient with the practice's text: in the practice's language, whoever prints it;
the text itself is the practice's, never translated."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import translation
from pypdf import PdfReader

from messaging.letters import Letter, letters_pdf
from practice.models import Practice

pytestmark = pytest.mark.django_db

LETTER = Letter(name="Mme ABLIRANT Emma", address_lines=["3 rue des Lilas", "21000 Dijon"],
                text="Bonjour Emma,\n\nLe cabinet sera fermé en août.")


def _practice(language: str) -> Practice:
    Practice.objects.update_or_create(pk=1, defaults={"name": "Cabinet du Parc", "city": "Dijon",
                                                      "phone": "+33380301240", "language": language})
    return Practice.get()


def _text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_an_english_practice_gets_an_english_frame_even_for_a_french_user():
    practice = _practice("en")
    with translation.override("fr"):
        text = _text(letters_pdf(letters=[LETTER], practice=practice, today=dt.date(2026, 3, 10)))
        assert translation.get_language() == "fr"
    assert "Tel. 03.80.30.12.40" in text and "Dijon, 10 March 2026" in text
    assert "Le cabinet sera fermé en août." in text  # the practice's own text
    assert "Tél." not in text and "mardi" not in text


def test_a_french_practice_keeps_its_french_frame_for_an_english_user():
    practice = _practice("")
    with translation.override("en"):
        text = _text(letters_pdf(letters=[LETTER], practice=practice, today=dt.date(2026, 3, 10)))
        with pytest.raises(ValueError, match="No letter to print."):
            letters_pdf(letters=[], practice=practice, today=dt.date(2026, 3, 10))
    assert "Tél. 03.80.30.12.40" in text and "Dijon, le mardi 10 mars 2026" in text
