from django import template

from patients.phones import format_fr

register = template.Library()


@register.filter
def phone_fr(value) -> str:
    """06.84.28.55.60"""
    return format_fr(value)
