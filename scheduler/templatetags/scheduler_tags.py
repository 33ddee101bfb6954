from django import template

register = template.Library()


@register.filter
def pluriel(value, suffix: str = "s") -> str:
    """French plural: "0 envoyé", "1 envoyé", "2 envoyés" (Django's pluralize puts an s on 0)."""
    try:
        return suffix if abs(int(value)) > 1 else ""
    except (TypeError, ValueError):
        return suffix if len(value) > 1 else ""
