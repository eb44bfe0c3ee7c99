import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

# ICD-10-CM: a letter, two characters, then optionally a dot and one to four more
# (F41.1, F32.1, F43.23, Z63.0). U is reserved for special use and not billable here.
ICD10_CM = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


class PracticeClientDiagnosis(models.Model):
    """A client's diagnosis: health information, for billing managers only."""

    _name = "practice.client.diagnosis"
    _description = "Client Diagnosis"
    _order = "partner_id, sequence, id"

    partner_id = fields.Many2one(
        "res.partner", string="Client", required=True, ondelete="cascade", index=True
    )
    # A diagnosis belongs to the practice that made it: another practice in the database
    # never sees it (company rule).
    company_id = fields.Many2one(
        "res.company",
        string="Practice",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    sequence = fields.Integer(default=10, help="The primary diagnosis comes first.")
    code = fields.Char(string="ICD-10-CM Code", required=True)
    description = fields.Char(required=True)
    date_start = fields.Date(
        string="Applies From",
        required=True,
        default=fields.Date.context_today,
        help="The diagnosis applies to sessions on or after this date.",
    )

    @api.depends("code", "description")
    def _compute_display_name(self):
        for diagnosis in self:
            diagnosis.display_name = f"{diagnosis.code} {diagnosis.description or ''}".strip()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("code"):
                vals["code"] = vals["code"].strip().upper()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("code"):
            vals["code"] = vals["code"].strip().upper()
        return super().write(vals)

    @api.constrains("code")
    def _check_code(self):
        for diagnosis in self:
            if not ICD10_CM.match(diagnosis.code or ""):
                raise ValidationError(
                    self.env._(
                        "“%(code)s” (diagnosis of %(client)s) is not an ICD-10-CM code. "
                        "Write it as a letter, two characters and, if needed, a dot and up to "
                        "four more, for example F41.1 or F43.23.",
                        code=diagnosis.code,
                        client=diagnosis.partner_id.display_name,
                    )
                )
