from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date


class PracticeBillingGenerate(models.TransientModel):
    """Staff's "Generate billing documents": invoices, superbills and statements on demand."""

    _name = "practice.billing.generate"
    _description = "Generate Billing Documents"

    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    date_from = fields.Date(
        string="Period From",
        required=True,
        default=lambda self: self._default_date_until().replace(day=1) - relativedelta(months=1),
        help="First day of the superbills' period.",
    )
    date_until = fields.Date(
        string="Period To",
        required=True,
        default=lambda self: self._default_date_until(),
        help="Bill sessions up to the end of this day (practice time), never a session that "
        "has not started yet; superbills cover the period, statements are dated this day.",
    )
    invoice_date = fields.Date(required=True, default=fields.Date.context_today)
    partner_ids = fields.Many2many(
        "res.partner",
        string="Clients",
        help="Leave empty for every client concerned.",
    )
    generate_invoices = fields.Boolean(string="Invoices", default=True)
    generate_superbills = fields.Boolean(
        string="Superbills", help="For the chosen clients, or every client who needs them."
    )
    generate_statements = fields.Boolean(string="Statements")

    @api.model
    def _default_date_until(self):
        company = self.env.company
        return company._billing_local_date(fields.Datetime.now())

    def action_generate(self):
        """Create the chosen documents; open the billing run, or the documents made."""
        self.ensure_one()
        if self.date_from > self.date_until:
            raise UserError(self.env._("The period starts after it ends: check the two dates."))
        today = self.company_id._billing_local_date(fields.Datetime.now())
        if self.generate_statements and self.date_until > today:
            # The next statement starts the day after this one: dated ahead, it would state
            # a balance later payments make wrong and leave their lines on no statement.
            raise UserError(
                self.env._(
                    "Statements are dated %(date)s, after today (%(today)s): a statement says "
                    "what the client owes on its date. Choose today at the latest as the end "
                    "of the period.",
                    date=format_date(self.env, self.date_until),
                    today=format_date(self.env, today),
                )
            )
        if self.generate_superbills and not self.env["practice.superbill"].has_access("create"):
            raise UserError(
                self.env._(
                    "Superbills carry clients' diagnoses: only a Billing Manager can make them. "
                    "Untick Superbills, or ask a Billing Manager."
                )
            )
        run = self.env["practice.billing.run"].browse()
        if self.generate_invoices:
            run = (
                self.env["practice.billing.run"]
                .with_company(self.company_id)
                ._run_now("wizard", self._invoice_cutoff(), self.invoice_date, self.partner_ids)
            )
        superbills = self._generate_superbills() if self.generate_superbills else None
        statements = self._generate_statements() if self.generate_statements else None
        if run or not (superbills or statements):
            return run._action_open()
        documents = superbills or statements
        return {
            "type": "ir.actions.act_window",
            "name": documents._description,
            "res_model": documents._name,
            "view_mode": "list,form",
            "domain": [("id", "in", documents.ids)],
        }

    def _invoice_cutoff(self):
        """Sessions that started before this moment are billed: the end of the period's last
        day, or now when that is still to come. A session that has not happened has no
        attendance yet and would be billed as attended, then locked against the no-show or
        cancellation staff record when it comes (calendar.event._billing_fee_percent)."""
        end_of_period = self.company_id._billing_local_midnight(self.date_until + timedelta(days=1))
        return min(end_of_period, fields.Datetime.now())

    def _generate_superbills(self):
        return self.env["practice.superbill"]._issue(
            self.partner_ids, self.date_from, self.date_until, self.company_id
        )

    def _generate_statements(self):
        return self.env["practice.statement"]._issue(
            self.partner_ids, self.date_until, self.company_id
        )
