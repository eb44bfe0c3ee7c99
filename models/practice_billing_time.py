"""Times as a practice reads them: in its own time zone, to the minute."""

import pytz

from odoo.tools.misc import get_lang


def format_practice_time(env, utc_dt, company, with_zone=False):
    """``utc_dt`` (naive UTC, as Odoo stores it) in the practice's time zone (its company
    contact's, else the user's) with the user's date and time formats, without seconds:
    "12/01/2026 00:00", or "12/01/2026 00:00 EST" ``with_zone``. Empty for no date."""
    if not utc_dt:
        return ""
    zone = pytz.timezone(company.partner_id.tz or env.user.tz or "UTC")
    local = pytz.utc.localize(utc_dt).astimezone(zone)
    lang = get_lang(env)
    time_format = lang.time_format.replace(":%S", "").replace("%S", "")
    text = local.strftime(f"{lang.date_format} {time_format}")
    return f"{text} {local.strftime('%Z')}" if with_zone else text
