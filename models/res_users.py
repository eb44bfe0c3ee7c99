import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .npi import check_npi


class ResUsers(models.Model):
    """A clinician: the rendering provider named on superbills."""

    _inherit = "res.users"

    billing_npi = fields.Char(
        string="Clinician NPI", size=10, help="Individual (type 1) National Provider Identifier."
    )
    billing_license_number = fields.Char(string="License Number")
    billing_taxonomy_code = fields.Char(
        string="Taxonomy Code", size=10, help="NUCC provider taxonomy code, e.g. 101YM0800X."
    )
    billing_credentials = fields.Char(string="Credentials", help="e.g. LCSW, PsyD, LMFT.")

    @api.constrains("billing_npi")
    def _check_billing_npi(self):
        check_npi(self, "billing_npi", lambda user: user.name)

    @api.constrains("billing_taxonomy_code")
    def _check_billing_taxonomy_code(self):
        for user in self.filtered("billing_taxonomy_code"):
            if not re.fullmatch(r"[0-9]{3}[0-9A-Z]{6}X", user.billing_taxonomy_code):
                raise ValidationError(
                    self.env._(
                        "The taxonomy code %(code)s of %(user)s is not a NUCC code: ten "
                        "characters ending in X, such as 101YM0800X.",
                        code=user.billing_taxonomy_code,
                        user=user.name,
                    )
                )
