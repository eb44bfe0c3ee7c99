import re

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import ValidationError

from .npi import check_npi


class ResUsers(models.Model):
    """A clinician: the rendering provider named on superbills."""

    _inherit = "res.users"

    billing_npi = fields.Char(
        string="Clinician NPI", help="Individual (type 1) National Provider Identifier."
    )
    billing_license_number = fields.Char(string="License Number")
    billing_taxonomy_code = fields.Char(
        string="Taxonomy Code", help="NUCC provider taxonomy code, e.g. 101YM0800X."
    )
    billing_credentials = fields.Char(string="Credentials", help="e.g. LCSW, PsyD, LMFT.")

    def _billing_staff_of(self, company):
        """Those of these users who can take a practice's billing work: active internal
        users of ``company``, never the system user (nobody reads its activities)."""
        return self.filtered(
            lambda user: (
                user.active
                and not user.share
                and user.id != SUPERUSER_ID
                and company in user.company_ids
            )
        )

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
