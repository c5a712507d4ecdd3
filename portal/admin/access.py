"""Staff-only access: everyone else is told the page does not exist."""
import functools

from flask import abort
from flask_login import current_user


def staff_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not (current_user.is_authenticated and current_user.is_staff):
            abort(404)
        return view(*args, **kwargs)
    return wrapper
