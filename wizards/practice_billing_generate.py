from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date

from ..models.practice_billing_run_plan import RunPlan

BILLING_MANAGER = "practice_billing.group_billing_manager"


class PracticeBillingGenerate(models.TransientModel):
    """Staff's "Generate billing documents": invoices, superbills and statements on demand.

    The form says what it will make before it makes it (a summary worked out by the run's
    own code, see RunPlan); the billing run it starts then reports what it made."""

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
        # The practice's clients and their payers (as Billing > Clients lists them), not
        # every contact.
        domain=[
            "|",
            ("billing_session_ids.billing_product_id", "!=", False),
            ("billing_dependent_ids.billing_session_ids.billing_product_id", "!=", False),
        ],
        help="Leave empty for every client concerned. A client's invoice is their payer's: "
        "with one invoice per family, the family is billed together.",
    )
    generate_invoices = fields.Boolean(string="Invoices", default=True)
    generate_superbills = fields.Boolean(
        string="Superbills", help="For the chosen clients, or every client who needs them."
    )
    generate_statements = fields.Boolean(string="Statements")
    # Rendered by our own template, values escaped (see RunPlan.render_summary).
    summary_html = fields.Html(
        string="What It Will Make", compute="_compute_summary", sanitize=False
    )
    invoice_count = fields.Integer(string="Invoices To Make", compute="_compute_summary")
    superbill_count = fields.Integer(
        string="Superbills To Make", compute="_compute_summary", groups=BILLING_MANAGER
    )
    statement_count = fields.Integer(string="Statements To Make", compute="_compute_summary")

    @api.model
    def _default_date_until(self):
        company = self.env.company
        return company._billing_local_date(fields.Datetime.now())

    # ------------------------------------------------------------------ before
    @api.depends(
        "company_id",
        "date_from",
        "date_until",
        "invoice_date",
        "partner_ids",
        "generate_invoices",
        "generate_superbills",
        "generate_statements",
    )
    def _compute_summary(self):
        manager = self.env.user.has_group(BILLING_MANAGER)
        for wizard in self:
            wizard.invoice_count = wizard.statement_count = 0
            if manager:
                wizard.superbill_count = 0
            problem = wizard._input_problem()
            if problem:
                wizard.summary_html = self.env["ir.qweb"]._render(
                    "practice_billing.run_plan_problem", {"message": problem}
                )
                continue
            plan = RunPlan(self.env["practice.billing.run"].sudo().new(wizard._run_vals()))
            wizard.summary_html = plan.render_summary(show_superbills=manager)
            wizard.invoice_count = len(plan.billed)
            wizard.statement_count = len(plan.statements)
            if manager:
                wizard.superbill_count = len(plan.superbills)

    def _input_problem(self):
        """Why the wizard cannot generate as it is filled in, in words; else None."""
        if not (self.date_from and self.date_until and self.invoice_date and self.company_id):
            return self.env._("Fill in the period and the invoice date.")
        if self.generate_superbills and self.date_from > self.date_until:
            return self.env._("The period starts after it ends: check the two dates.")
        if not (self.generate_invoices or self.generate_superbills or self.generate_statements):
            return self.env._("Tick the documents to generate: invoices, superbills or statements.")
        if self.generate_superbills and not self.env["practice.superbill"].has_access("create"):
            return self.env._(
                "Superbills carry clients' diagnoses: only a Billing Manager can make them. "
                "Untick Superbills, or ask a Billing Manager."
            )
        today = self.company_id._billing_local_date(fields.Datetime.now())
        if self.generate_statements and self.date_until > today:
            # The next statement starts the day after this one: dated ahead, it would state
            # a balance later payments make wrong and leave their lines on no statement.
            return self.env._(
                "Statements are dated %(date)s, after today (%(today)s): a statement says "
                "what the client owes on its date. Choose today at the latest as the end "
                "of the period.",
                date=format_date(self.env, self.date_until),
                today=format_date(self.env, today),
            )
        return None

    def _run_vals(self):
        """The billing run that makes the chosen documents."""
        company = self.company_id
        vals = {
            "company_id": company.id,
            "trigger": "wizard",
            "cutoff": self._invoice_cutoff(),
            "invoice_date": self.invoice_date,
            "partner_ids": [Command.set(self.partner_ids._origin.ids)],
            "make_invoices": self.generate_invoices,
        }
        if self.generate_superbills:
            vals["superbill_date_start"] = self.date_from
            vals["superbill_date_end"] = self.date_until
        if self.generate_statements:
            vals["statement_date"] = self.date_until
        return vals

    def _invoice_cutoff(self):
        """Sessions that started before this moment are billed: the end of the period's last
        day, or now when that is still to come. A session that has not happened has no
        attendance yet and would be billed as attended, then locked against the no-show or
        cancellation staff record when it comes (calendar.event._billing_fee_percent)."""
        end_of_period = self.company_id._billing_local_midnight(self.date_until + timedelta(days=1))
        return min(end_of_period, fields.Datetime.now())

    # ------------------------------------------------------------------ generate
    def action_generate(self):
        """Make the chosen documents with a billing run (in the background when there are
        many clients) and open it: it reports what it made."""
        self.ensure_one()
        problem = self._input_problem()
        if problem:
            raise UserError(problem)
        vals = self._run_vals()
        documents = {
            key: vals[key]
            for key in (
                "make_invoices",
                "superbill_date_start",
                "superbill_date_end",
                "statement_date",
            )
            if key in vals
        }
        run = (
            self.env["practice.billing.run"]
            .with_company(self.company_id)
            ._run_now("wizard", vals["cutoff"], self.invoice_date, self.partner_ids, **documents)
        )
        return run._action_open()
