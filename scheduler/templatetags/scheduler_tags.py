from django import template

register = template.Library()


@register.filter
def pluriel(value, forms: str = "s") -> str:
    """French plural: "0 envoyé", "1 envoyé", "2 envoyés" (Django's pluralize puts an s on 0).
    ``forms`` is the plural suffix, or "plural,singular" for whole words ("seraient,serait")."""
    plural, _, singular = forms.partition(",")
    try:
        many = abs(int(value)) > 1
    except (TypeError, ValueError):
        many = len(value) > 1
    return plural if many else singular
