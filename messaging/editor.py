"""The rich-text editor of formatted email bodies and signatures.

django-prose-editor (MIT, maintained) ships ProseMirror/Tiptap as one ES module in its static
files: nothing comes from a CDN. The package's own presets load that module through an inline
``<script type="importmap">``, which the Content-Security-Policy (``script-src 'self'``, no inline
script) refuses; ``messaging/rich_editor.js`` imports the module by its relative path instead and
builds the editor with the formatting the HTML allow-list of ``messaging.html`` keeps (bold,
italics, underline, colours, lists, links, images, alignment), plus the merge-field picker.

What the editor produces is still cleaned on save (``messaging.html.clean_html``): the editor is a
convenience for staff, never a safety boundary.
"""

from __future__ import annotations

import json

from django import forms


class RichTextEditor(forms.Textarea):
    """A textarea that ``messaging/rich_editor.js`` replaces with the rich-text editor.

    The textarea stays in the form (hidden by the editor) and always holds the editor's HTML, so
    the form posts like a plain textarea and works the same if scripts fail to load. ``height`` is
    the editing area's minimum height in pixels. The merge-field picker's button appears in the
    editor's toolbar on pages that include the picker (``_merge_picker.html``)."""

    css = ("django_prose_editor/material-icons.css", "django_prose_editor/editor.css", "messaging/rich_editor.css")

    def __init__(self, attrs=None, *, height: int = 360):
        self.height = height
        super().__init__({"class": "merge-target", **(attrs or {})})

    @property
    def media(self):
        return forms.Media(
            css={"all": self.css},
            js=[forms.Script("messaging/rich_editor.js", type="module")],
        )

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-rich-editor"] = json.dumps({"height": self.height})
        return context

    def use_required_attribute(self, initial):
        # The editor hides the textarea: a browser refuses to submit a form whose required field
        # it cannot focus, without saying why. The server's "required" message says it instead.
        return False


class AdminRichTextEditor(RichTextEditor):
    """The same editor in the Django admin, with the package's styles for the admin's theme."""

    css = (*RichTextEditor.css[:2], "django_prose_editor/overrides.css", *RichTextEditor.css[2:])
