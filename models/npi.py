"""National Provider Identifier check digit (CMS: Luhn over the prefix 80840 + NPI)."""

import re

from odoo.exceptions import ValidationError


def is_valid_npi(npi):
    """Whether ``npi`` is ten digits whose last is the Luhn check digit of 80840 + the rest."""
    if not npi or not re.fullmatch(r"\d{10}", npi):
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    # Double every second digit from the right of the payload (the check digit excluded).
    for position, digit in enumerate(reversed(digits)):
        value = digit * 2 if position % 2 == 0 else digit
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10 == int(npi[9])


def check_npi(records, field_name, whose):
    """Raise a ValidationError naming the record if its NPI fails the check digit."""
    for record in records:
        npi = record[field_name]
        if npi and not is_valid_npi(npi):
            raise ValidationError(
                record.env._(
                    "The NPI %(npi)s of %(whose)s is not valid: an NPI has ten digits and its "
                    "last digit must match the official check digit. Check it against the "
                    "NPPES registry.",
                    npi=npi,
                    whose=whose(record),
                )
            )
