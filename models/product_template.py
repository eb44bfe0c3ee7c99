from odoo import fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    billing_cpt_code = fields.Char(
        string="CPT Code",
        help="Procedure code printed on invoices and superbills, e.g. 90837 for a "
        "53+ minute psychotherapy session.",
    )
