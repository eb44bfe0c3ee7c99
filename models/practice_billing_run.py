import logging
import time

from dateutil.relativedelta import relativedelta
from psycopg2.errors import LockNotAvailable, SerializationFailure

from odoo import Command, api, fields, models, modules
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL, config, split_every

_logger = logging.getLogger(__name__)

TRIGGERS = [("cron", "Scheduled"), ("manual", "Invoice now"), ("wizard", "Generate documents")]


class PracticeBillingRun(models.Model):
    """One execution of the billing engine, and the engine itself.

    The run bills every due session (started before ``cutoff``, billable, not on an
    invoice) with one invoice per client. Its steps are small hooks, in the order they run:
    ``_due_session_domain`` -> ``_collect_due_sessions`` -> ``_lock_due_sessions`` ->
    ``_prepare_invoice_vals`` / ``_prepare_invoice_line_vals`` -> ``_create_invoices`` ->
    ``_post_invoices``; an integrator overrides one step, not the run.
    """

    _name = "practice.billing.run"
    _description = "Billing Run"
    _order = "id desc"

    # Clients billed per transaction: one batched create/post, committed between batches.
    BATCH_SIZE = 250

    name = fields.Char(compute="_compute_name", store=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    trigger = fields.Selection(TRIGGERS, required=True, default="manual")
    cutoff = fields.Datetime(
        required=True,
        help="Sessions that started before this moment are billed.",
    )
    invoice_date = fields.Date(required=True)
    partner_ids = fields.Many2many(
        "res.partner",
        string="Only These Clients",
        help="Leave empty to bill every client with due sessions.",
    )
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("partial", "Done with failures"),
        ],
        default="running",
        required=True,
    )
    date_start = fields.Datetime(string="Started", default=fields.Datetime.now, readonly=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 1), readonly=True)
    invoice_ids = fields.One2many("account.move", "billing_run_id", string="Invoices")
    failure_ids = fields.One2many("practice.billing.run.failure", "run_id", string="Failures")
    invoice_count = fields.Integer(string="Invoices Created", compute="_compute_counts")
    client_count = fields.Integer(string="Clients Billed", compute="_compute_counts")
    session_count = fields.Integer(string="Sessions Billed", compute="_compute_counts")
    failure_count = fields.Integer(string="Failed Clients", compute="_compute_counts")
    amount_total = fields.Monetary(string="Amount Invoiced", compute="_compute_counts")

    @api.depends("invoice_date", "trigger")
    def _compute_name(self):
        labels = dict(TRIGGERS)
        for run in self:
            run.name = f"{run.invoice_date or ''} · {labels.get(run.trigger, '')}"

    @api.depends("invoice_ids", "failure_ids")
    def _compute_counts(self):
        for run in self:
            invoices = run.invoice_ids
            run.invoice_count = len(invoices)
            run.client_count = len(invoices.partner_id)
            run.session_count = len(invoices.invoice_line_ids.billing_session_ids)
            run.failure_count = len(run.failure_ids)
            run.amount_total = sum(invoices.mapped("amount_total_signed"))

    # ------------------------------------------------------------------ entry points
    @api.model
    def _cron_billing_run(self):
        """Scheduled job: bill each automatic practice once per period, in its local time."""
        now = fields.Datetime.now()
        # A system job: every practice of the database, whoever the cron's user is.
        Run = self.sudo()
        # Retry what failed in earlier executions, before this one adds new documents.
        for document_model in ("account.move", "practice.superbill", "practice.statement"):
            Run.env[document_model]._billing_retry_failed_deliveries()
        for company in Run.env["res.company"].search([("billing_auto_invoice", "=", True)]):
            Run.with_company(company)._run_due_period(company, now)

    @api.model
    def _run_due_period(self, company, now):
        """Bill ``company``'s period that ended at the latest boundary, unless already done.

        A period is marked done only when its run completes, so a run interrupted by a
        crash is run again by the next execution; sessions it billed are skipped then.
        """
        period_start = company._billing_period_start(now)
        cutoff = company._billing_local_midnight(period_start)
        if company.billing_last_cutoff and company.billing_last_cutoff >= cutoff:
            return self.browse()
        run = self.create(
            {
                "company_id": company.id,
                "trigger": "cron",
                "cutoff": cutoff,
                "invoice_date": period_start,
            }
        )
        run._execute()
        run._generate_monthly_documents(period_start)
        company.sudo().billing_last_cutoff = cutoff
        return run

    @api.model
    def _run_now(self, trigger, cutoff, invoice_date, partners=None):
        """Bill due sessions now, for staff (manual action, wizard)."""
        if not self.env.user.has_group("practice_billing.group_billing_user"):
            raise AccessError(self.env._("Only billing staff can bill clients."))
        run = (
            self.sudo()
            .with_company(self.env.company)
            .create(
                {
                    "trigger": trigger,
                    "cutoff": cutoff,
                    "invoice_date": invoice_date,
                    "partner_ids": [Command.set(partners.ids if partners else [])],
                }
            )
        )
        run._execute()
        return run.sudo(False)

    # ------------------------------------------------------------------ the run
    def _execute(self):
        """Bill every due session, client batch by client batch."""
        self.ensure_one()
        started = time.monotonic()
        sessions_by_client = self._collect_due_sessions()
        clients = list(sessions_by_client)
        done = 0
        for batch in split_every(self.BATCH_SIZE, clients):
            self._bill_batch({client: sessions_by_client[client] for client in batch})
            done += len(batch)
            self._commit_progress(done=done, remaining=len(clients) - done)
        self.write(
            {
                "state": "partial" if self.failure_ids else "done",
                "duration": time.monotonic() - started,
            }
        )
        _logger.info(
            "Billing run %s: %s invoices, %s failed clients", self.id, done, len(self.failure_ids)
        )

    def _generate_monthly_documents(self, period_start):
        """After the invoices, on the 1st: the month's superbills and statements, as the
        practice chose in Settings (daily practices get them on the 1st too)."""
        self.ensure_one()
        if period_start.day != 1:
            return
        if self.company_id.billing_auto_superbill:
            self._generate_superbills(period_start)
        if self.company_id.billing_auto_statement:
            self._generate_statements(period_start)

    def _generate_superbills(self, period_start):
        """Superbills of the month that just ended, for clients who need them."""
        return (
            self.env["practice.superbill"]
            .sudo()
            ._issue(
                None,
                period_start - relativedelta(months=1),
                period_start - relativedelta(days=1),
                self.company_id,
            )
        )

    def _generate_statements(self, period_start):
        """Statements dated the 1st, after this run's invoices (see practice.statement)."""
        return self.env["practice.statement"].sudo()._issue(None, period_start, self.company_id)

    def _due_session_domain(self):
        """Domain of the sessions this run bills. Override to narrow what is billed."""
        self.ensure_one()
        Session = self.env["calendar.event"]
        domain = expression.AND(
            [
                Session._billing_billable_domain(),
                Session._billing_not_invoiced_domain(),
                [
                    ("billing_company_id", "=", self.company_id.id),
                    ("start", "<", self.cutoff),
                ],
            ]
        )
        if self.partner_ids:
            domain = expression.AND([domain, [("billing_client_id", "in", self.partner_ids.ids)]])
        return domain

    def _collect_due_sessions(self):
        """Return {client id: [session ids]} of due sessions, clients in name order."""
        groups = (
            self.env["calendar.event"]
            .sudo()
            ._read_group(self._due_session_domain(), ["billing_client_id"], ["id:array_agg"])
        )
        groups.sort(key=lambda group: (group[0].name or "", group[0].id))
        return {client.id: sorted(session_ids) for client, session_ids in groups}

    def _bill_batch(self, batch):
        """Bill a batch of clients at once (if that fails, client by client), then deliver."""
        try:
            with self.env.cr.savepoint():
                invoices = self._bill_clients(batch)
        except Exception:  # one client's bad data must not block the others
            invoices = self.env["account.move"]
            for client_id, session_ids in batch.items():
                invoices |= self._bill_client_alone(client_id, session_ids)
        self._deliver_invoices(invoices)

    def _bill_client_alone(self, client_id, session_ids):
        try:
            with self.env.cr.savepoint():
                return self._bill_clients({client_id: session_ids})
        except Exception as error:  # recorded on the run; others go on
            self._record_failure(self.env["res.partner"].browse(client_id), error)
            return self.env["account.move"]

    def _deliver_invoices(self, invoices):
        """Send posted invoices by each client's delivery method (drafts wait for review)."""
        invoices.filtered(lambda m: m.state == "posted")._billing_deliver()

    def _bill_clients(self, batch):
        """Create (and post) one invoice per client of ``batch`` for its due sessions."""
        sessions = self._lock_due_sessions([sid for ids in batch.values() for sid in ids])
        sessions_by_client = sessions.grouped("billing_client_id")
        vals_list = []
        for client, client_sessions in sessions_by_client.items():
            client_sessions._billing_check_invoiceable()
            vals_list.append(self._prepare_invoice_vals(client, client_sessions))
        invoices = self._create_invoices(vals_list)
        self._link_sessions(invoices, sessions)
        self._post_invoices(invoices)
        return invoices

    def _lock_due_sessions(self, session_ids):
        """Lock the sessions about to be billed and return those still due under the lock.

        Rows another run holds are skipped (it is billing them); a row another run billed
        and committed since this transaction began raises a serialization failure. Either
        way no session is billed twice.
        """
        if not session_ids:
            return self.env["calendar.event"]
        self.env.cr.execute(
            SQL(
                "SELECT id FROM calendar_event WHERE id IN %s FOR UPDATE SKIP LOCKED",
                tuple(session_ids),
            )
        )
        locked_ids = [row[0] for row in self.env.cr.fetchall()]
        Session = self.env["calendar.event"].sudo()
        Session.invalidate_model()
        return Session.search(
            expression.AND([[("id", "in", locked_ids)], self._due_session_domain()]),
            order="start, id",
        )

    def _invoice_currency(self, client):
        """The client's invoicing currency: their pricelist's, as Odoo's sales would."""
        pricelist = client.with_company(self.company_id).property_product_pricelist
        return pricelist.currency_id or self.company_id.currency_id

    def _prepare_invoice_vals(self, client, sessions):
        """Values of the one invoice billing ``sessions`` of ``client``.

            Fiscal position follows the client, computed by Odoo itself; payment terms follow the
        client, else the practice (see _prepare_invoice_due_vals).
        """
        currency = self._invoice_currency(client)
        return {
            "move_type": "out_invoice",
            "partner_id": client.id,
            "company_id": self.company_id.id,
            "currency_id": currency.id,
            "invoice_date": self.invoice_date,
            **self._prepare_invoice_due_vals(client),
            "billing_run_id": self.id,
            "invoice_line_ids": [
                Command.create(self._prepare_invoice_line_vals(session, currency))
                for session in sessions
            ],
        }

    def _prepare_invoice_due_vals(self, client):
        """When the invoice is due: by the client's payment terms, else the practice's
        (Settings), counted from the invoice date (not from the day the run ran); without
        terms, on the invoice date."""
        terms = (
            client.with_company(self.company_id).property_payment_term_id
            or self.company_id.billing_payment_term_id
        )
        if terms:
            return {"invoice_payment_term_id": terms.id}
        return {"invoice_payment_term_id": False, "invoice_date_due": self.invoice_date}

    def _prepare_invoice_line_vals(self, session, currency):
        """Values of the invoice line billing ``session``, linked back to it."""
        amount = session.billing_currency_id._convert(
            session.billing_amount, currency, self.company_id, self.invoice_date
        )
        return {
            "billing_session_id": session.id,
            "product_id": session.billing_product_id.id,
            "name": session._billing_invoice_line_name(),
            "quantity": 1,
            "price_unit": amount,
        }

    def _create_invoices(self, vals_list):
        """Create the run's invoices in one batch."""
        return self.env["account.move"].sudo().with_company(self.company_id).create(vals_list)

    def _link_sessions(self, invoices, sessions):
        """Point each session at the invoice line that bills it (the line names its session,
        see _prepare_invoice_line_vals), in one statement. Every locked session must have
        exactly one line: otherwise nothing of the batch is billed."""
        lines = invoices.invoice_line_ids.filtered("billing_session_id")
        if lines.billing_session_id != sessions or len(lines) != len(sessions):
            unbilled = (sessions - lines.billing_session_id).billing_client_id
            raise UserError(
                self.env._(
                    "The invoices of this run do not bill each session exactly once (check "
                    "the overrides of _prepare_invoice_vals); nothing was billed for "
                    "%(clients)s.",
                    clients=", ".join((unbilled or invoices.partner_id).mapped("display_name")),
                )
            )
        lines._billing_link_sessions()

    def _post_invoices(self, invoices):
        """Post the invoices, unless the practice reviews them first."""
        if invoices and not self.company_id.billing_review_invoices:
            # Delivered once the batch is safely billed, see _deliver_invoices().
            invoices.with_context(billing_defer_delivery=True).action_post()

    # ------------------------------------------------------------------ failures
    def _record_failure(self, client, error):
        """Note why ``client`` was not billed and ask staff to fix it."""
        reason = self._failure_reason(error)
        _logger.warning("Billing run %s: client %s not billed: %s", self.id, client.id, reason)
        self.env["practice.billing.run.failure"].sudo().create(
            {"run_id": self.id, "partner_id": client.id, "reason": reason}
        )
        client._billing_schedule_activity(
            client,
            self.env._("Billing failed: fix and invoice again"),
            reason.splitlines(),
            self.company_id,
        )

    def _failure_reason(self, error):
        if isinstance(error, (SerializationFailure, LockNotAvailable)):
            return self.env._(
                "Another billing run was billing this client at the same time; nothing was "
                "billed twice. Run it again if sessions remain uninvoiced."
            )
        if isinstance(error, UserError):
            return error.args[0]
        return self.env._(
            "Unexpected error: %(error)s. Check the client's sessions and services, then use "
            "“Invoice uninvoiced sessions now”.",
            error=str(error) or type(error).__name__,
        )

    # ------------------------------------------------------------------ commits
    def _commit_progress(self, done, remaining):
        """Report progress and commit the batch, so a crash resumes without rebilling."""
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if self._can_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit
            # Committed records need not stay in memory: keeps a 5,000-client run small.
            self.env.invalidate_all()

    @api.model
    def _can_commit(self):
        # As account.move._can_commit, plus pytest-odoo's registry test mode, and never
        # while modules load (data files calling the run must stay in the install's
        # transaction).
        return not (
            config["test_enable"]
            or modules.module.current_test
            or self.env.registry.in_test_mode()
            or not self.env.registry.ready
        )

    # ------------------------------------------------------------------ views
    def _action_open(self):
        """Open this run's form (or the list of runs when there is none)."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_runs"
        )
        if self:
            action.update({"res_id": self.id, "view_mode": "form", "views": [(False, "form")]})
        return action

    def action_view_invoices(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        action["domain"] = [("billing_run_id", "=", self.id)]
        action["context"] = {"create": False}
        return action
