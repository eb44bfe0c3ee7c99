from datetime import timedelta

from odoo import api, fields, models


class PracticeBillingGenerate(models.TransientModel):
    """Staff's "Generate billing documents": bill a period for some or all clients."""

    _name = "practice.billing.generate"
    _description = "Generate Billing Documents"

    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    date_until = fields.Date(
        string="Sessions Up To",
        required=True,
        default=lambda self: self._default_date_until(),
        help="Bill sessions that took place up to the end of this day (practice time).",
    )
    invoice_date = fields.Date(required=True, default=fields.Date.context_today)
    partner_ids = fields.Many2many(
        "res.partner",
        string="Clients",
        help="Leave empty to bill every client with uninvoiced sessions.",
    )
    generate_invoices = fields.Boolean(string="Invoices", default=True)

    @api.model
    def _default_date_until(self):
        company = self.env.company
        return company._billing_local_date(fields.Datetime.now())

    def action_generate(self):
        """Run the billing engine for the chosen period and clients; open the run."""
        self.ensure_one()
        run = self.env["practice.billing.run"].browse()
        if self.generate_invoices:
            cutoff = self.company_id._billing_local_midnight(self.date_until + timedelta(days=1))
            run = (
                self.env["practice.billing.run"]
                .with_company(self.company_id)
                ._run_now("wizard", cutoff, self.invoice_date, self.partner_ids)
            )
        return run._action_open()
