from odoo import api, fields, models


class PracticeBillingPreview(models.TransientModel):
    """What the next scheduled run will bill, computed by the run's own code."""

    _name = "practice.billing.preview"
    _description = "Next Billing Run"

    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    cutoff = fields.Datetime(string="Sessions Before", readonly=True)
    invoice_date = fields.Date(readonly=True)
    line_ids = fields.One2many("practice.billing.preview.line", "preview_id", readonly=True)
    amount_total = fields.Monetary(compute="_compute_totals")
    session_count = fields.Integer(compute="_compute_totals")

    @api.depends("line_ids")
    def _compute_totals(self):
        for preview in self:
            preview.amount_total = sum(preview.line_ids.mapped("amount"))
            preview.session_count = sum(preview.line_ids.mapped("session_count"))

    @api.model
    def _create_for_next_run(self, now=None):
        """Preview the next scheduled period of the current practice."""
        company = self.env.company
        now = now or fields.Datetime.now()
        invoice_date = company._billing_period_start(now, upcoming=True)
        cutoff = company._billing_local_midnight(invoice_date)
        run = self.env["practice.billing.run"].new(
            {"company_id": company.id, "cutoff": cutoff, "invoice_date": invoice_date}
        )
        Session = self.env["calendar.event"]
        lines = []
        for client_id, session_ids in run._collect_due_sessions().items():
            sessions = Session.browse(session_ids)
            lines.append(
                {
                    "partner_id": client_id,
                    "session_ids": [(6, 0, session_ids)],
                    "session_count": len(session_ids),
                    "amount": sum(sessions.mapped("billing_amount")),
                }
            )
        return self.create(
            {
                "company_id": company.id,
                "cutoff": cutoff,
                "invoice_date": invoice_date,
                "line_ids": [(0, 0, vals) for vals in lines],
            }
        )

    @api.model
    def action_open_next_run(self):
        preview = self._create_for_next_run()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Next Billing Run"),
            "res_model": self._name,
            "res_id": preview.id,
            "view_mode": "form",
            "target": "current",
        }


class PracticeBillingPreviewLine(models.TransientModel):
    _name = "practice.billing.preview.line"
    _description = "Next Billing Run: Client"
    _order = "amount desc, id"

    preview_id = fields.Many2one("practice.billing.preview", required=True, ondelete="cascade")
    currency_id = fields.Many2one(related="preview_id.currency_id")
    partner_id = fields.Many2one("res.partner", string="Client", readonly=True)
    session_ids = fields.Many2many("calendar.event", string="Sessions", readonly=True)
    session_count = fields.Integer(string="Number of Sessions", readonly=True)
    amount = fields.Monetary(readonly=True)
