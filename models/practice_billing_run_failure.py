from odoo import fields, models


class PracticeBillingRunFailure(models.Model):
    """A client a billing run could not bill, and why."""

    _name = "practice.billing.run.failure"
    _description = "Billing Run Failure"
    _order = "id"

    run_id = fields.Many2one("practice.billing.run", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="run_id.company_id", store=True, index=True)
    partner_id = fields.Many2one("res.partner", string="Client", required=True)
    reason = fields.Text(required=True)
