import contextlib
import logging
import time
from collections import defaultdict
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from psycopg2.errors import LockNotAvailable, SerializationFailure

from odoo import Command, api, fields, models, modules
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL, config, format_amount, split_every

BILLING_MANAGER = "practice_billing.group_billing_manager"

_logger = logging.getLogger(__name__)

TRIGGERS = [("cron", "Scheduled"), ("manual", "Manual"), ("wizard", "Generate")]
# A run reads as its outcome; "queued" and "running" are what staff see while it works.
RUN_STATES = [
    ("queued", "Waiting"),
    ("running", "Running"),
    ("done", "Done"),
    ("partial", "Done with failures"),
    ("failed", "Failed"),
]
# A run started from the screens with more clients than this goes to the background (see
# _start); ir.config_parameter practice_billing.background_clients overrides it.
BACKGROUND_CLIENTS = 50
# A background run that stopped this many times (the worker was killed) is given up.
MAX_ATTEMPTS = 3
# A run still "running" with no progress for this long was interrupted (see
# _fail_interrupted_runs): batches of BATCH_SIZE clients take seconds.
INTERRUPTED_AFTER = timedelta(hours=2)


class PracticeBillingRun(models.Model):
    """One execution of the billing engine, and the engine itself.

    A run bills every due session (started before ``cutoff``, billable, not on an invoice)
    with one invoice per payer (the client, or the responsible party who pays for them:
    per family or per client, as the practice chose), then, when asked, issues the
    superbills of a period and statements of a day. Its steps are small hooks, in the
    order they run:
    ``_due_session_domain`` -> ``_collect_due_sessions`` -> ``_lock_due_sessions`` ->
    ``_prepare_invoice_vals`` / ``_prepare_invoice_line_vals`` -> ``_create_invoices`` ->
    ``_post_invoices`` -> ``_link_sessions`` -> ``_deliver_invoices``, then
    ``_make_superbills`` and ``_make_statements``; an integrator overrides one step, not the
    run.

    A run is also its own background job: a large run started from the screens waits
    ("queued") for the background runs' scheduled action, which reports its progress here
    and tells the staff member who started it when it is done.
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
    user_id = fields.Many2one(
        "res.users",
        string="Started By",
        readonly=True,
        help="The staff member who started the run; they are told when it is done.",
    )
    cutoff = fields.Datetime(
        required=True,
        help="Sessions that started before this moment are billed.",
    )
    cutoff_text = fields.Char(string="Sessions Before", compute="_compute_local_times")
    invoice_date = fields.Date(required=True)
    partner_ids = fields.Many2many(
        "res.partner",
        string="Only These Clients",
        help="Leave empty to bill every client with due sessions. A chosen client is billed "
        "with the clients their payer pays for (one invoice per family), a chosen payer "
        "with the clients they pay for.",
    )
    make_invoices = fields.Boolean(
        string="Bill Sessions", default=True, help="Invoice the clients' due sessions."
    )
    closes_period = fields.Boolean(
        string="Scheduled Period",
        readonly=True,
        help="The run of the practice's billing period: once it is done, the scheduled job "
        "does not bill that period again.",
    )
    superbill_date_start = fields.Date(string="Superbills From", readonly=True)
    superbill_date_end = fields.Date(string="Superbills To", readonly=True)
    statement_date = fields.Date(string="Statements Dated", readonly=True)
    # "Waiting" until it starts: at once, or in the background (in_background).
    state = fields.Selection(RUN_STATES, default="queued", required=True)
    date_start = fields.Datetime(string="Started", default=fields.Datetime.now, readonly=True)
    date_start_text = fields.Char(string="Started At", compute="_compute_local_times")
    duration = fields.Float(string="Duration (s)", digits=(16, 1), readonly=True)
    invoice_ids = fields.One2many("account.move", "billing_run_id", string="Invoices")
    failure_ids = fields.One2many("practice.billing.run.failure", "run_id", string="Failures")
    # Superbills carry diagnoses: the list is for Billing Managers; the count is not.
    superbill_ids = fields.Many2many(
        "practice.superbill", string="Superbills", readonly=True, groups=BILLING_MANAGER
    )
    statement_ids = fields.Many2many("practice.statement", string="Statements", readonly=True)
    superbill_count = fields.Integer(string="Superbills Made", readonly=True)
    statement_count = fields.Integer(string="Statements Made", readonly=True)
    invoice_count = fields.Integer(string="Invoices Made", compute="_compute_counts")
    client_count = fields.Integer(string="Clients Billed", compute="_compute_counts")
    session_count = fields.Integer(string="Sessions Billed", compute="_compute_counts")
    failure_count = fields.Integer(string="Clients Not Billed", compute="_compute_counts")
    amount_total = fields.Monetary(string="Amount Invoiced", compute="_compute_counts")
    in_background = fields.Boolean(readonly=True)
    attempt_count = fields.Integer(readonly=True)
    progress_done = fields.Integer(readonly=True)
    progress_total = fields.Integer(readonly=True)
    progress = fields.Float(compute="_compute_progress")
    error = fields.Text(string="What Went Wrong", readonly=True)

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
            # The clients whose sessions were billed (a parent's invoice bills their children).
            run.client_count = len(invoices.invoice_line_ids.billing_session_ids.billing_client_id)
            run.session_count = len(invoices.invoice_line_ids.billing_session_ids)
            run.failure_count = len(run.failure_ids)
            run.amount_total = sum(invoices.mapped("amount_total_signed"))

    @api.depends("cutoff", "date_start", "company_id")
    def _compute_local_times(self):
        for run in self:
            run.cutoff_text = run._local_time_text(run.cutoff)
            run.date_start_text = run._local_time_text(run.date_start)

    @api.depends("progress_done", "progress_total")
    def _compute_progress(self):
        for run in self:
            total = run.progress_total
            run.progress = 100.0 * min(run.progress_done, total) / total if total else 0.0

    def _local_time_text(self, utc_dt):
        """``utc_dt`` as the practice reads it: its time zone, the user's date format, no
        seconds ("12/01/2026 00:00")."""
        return (self.company_id or self.env.company)._billing_format_datetime(utc_dt)

    # ------------------------------------------------------------------ entry points
    @api.model
    def _cron_billing_run(self):
        """Scheduled job: bill each automatic practice once per period, in its local time."""
        now = fields.Datetime.now()
        # A system job: every practice of the database, whoever the cron's user is.
        Run = self.sudo()
        Run._fail_interrupted_runs(now)
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
        run = self._create_period_run(company, now, "cron")
        if run:
            run._execute()
        return run

    @api.model
    def _create_period_run(self, company, now, trigger):
        """A new run of ``company``'s period ended at the latest boundary, or none when that
        period is billed or a run of it is under way."""
        period_start = company._billing_period_start(now)
        cutoff = company._billing_local_midnight(period_start)
        if self._period_is_done(company, cutoff) or self._period_run_in_progress(company, cutoff):
            return self.browse()
        return self.create(
            {
                "company_id": company.id,
                "trigger": trigger,
                "cutoff": cutoff,
                "invoice_date": period_start,
                "closes_period": True,
                "user_id": self.env.uid if trigger != "cron" else False,
                **self._monthly_document_vals(company, period_start),
            }
        )

    @api.model
    def _period_is_done(self, company, cutoff):
        return bool(company.billing_last_cutoff and company.billing_last_cutoff >= cutoff)

    @api.model
    def _period_run_in_progress(self, company, cutoff):
        """The run of the period that staff started and that waits in the background or
        works (and has made progress lately): it is the period's run. (A scheduled run
        found running was interrupted: the job runs one at a time.)"""
        return self.search(
            [
                ("company_id", "=", company.id),
                ("closes_period", "=", True),
                ("cutoff", "=", cutoff),
                ("trigger", "!=", "cron"),
                "|",
                ("state", "=", "queued"),
                "&",
                ("state", "=", "running"),
                ("write_date", ">=", fields.Datetime.now() - INTERRUPTED_AFTER),
            ],
            limit=1,
        )

    @api.model
    def _monthly_document_vals(self, company, period_start):
        """On the 1st, after the invoices: the month's superbills and statements, as the
        practice chose in Settings (daily practices get them on the 1st too)."""
        if period_start.day != 1:
            return {}
        vals = {}
        if company.billing_auto_superbill:
            vals["superbill_date_start"] = period_start - relativedelta(months=1)
            vals["superbill_date_end"] = period_start - relativedelta(days=1)
        if company.billing_auto_statement:
            vals["statement_date"] = period_start
        return vals

    @api.model
    def _run_now(self, trigger, cutoff, invoice_date, partners=None, **documents):
        """Bill due sessions now, for staff (manual action, wizard), and make the
        ``documents`` asked for (``superbill_date_start``/``_end``, ``statement_date``,
        ``make_invoices``). A large run goes to the background (see _start)."""
        run = self._create_staff_run(trigger, cutoff, invoice_date, partners, **documents)
        busy = run._refuse_when_billed_elsewhere()
        run._start()
        # The run's form then says whose sessions another run was billing (see _action_open).
        return run.sudo(False).with_context(billing_busy_client_ids=busy.ids)

    def _refuse_when_billed_elsewhere(self):
        """The clients of this staff run whose due sessions another run is billing right now
        (their rows are locked: the scheduled run mid-batch, a colleague's click): that run
        bills them, this one leaves them. Raise a UserError saying so when it would bill
        nothing else: staff get "billing is in progress", never an empty run or a
        database error.

        The free sessions stay locked by this transaction, which bills them next."""
        self.ensure_one()
        Session = self.env["calendar.event"].sudo()
        due = [sid for ids in self._collect_due_sessions().values() for sid in ids]
        if not (self.make_invoices and due):
            return Session.billing_client_id
        self.env.cr.execute(
            SQL("SELECT id FROM calendar_event WHERE id IN %s FOR UPDATE SKIP LOCKED", tuple(due))
        )
        free = {row[0] for row in self.env.cr.fetchall()}
        busy = Session.browse(sorted(set(due) - free)).billing_client_id.sorted("name")
        if busy and not free and not (self.superbill_date_start or self.statement_date):
            raise UserError(
                self.env._(
                    "Billing is in progress for %(clients)s: another billing run is invoicing "
                    "their sessions right now. Try again in a minute; nothing will be billed "
                    "twice.",
                    clients=", ".join(busy.mapped("display_name")),
                )
            )
        return busy.with_env(self.env)

    @api.model
    def _create_staff_run(self, trigger, cutoff, invoice_date, partners=None, **documents):
        self._check_billing_staff()
        return (
            self.sudo()
            .with_company(self.env.company)
            .create(
                {
                    "trigger": trigger,
                    "cutoff": cutoff,
                    "invoice_date": invoice_date,
                    "partner_ids": [Command.set(partners.ids if partners else [])],
                    "user_id": self.env.uid,
                    **documents,
                }
            )
        )

    @api.model
    def _check_billing_staff(self):
        if not self.env.user.has_group("practice_billing.group_billing_user"):
            raise AccessError(self.env._("Only billing staff can bill clients."))

    @api.model
    def _create_bill_now_run(self, company, now):
        """The run of staff's "Bill now" (Next Run), not started yet (see _start).

        When the period has ended and is not billed yet, it is the period's scheduled run,
        with its superbills and statements (the job then leaves the period alone); if a
        run of it is under way already, that run. Otherwise the sessions that have
        happened, billed today. Either way the run's locks bill each session once,
        whatever runs at the same time."""
        self._check_billing_staff()
        Run = self.sudo().with_company(company)
        cutoff, invoice_date, closes_period = self._bill_now_period(company, now)
        if closes_period:
            run = Run._period_run_in_progress(company, cutoff) or Run._create_period_run(
                company, now, "manual"
            )
            if run:
                return run
        return self.with_company(company)._create_staff_run("manual", cutoff, invoice_date)

    @api.model
    def _bill_now_period(self, company, now):
        """(cutoff, invoice date, whether it is the scheduled period) of "Bill now"."""
        period_start = company._billing_period_start(now)
        cutoff = company._billing_local_midnight(period_start)
        if company.billing_auto_invoice and not self._period_is_done(company, cutoff):
            return cutoff, period_start, True
        return now, company._billing_local_date(now), False

    # ------------------------------------------------------------------ the run
    def _start(self):
        """Do the run now, or queue it for the background when it is large: a browser
        must not wait for hundreds of clients (nor time out while it bills them)."""
        self.ensure_one()
        if self._runs_in_background():
            self.write({"state": "queued", "in_background": True})
            self.env.ref("practice_billing.ir_cron_billing_background_runs")._trigger()
        else:
            self._execute()

    def _runs_in_background(self):
        """Whether this run has more clients than a request should bill (never while the
        module loads: data files run their runs at once)."""
        if not self.env.registry.ready:
            return False
        return self._workload() > self._background_threshold()

    @api.model
    def _background_threshold(self):
        value = (
            self.env["ir.config_parameter"].sudo().get_param("practice_billing.background_clients")
        )
        return int(value) if value and value.isdigit() else BACKGROUND_CLIENTS

    def _workload(self):
        """How many clients the run works for: billed, given a superbill, a statement."""
        self.ensure_one()
        count = len(self._collect_due_sessions()) if self.make_invoices else 0
        if self.superbill_date_start:
            count += len(self._superbill_clients())
        if self.statement_date:
            count += len(self._statement_clients())
        return count

    def _execute(self):
        """Make what the run is for: the invoices, then superbills, then statements."""
        self.ensure_one()
        started = time.monotonic()
        self.write({"state": "running", "progress_done": 0, "progress_total": self._workload()})
        if self.make_invoices:
            self._bill_due_sessions()
        if self.superbill_date_start:
            self._make_superbills()
        if self.statement_date:
            self._make_statements()
        self._finish(time.monotonic() - started)

    def _finish(self, duration):
        self.write(
            {
                "state": "partial" if self.failure_ids else "done",
                "duration": duration,
                "progress_done": self.progress_total,
            }
        )
        if self.closes_period and not self._left_to_another_run():
            company = self.company_id.sudo()
            if not self._period_is_done(company, self.cutoff):
                company.billing_last_cutoff = self.cutoff
        _logger.info(
            "Billing run %s: %s invoices, %s superbills, %s statements, %s failed clients",
            self.id,
            len(self.invoice_ids),
            self.superbill_count,
            self.statement_count,
            len(self.failure_ids),
        )

    def _left_to_another_run(self):
        """Whether sessions this run found due are still due for payers it did not fail:
        another run was billing them at the same time (their rows were locked). That run
        marks the period done, or the next execution bills what is left."""
        payers = {payer_id for payer_id, _client_id in self._collect_due_sessions()}
        return bool(payers - set(self.failure_ids.partner_id.ids))

    def _bill_due_sessions(self):
        """Bill every due session, batch by batch of invoices (see _collect_due_sessions)."""
        sessions_by_group = self._collect_due_sessions()
        groups = list(sessions_by_group)
        remaining = len(groups)
        for batch in split_every(self.BATCH_SIZE, groups):
            self._bill_batch({group: sessions_by_group[group] for group in batch})
            remaining -= len(batch)
            self._commit_batch(done=len(batch), remaining=remaining)

    def _superbill_clients(self):
        """The clients to consider for the run's superbills: those chosen, else everyone
        who needs superbills."""
        Superbill = self._document_model("practice.superbill")
        return self.partner_ids._origin or Superbill._clients_to_issue(self.company_id)

    def _statement_clients(self):
        """The clients to consider for the run's statements: those chosen and who pays for
        them (a statement is of what its partner owes), else every client and payer with a
        receivable history (this run's invoices included)."""
        Statement = self._document_model("practice.statement")
        if chosen := self.partner_ids._origin:
            return chosen | chosen.sudo().billing_responsible_id.with_env(chosen.env)
        return Statement._clients_to_issue(self.company_id)

    def _make_superbills(self):
        """The period's superbills, client batch by client batch (see practice.superbill)."""
        Superbill = self._document_model("practice.superbill")
        clients = self._superbill_clients()
        remaining = len(clients)
        for batch in split_every(self.BATCH_SIZE, clients.ids, clients.browse):
            made = Superbill._issue(
                batch, self.superbill_date_start, self.superbill_date_end, self.company_id
            )
            remaining -= len(batch)
            self.write(
                {
                    "superbill_ids": [Command.link(superbill_id) for superbill_id in made.ids],
                    "superbill_count": self.superbill_count + len(made),
                }
            )
            self._commit_batch(done=len(batch), remaining=remaining)

    def _make_statements(self):
        """Statements of the day, client batch by client batch, after this run's invoices
        (see practice.statement)."""
        Statement = self._document_model("practice.statement")
        clients = self._statement_clients()
        remaining = len(clients)
        for batch in split_every(self.BATCH_SIZE, clients.ids, clients.browse):
            made = Statement._issue(batch, self.statement_date, self.company_id)
            remaining -= len(batch)
            self.write(
                {
                    "statement_ids": [Command.link(statement_id) for statement_id in made.ids],
                    "statement_count": self.statement_count + len(made),
                }
            )
            self._commit_batch(done=len(batch), remaining=remaining)

    def _document_model(self, model):
        """``model`` as whoever makes the run's superbills and statements, in the run's
        practice: the system for the run of a period (whoever started it); otherwise the
        staff member who started it, with their own access (superbills carry diagnoses:
        Billing Managers only)."""
        if self.closes_period or not self.user_id:
            return self.env[model].sudo().with_company(self.company_id)
        return self.env[model].with_user(self.user_id).with_company(self.company_id)

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
        # _origin: a run worked out before it exists (RunPlan) holds its clients as new
        # records.
        if chosen := self.partner_ids._origin:
            clients = self._clients_billed_with(chosen)
            domain = expression.AND([domain, [("billing_client_id", "in", clients.ids)]])
        return domain

    def _clients_billed_with(self, partners):
        """The clients whose sessions a run for ``partners`` bills: theirs and those they
        pay for; with one invoice per family, also the rest of each one's family (the other
        clients their payer pays for, and the payer's own sessions), so that invoicing one
        child now never splits the family's invoice by accident."""
        partners = partners.sudo()
        clients = partners | partners.billing_dependent_ids
        if self._invoice_grouping() == "family":
            payers = partners | partners.billing_responsible_id
            clients |= payers | payers.billing_dependent_ids
        return clients

    def _invoice_grouping(self):
        """ "family" (one invoice per payer, for every client they pay for) or "client"
        (one invoice per client, to whoever pays), as the practice chose in Settings."""
        return self.company_id.sudo().billing_invoice_grouping or "family"

    def _invoice_group(self, client):
        """The invoice ``client``'s due sessions go on, as (payer id, client id): the payer
        is their responsible party, else the client; the client id is 0 when the practice
        bills a family on one invoice."""
        payer = client.sudo()._billing_payer()
        return (payer.id, client.id if self._invoice_grouping() == "client" else 0)

    def _collect_due_sessions(self):
        """Return {(payer id, client id): [session ids]} of due sessions: one entry per
        invoice the run makes (see _invoice_group), in the payers' then the clients' name
        order."""
        groups = (
            self.env["calendar.event"]
            .sudo()
            ._read_group(self._due_session_domain(), ["billing_client_id"], ["id:array_agg"])
        )
        by_group = defaultdict(list)
        for client, session_ids in groups:
            by_group[self._invoice_group(client)].extend(session_ids)
        # Names read at once (one query, not one per client of a large run).
        people = (
            self.env["res.partner"]
            .sudo()
            .browse({pid for group in by_group for pid in group if pid})
        )
        names = {person.id: person.name or "" for person in people}

        def name_order(group):
            payer_id, client_id = group
            return (names.get(payer_id, ""), payer_id, names.get(client_id, ""), client_id)

        return {group: sorted(by_group[group]) for group in sorted(by_group, key=name_order)}

    def _bill_batch(self, batch):
        """Bill a batch of invoices at once (if that fails, one by one), then deliver.
        Payers who must not be invoiced (a minor with nobody to pay) are recorded first."""
        batch = self._refuse_unbillable_groups(batch)
        try:
            with self.env.cr.savepoint():
                invoices = self._bill_clients(batch)
        except Exception:  # one client's bad data must not block the others
            invoices = self.env["account.move"]
            for group, session_ids in batch.items():
                invoices |= self._bill_group_alone(group, session_ids)
        self._deliver_invoices(invoices)

    def _refuse_unbillable_groups(self, batch):
        """``batch`` without the invoices that must not be made (see _check_bill_to), each
        recorded as a failure."""
        Session = self.env["calendar.event"].sudo()
        # Read what the checks need for the whole batch at once (then from the cache).
        sessions = Session.browse([sid for ids in batch.values() for sid in ids])
        people = sessions.billing_client_id | sessions.billing_client_id.billing_responsible_id
        people.mapped("billing_birthdate")
        billable = {}
        for group, session_ids in batch.items():
            sessions = Session.browse(session_ids)
            payer = self.env["res.partner"].browse(group[0])
            try:
                self._check_bill_to(payer, sessions)
            except UserError as error:
                self._record_failure(payer, error, sessions.billing_client_id)
                continue
            billable[group] = session_ids
        return billable

    def _check_bill_to(self, payer, sessions):
        """Raise a UserError naming the fix when ``payer`` must not be invoiced for
        ``sessions``: never a silent invoice to a child (a minor at the invoice date with no
        responsible party)."""
        for client in (payer | sessions.billing_client_id).sudo():
            if problem := client._billing_minor_without_payer(self.invoice_date):
                raise UserError(problem)

    def _bill_group_alone(self, group, session_ids):
        try:
            with self.env.cr.savepoint():
                return self._bill_clients({group: session_ids})
        except Exception as error:  # recorded on the run; others go on
            clients = self.env["calendar.event"].sudo().browse(session_ids).billing_client_id
            self._record_failure(self.env["res.partner"].browse(group[0]), error, clients)
            return self.env["account.move"]

    def _deliver_invoices(self, invoices):
        """Send posted invoices by each payer's delivery method (drafts wait for review)."""
        invoices.filtered(lambda m: m.state == "posted")._billing_deliver()

    def _bill_clients(self, batch):
        """Create (and post) one invoice per payer (or per client, see _invoice_group) of
        ``batch`` for its due sessions. Sessions are grouped again once locked: a client
        whose responsible party changed since they were collected goes to the new one."""
        sessions = self._lock_due_sessions([sid for ids in batch.values() for sid in ids])
        sessions_by_group = sessions.grouped(lambda s: self._invoice_group(s.billing_client_id))
        payer_of = self._payers_of(sessions_by_group)
        vals_list = []
        for (payer_id, _client_id), group_sessions in sessions_by_group.items():
            payer = payer_of(payer_id)
            group_sessions._billing_check_invoiceable()
            self._check_bill_to(payer, group_sessions)
            vals_list.append(self._prepare_invoice_vals(payer, group_sessions))
        invoices = self._create_invoices(vals_list)
        self._link_sessions(invoices, sessions)
        self._post_invoices(invoices)
        return invoices

    def _payers_of(self, groups):
        """A function giving the payer of each ``(payer id, client id)`` key of ``groups``,
        the payers read together (their pricelists, names): one query for all, not a few per
        invoice. The run and its plan (RunPlan) both read payers so."""
        Partner = self.env["res.partner"].sudo()
        payers = Partner.browse([payer_id for payer_id, _client_id in groups])
        return lambda payer_id: payers.browse(payer_id).with_prefetch(payers._prefetch_ids)

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
        """Values of the one invoice to ``client``, the payer, billing ``sessions`` (theirs
        and those of the clients they pay for).

        Fiscal position follows the payer, computed by Odoo itself; payment terms follow the
        payer, else the practice (see _prepare_invoice_due_vals). When the invoice bills
        anyone else's sessions, every line names its client.
        """
        currency = self._invoice_currency(client)
        name_clients = sessions.billing_client_id != client
        return {
            "move_type": "out_invoice",
            "partner_id": client.id,
            "company_id": self.company_id.id,
            "currency_id": currency.id,
            "invoice_date": self.invoice_date,
            **self._prepare_invoice_due_vals(client),
            "billing_run_id": self.id,
            "invoice_line_ids": [
                Command.create(
                    self._prepare_invoice_line_vals(session, currency, name_client=name_clients)
                )
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

    def _prepare_invoice_line_vals(self, session, currency, name_client=False):
        """Values of the invoice line billing ``session``, linked back to it; the line
        names the session's client when ``name_client``."""
        amount = session.billing_currency_id._convert(
            session.billing_amount, currency, self.company_id, self.invoice_date
        )
        return {
            "billing_session_id": session.id,
            "product_id": session.billing_product_id.id,
            "name": session._billing_invoice_line_name(with_client=name_client),
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
    def _record_failure(self, client, error, clients=None):
        """Note why ``client`` (the payer) was not billed for ``clients``' sessions (default:
        their own) and ask staff to fix it."""
        reason = self._failure_reason(error)
        others = (clients or client) - client
        if others:
            reason = self.env._(
                "Not billed: the sessions of %(clients)s, paid by %(payer)s.\n%(reason)s",
                clients=", ".join((clients or client).sorted("name").mapped("display_name")),
                payer=client.display_name,
                reason=reason,
            )
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
    def _commit_batch(self, done, remaining):
        """Count ``done`` more clients of the current step (``remaining`` to go), report the
        run's progress (Odoo 18's ir.cron._notify_progress) and commit the batch, so a crash
        resumes without rebilling. Named apart from Odoo 19's ir.cron._commit_progress,
        which 18.0 does not have."""
        progress_done = self.progress_done + done
        self.write(
            {
                "progress_done": progress_done,
                "progress_total": max(self.progress_total, progress_done + remaining),
            }
        )
        self.env["ir.cron"]._notify_progress(
            done=progress_done, remaining=max(self.progress_total - progress_done, 0)
        )
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

    # ------------------------------------------------------------------ background
    @api.model
    def _cron_run_in_background(self):
        """Scheduled action "Practice Billing: background runs": the large runs staff
        started, oldest first, one per call (ir.cron calls again while some remain).

        A run found "running" was stopped mid-way (a killed worker): it resumes, billing
        only what is still due, a few times at most."""
        runs = self.sudo().search(
            [("in_background", "=", True), ("state", "in", ("queued", "running"))], order="id"
        )
        if runs:
            runs[0]._run_in_background()
        self.env["ir.cron"]._notify_progress(done=len(runs[:1]), remaining=len(runs[1:]))

    def _run_in_background(self):
        """Do this queued run, as its own job: a failure fails this run only, and the
        staff member who started it is told how it went."""
        self.ensure_one()
        self.attempt_count += 1
        if self.attempt_count > MAX_ATTEMPTS:
            self._fail(
                self.env._(
                    "The run stopped %(count)s times before it finished (the server was "
                    "restarted, or ran out of time or memory). Nothing was billed twice; "
                    "start it again, or let the next scheduled run bill what is left.",
                    count=MAX_ATTEMPTS,
                )
            )
        else:
            self._execute_or_fail()
        self._notify_requester()
        if self._can_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _execute_or_fail(self):
        """Execute the run; if it breaks, undo what was not committed and mark it failed."""
        committing = self._can_commit()
        if committing:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        try:
            with contextlib.nullcontext() if committing else self.env.cr.savepoint():
                self._execute()
        except Exception as error:  # the run fails, the job goes on with the next one
            _logger.exception("Billing run %s failed", self.id)
            if committing:
                self.env.cr.rollback()
            self._fail(self._failure_reason(error))

    def _fail(self, reason):
        self.write({"state": "failed", "error": reason})

    @api.model
    def _fail_interrupted_runs(self, now):
        """Runs still "running" that were interrupted (the server stopped, a request timed
        out) say so instead of "Running" forever: the scheduled job's own earlier runs
        (it runs one at a time), and staff's long after their last progress. Runs in the
        background resume by themselves (see _cron_run_in_background)."""
        self.search(
            [
                ("state", "=", "running"),
                ("in_background", "=", False),
                "|",
                ("trigger", "=", "cron"),
                ("write_date", "<", now - INTERRUPTED_AFTER),
            ]
        )._fail(
            self.env._(
                "Interrupted before it finished (the server stopped or the request timed "
                "out). Nothing was billed twice: what it did not bill is billed by the next "
                "run."
            )
        )

    def _notify_requester(self):
        """Tell the staff member who started this run how it went, with a button to it."""
        if not self.user_id:
            return
        self.user_id.partner_id._bus_send(
            "account_notification",
            {
                "type": {"done": "success", "partial": "warning"}.get(self.state, "danger"),
                "title": self.env._("Billing run: %(state)s", state=self._state_label()),
                "message": self._outcome_text(),
                "sticky": True,
                "action_button": {
                    "name": self.env._("Open the run"),
                    "action_name": self.env._("Billing Run"),
                    "model": self._name,
                    "res_ids": self.ids,
                },
            },
        )

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _outcome_text(self):
        """What the run made, in one line ("Invoices: 12 ($1,800.00), superbills: 3,
        statements: 12. 1 client could not be billed: see the run.")."""
        self.ensure_one()
        if self.state == "failed":
            return self.error or ""
        made = [
            self.env._(
                "Invoices: %(count)s (%(amount)s)",
                count=self.invoice_count,
                amount=format_amount(self.env, self.amount_total, self.currency_id),
            )
        ]
        if self.superbill_date_start:
            made.append(self.env._("superbills: %(count)s", count=self.superbill_count))
        if self.statement_date:
            made.append(self.env._("statements: %(count)s", count=self.statement_count))
        text = ", ".join(made) + "."
        if self.failure_count:
            text += " " + self.env._(
                "Clients not billed: %(count)s (see the run).", count=self.failure_count
            )
        return text

    # ------------------------------------------------------------------ views
    def _action_open(self):
        """Open this run's form (or the list of runs when there is none)."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_runs"
        )
        if self:
            action.update({"res_id": self.id, "view_mode": "form", "views": [(False, "form")]})
        busy = self.env["res.partner"].browse(self.env.context.get("billing_busy_client_ids"))
        if busy:
            return self._busy_notification(busy, action)
        return action

    def _busy_notification(self, busy, action):
        """A notice naming the ``busy`` clients this run left to another one billing them at
        the same time, then ``action`` (the run's form)."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning",
                "sticky": True,
                "message": self.env._(
                    "Billing is in progress for %(clients)s: another billing run is invoicing "
                    "their sessions right now, and bills them once.",
                    clients=", ".join(busy.sudo().mapped("display_name")),
                ),
                "next": action,
            },
        }

    def action_view_invoices(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        action["domain"] = [("billing_run_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_view_superbills(self):
        self.ensure_one()
        return self._documents_action(self.superbill_ids)

    def action_view_statements(self):
        self.ensure_one()
        return self._documents_action(self.statement_ids)

    def _documents_action(self, documents):
        return {
            "type": "ir.actions.act_window",
            "name": documents._description,
            "res_model": documents._name,
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("id", "in", documents.ids)],
            "context": {"create": False},
        }
