"""Formatted email bodies: cleaned with nh3 (Ammonia) on save, and their plain-text alternative."""

from __future__ import annotations

import re
from functools import partial
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = {
    "p", "br", "div", "span", "strong", "b", "em", "i", "u", "s", "strike", "sub", "sup", "small",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "blockquote", "hr", "img", "table", "thead",
    "tbody", "tr", "th", "td", "font",
}
ALLOWED_ATTRIBUTES = {
    "*": {"style", "title"},
    "a": {"href", "target"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "font": {"color"},
}
ALLOWED_STYLE_PROPERTIES = {
    "color", "background-color", "text-align", "font-weight", "font-style", "text-decoration",
    "font-size", "font-family", "margin-left", "padding-left",
}
_SAFE_STYLE_VALUE = re.compile(r"^[#\w\s.,%()'\"-]+$")
_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$", re.IGNORECASE)


def _hex_colour(value: str) -> str:
    """``rgb(224, 62, 45)`` as ``#e03e2d``; any other value unchanged."""
    match = _RGB.match(value)
    if not match or any(int(part) > 255 for part in match.groups()):
        return value
    return "#" + "".join(f"{int(part):02x}" for part in match.groups())


def _clean_style(value: str, hex_colours: bool = False) -> str | None:
    kept = []
    for declaration in value.split(";"):
        if ":" not in declaration:
            continue
        prop, _, val = declaration.partition(":")
        prop, val = prop.strip().lower(), val.strip()
        # No url(), expression() or escapes: only plain colours, sizes and keywords.
        if prop in ALLOWED_STYLE_PROPERTIES and _SAFE_STYLE_VALUE.match(val) and "url" not in val.lower() \
                and "expression" not in val.lower():
            if hex_colours and prop in ("color", "background-color"):
                val = _hex_colour(val)
            kept.append(f"{prop}: {val}")
    return "; ".join(kept) or None


def _attribute_filter(tag: str, attribute: str, value: str, hex_colours: bool = False) -> str | None:
    if attribute == "style":
        return _clean_style(value, hex_colours)
    if tag == "a" and attribute == "href" and value.lstrip(" \t\r\n\x00").lower().startswith("data:"):
        # A data: link opens a document of the sender's making (HTML, script) in the reader's
        # browser; data: stays allowed only for inline images (a pasted logo).
        return None
    if tag == "img" and attribute == "src":
        # Inline images (a logo pasted into a signature) or https only.
        if value.startswith(("https://", "data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,")):
            return value
        return None
    return value


def clean_html(html: str, *, hex_colours: bool = False) -> str:
    """``html`` reduced to formatting (bold, italics, lists, links, colours, tables, images):
    no scripts, event handlers, ``javascript:`` or ``data:`` links or foreign styles. Run when a
    body is saved and again on each merged body (messaging.compose): a merged value placed in an
    attribute (``<a href="@PADR1">``) is only known once merged. ``hex_colours`` writes
    ``rgb()`` colours as ``#rrggbb`` (see clean_editor_html)."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=partial(_attribute_filter, hex_colours=hex_colours) if hex_colours else _attribute_filter,
        url_schemes={"http", "https", "mailto", "tel", "data"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


# A list item or table cell holding a single paragraph without attributes, in nh3's output (whose
# markup is regular: lower-case tags, quoted attributes, no stray "<").
_LONE_PARAGRAPH = re.compile(r"<(li|td|th)((?: [^>]*)?)><p>((?:(?!</?p[ >]).)*?)</p></\1>", re.DOTALL)


def clean_editor_html(html: str) -> str:
    """A body posted by the rich-text editor (messaging/rich_editor.js), cleaned like any body
    (``clean_html``) and written as the previous editor (TinyMCE) wrote it, so a body opened and
    saved without change is stored, and sent, without change: colours as ``#rrggbb`` (a browser
    hands ``rgb()`` values to the editor) and a list item or table cell holding one plain
    paragraph without that paragraph (ProseMirror always wraps their text in ``<p>``, whose
    margins would space a list out in mail clients)."""
    return _LONE_PARAGRAPH.sub(r"<\1\2>\3</\1>", clean_html(html, hex_colours=True))


_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "blockquote", "table", "tr", "ul", "ol", "hr"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[str | None] = []
        self._ol_counters: list[int | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
            if tag == "ol":
                self._ol_counters.append(0)
            elif tag == "ul":
                self._ol_counters.append(None)
            elif tag == "hr":
                self.parts.append("----------\n\n")
        elif tag == "li":
            counters = self._ol_counters
            if counters and counters[-1] is not None:
                counters[-1] += 1
                self.parts.append(f"\n{counters[-1]}. ")
            else:
                self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self._links.append(attrs.get("href"))
        elif tag == "img" and attrs.get("alt"):
            self.parts.append(f"[{attrs['alt']}]")

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.parts.append("\n\n")
            if tag in ("ol", "ul") and self._ol_counters:
                self._ol_counters.pop()
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith("mailto:"):
                self.parts.append(f" ({href})")

    def handle_data(self, data):
        self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The plain-text alternative of a formatted body: paragraphs, line breaks, list bullets and
    link targets kept; everything else flattened."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts)
    lines = [line.strip(" ") for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_to_html(text: str) -> str:
    """Plain text typed by staff as simple HTML paragraphs (escaped)."""
    from django.utils.html import escape

    paragraphs = re.split(r"\n\s*\n", (text or "").strip())
    return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


class _AttributeValues(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.values += [value for name, value in attrs if value and name != "style"]

    handle_startendtag = handle_starttag


def merge_texts(html: str) -> str:
    """Where merge codes of a formatted body may sit: its text and the values of its attributes
    (link targets, image sources, titles). The unknown-code check reads this, so a code typed in
    a link is refused at save time like one typed in the text."""
    parser = _AttributeValues()
    parser.feed(html or "")
    parser.close()
    return "\n".join([html_to_text(html), *parser.values])
