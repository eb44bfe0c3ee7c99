from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    billing_run_id = fields.Many2one(
        "practice.billing.run",
        string="Billing Run",
        copy=False,
        readonly=True,
        index="btree_not_null",
    )
