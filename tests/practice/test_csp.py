"""Content-Security-Policy: the header on every page, and no template relying on what it blocks."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    p for p in ROOT.glob("**/templates/**/*.html") if ".venv" not in p.parts and "node_modules" not in p.parts
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", re.I)


def test_templates_are_found():
    assert len(TEMPLATES) > 50


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_has_an_inline_script_a_handler_or_a_javascript_url(template):
    text = template.read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to a static file"
    assert not HANDLER.search(text), "on...= handler: use a data- attribute (static/js/ui.js) or a static script"
    assert not JS_URL.search(text), "javascript: URL"


@pytest.mark.django_db
def test_every_page_carries_the_policy(assistant_client, client):
    for response in (client.get("/connexion/"), assistant_client.get("/"), assistant_client.get("/patients/")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy or policy.endswith("script-src 'self'")
        assert "unsafe-inline" not in re.search(r"script-src ([^;]*)", policy).group(1)
        assert "default-src 'self'" in policy and "object-src 'none'" in policy
