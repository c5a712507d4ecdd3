"""The form a customer adds a domain with."""
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal.forms import PortalForm


class DomainForm(PortalForm):
    # Longer than a name may be, so the service (not the field) says what is wrong with an over-long one.
    name = StringField(_l("Domain"), validators=[DataRequired(_l("Enter a domain name, such as blog.example.co.id.")),
                                             Length(max=400)],
                       render_kw={"placeholder": "blog.example.co.id", "autocomplete": "off", "spellcheck": "false",
                                  "autocapitalize": "none"})
