from .models import Practice


def practice(request):
    """Expose the practice (name in the navbar, footer) to every template, lazily."""
    return {"practice": Practice.get}
