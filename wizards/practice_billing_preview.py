from odoo import Command, api, fields, models
from odoo.tools import format_amount, format_date

from ..models.practice_billing_run_plan import RunPlan

BILLING_MANAGER = "practice_billing.group_billing_manager"


class PracticeBillingPreview(models.TransientModel):
    """Billing > Next Run: what the next scheduled run will make, worked out by the run's
    own code (see RunPlan), and "Bill now"."""

    _name = "practice.billing.preview"
    _description = "Next Billing Run"

    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    auto_invoice = fields.Boolean(related="company_id.billing_auto_invoice")
    cutoff = fields.Datetime(string="Sessions Before", readonly=True)
    cutoff_text = fields.Char(string="Bills Sessions Before", compute="_compute_texts")
    invoice_date = fields.Date(string="Invoices Dated", readonly=True)
    is_due = fields.Boolean(
        readonly=True, help="The period has ended: the scheduled job bills it within the hour."
    )
    line_ids = fields.One2many("practice.billing.preview.line", "preview_id", readonly=True)
    client_count = fields.Integer(string="Invoices", readonly=True)
    session_count = fields.Integer(string="Sessions", readonly=True)
    amount_total = fields.Monetary(string="Amount", readonly=True)
    failure_count = fields.Integer(string="Clients Not Billed", readonly=True)
    superbill_count = fields.Integer(string="Superbills", readonly=True, groups=BILLING_MANAGER)
    superbill_incomplete_count = fields.Integer(
        string="Incomplete Superbills", readonly=True, groups=BILLING_MANAGER
    )
    statement_count = fields.Integer(string="Statements", readonly=True)
    summary_html = fields.Html(string="What It Makes", readonly=True, sanitize=False)
    # "Bill now": worked out when staff open the confirmation, the run it started.
    confirmation_message = fields.Text(compute="_compute_confirmation_message")
    bill_now_client_count = fields.Integer(compute="_compute_confirmation_message")
    run_id = fields.Many2one("practice.billing.run", string="Billed By", readonly=True)

    @api.depends("invoice_date", "cutoff", "company_id")
    def _compute_display_name(self):
        for preview in self:
            preview.display_name = self.env._(
                "Next Run: %(date)s", date=format_date(self.env, preview.invoice_date)
            )

    @api.depends("cutoff", "company_id")
    def _compute_texts(self):
        for preview in self:
            preview.cutoff_text = preview.company_id._billing_format_datetime(
                preview.cutoff, with_zone=True
            )

    # ------------------------------------------------------------------ the next run
    @api.model
    def _create_for_next_run(self, now=None):
        """Preview the next scheduled run of the current practice: the period that has
        ended if it has not been billed yet (the job bills it within the hour), else the
        coming one."""
        company = self.env.company
        now = now or fields.Datetime.now()
        Run = self.env["practice.billing.run"].sudo()
        invoice_date = company._billing_period_start(now)
        cutoff = company._billing_local_midnight(invoice_date)
        is_due = company.billing_auto_invoice and not Run._period_is_done(company, cutoff)
        if not is_due:
            invoice_date = company._billing_period_start(now, upcoming=True)
            cutoff = company._billing_local_midnight(invoice_date)
        run = Run.new(
            {
                "company_id": company.id,
                "cutoff": cutoff,
                "invoice_date": invoice_date,
                "trigger": "cron",
                **Run._monthly_document_vals(company, invoice_date),
            }
        )
        plan = RunPlan(run)
        return self.create(
            {
                "company_id": company.id,
                "cutoff": cutoff,
                "invoice_date": invoice_date,
                "is_due": is_due,
                **self._plan_vals(plan),
            }
        )

    def _plan_vals(self, plan):
        """The preview's figures and lines from ``plan``."""
        manager = self.env.user.has_group(BILLING_MANAGER)
        vals = {
            "client_count": len(plan.billed),
            "session_count": sum(len(invoice.sessions) for invoice in plan.billed),
            "amount_total": plan.amount_total,
            "failure_count": len(plan.failing),
            "statement_count": len(plan.statements),
            "summary_html": plan.render_summary(show_superbills=manager),
            "line_ids": [
                Command.create(
                    {
                        "partner_id": invoice.client.id,
                        "session_ids": [Command.set(invoice.sessions.ids)],
                        "session_count": len(invoice.sessions),
                        "amount": invoice.amount,
                        "delivery_method": invoice.method,
                        "problem": "\n".join(invoice.problems),
                    }
                )
                for invoice in plan.invoices
            ],
        }
        if manager:
            vals["superbill_count"] = len(plan.superbills)
            vals["superbill_incomplete_count"] = len(plan.incomplete_superbills)
        return vals

    @api.model
    def action_open_next_run(self):
        preview = self._create_for_next_run()
        return {
            "type": "ir.actions.act_window",
            "name": preview.display_name,
            "res_model": self._name,
            "res_id": preview.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    # ------------------------------------------------------------------ bill now
    def _bill_now_plan(self):
        """What "Bill now" bills at this moment (see _create_bill_now_run)."""
        self.ensure_one()
        Run = self.env["practice.billing.run"].sudo()
        now = fields.Datetime.now()
        cutoff, invoice_date, closes_period = Run._bill_now_period(self.company_id, now)
        vals = {"company_id": self.company_id.id, "cutoff": cutoff, "invoice_date": invoice_date}
        if closes_period:
            vals["closes_period"] = True
            vals.update(Run._monthly_document_vals(self.company_id, invoice_date))
        return RunPlan(Run.new(vals))

    @api.depends("company_id")
    def _compute_confirmation_message(self):
        for preview in self:
            plan = preview._bill_now_plan()
            preview.bill_now_client_count = len(plan.billed)
            preview.confirmation_message = preview._confirmation_text(plan)

    def _confirmation_text(self, plan):
        run = plan.run
        if not plan.billed:
            return self.env._(
                "There is nothing to bill now: no client has a session that started before "
                "%(cutoff)s and is not invoiced yet.",
                cutoff=self.company_id._billing_format_datetime(run.cutoff, with_zone=True),
            )
        # A payer's invoice may cover several clients (a parent of two): count both.
        clients = {s.billing_client_id for invoice in plan.billed for s in invoice.sessions}
        text = self.env._(
            "Bill %(clients)s clients for %(amount)s now: %(invoices)s dated %(date)s, "
            "for their %(sessions)s sessions that started before %(cutoff)s.",
            clients=len(clients),
            invoices=self.env._("one invoice")
            if len(plan.billed) == 1
            else self.env._("%(count)s invoices", count=len(plan.billed)),
            amount=format_amount(self.env, plan.amount_total, self.currency_id),
            date=format_date(self.env, run.invoice_date),
            sessions=sum(len(invoice.sessions) for invoice in plan.billed),
            cutoff=self.company_id._billing_format_datetime(run.cutoff, with_zone=True),
        )
        if plan.failing:
            text += " " + self.env._(
                "%(count)s more invoices cannot be made yet (see Not Billed).",
                count=len(plan.failing),
            )
        if run.closes_period:
            text += " " + self.env._(
                "This is the period's scheduled run (the scheduled job will not bill it again)."
            )
        if run.superbill_date_start and self.env.user.has_group(BILLING_MANAGER):
            text += " " + self.env._(
                "Then it issues %(count)s superbills.", count=len(plan.superbills)
            )
        if run.statement_date:
            text += " " + self.env._(
                "Then it issues %(count)s statements.", count=len(plan.statements)
            )
        return text + " " + self.env._("Invoices cannot be unbilled, only cancelled.")

    def action_confirm_bill_now(self):
        """Ask before billing: how many clients and how much, as of now."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Bill now?"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(self._bill_now_view().id, "form")],
            "target": "new",
        }

    def _bill_now_view(self):
        return self.env.ref("practice_billing.practice_billing_preview_view_form_bill_now")

    def action_bill_now(self):
        """Bill now, once: a second click (or a retried request) opens the run the first
        started. Sessions another run is billing at the same moment are skipped by the
        run's locks, never billed twice."""
        self.ensure_one()
        # Two clicks at once: the second waits here, then sees the first one's run.
        self.env.cr.execute(
            "SELECT id FROM practice_billing_preview WHERE id = %s FOR UPDATE", [self.id]
        )
        self.invalidate_recordset(["run_id"])
        if not self.run_id:
            run = self.env["practice.billing.run"]._create_bill_now_run(
                self.company_id, fields.Datetime.now()
            )
            # Recorded before the run commits its first batch: a second click waiting on
            # the lock above then finds it (its request is retried), never bills again.
            self.run_id = run.id
            if run.state == "queued" and not run.in_background:  # new, not under way
                run._start()
        return self.run_id._action_open()


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
    delivery_method = fields.Selection(
        selection="_delivery_method_selection", string="Sent By", readonly=True
    )
    problem = fields.Text(string="Not Billed Because", readonly=True)

    @api.model
    def _delivery_method_selection(self):
        return [
            *self.env["res.partner"]._billing_delivery_method_selection(),
            ("not_sent", self.env._("Not sent (review)")),
        ]
