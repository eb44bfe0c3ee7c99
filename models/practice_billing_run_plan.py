"""What a billing run will make, worked out before it runs (Next Run, Generate Billing
Documents) with the run's own selection code: the clients it bills and for how much, the
superbills and statements it issues, who receives each document by which method, and
what will go wrong (the pre-flight problems)."""

from dataclasses import dataclass, field
from datetime import timedelta

from odoo.exceptions import UserError

# How a document that is not sent at all shows in a plan (invoices kept for review).
NOT_SENT = "not_sent"


@dataclass
class PlannedDocument:
    """One document the run will make for ``client`` (for an invoice: its payer, who may
    pay for other clients too)."""

    client: object  # res.partner
    method: str = NOT_SENT  # the delivery method it will go by (see the delivery mixin)
    amount: float = 0.0
    sessions: object = None  # calendar.event it bills or documents
    problems: list = field(default_factory=list)  # why it will fail or stay in draft


class RunPlan:
    """The documents ``run`` would make if it ran now.

    ``run`` is a billing run, usually not saved (``new()``), in the system's environment:
    the plan reads what the run will read. Who may see which part of it is for the screens
    to decide (superbills are for Billing Managers).
    """

    def __init__(self, run):
        self.run = run
        self.env = run.env
        self.company = run.company_id
        self.invoices = self._plan_invoices() if run.make_invoices else []
        self.superbills = self._plan_superbills() if run.superbill_date_start else []
        self.statements = self._plan_statements() if run.statement_date else []

    # ------------------------------------------------------------------ figures
    @property
    def billed(self):
        """The invoices the run will make (those without problems)."""
        return [invoice for invoice in self.invoices if not invoice.problems]

    @property
    def failing(self):
        """The payers the run will fail to bill, with why (a minor with no responsible
        party among them)."""
        return [invoice for invoice in self.invoices if invoice.problems]

    @property
    def amount_total(self):
        return self.company.currency_id.round(sum(invoice.amount for invoice in self.billed))

    @property
    def incomplete_superbills(self):
        """Superbills that will stay in draft: something an insurer needs is missing."""
        return [superbill for superbill in self.superbills if superbill.problems]

    # ------------------------------------------------------------------ invoices
    def _plan_invoices(self):
        Session = self.env["calendar.event"].sudo()
        method = None if self._invoices_posted() else NOT_SENT
        planned = []
        due = self.run._collect_due_sessions()
        payer_of = self.run._payers_of(due)
        for (payer_id, _client_id), session_ids in due.items():
            sessions = Session.browse(session_ids)
            payer = payer_of(payer_id)
            invoice = PlannedDocument(
                client=payer,
                method=method or self._delivery_method("account.move", payer),
                amount=sum(sessions.mapped("billing_amount")),
                sessions=sessions,
            )
            for check in (
                sessions._billing_check_invoiceable,
                lambda p=payer, s=sessions: self.run._check_bill_to(p, s),
            ):
                try:
                    check()
                except UserError as error:
                    invoice.problems.append(error.args[0])
            planned.append(invoice)
        return planned

    def _invoices_posted(self):
        """Invoices are posted, and so sent, unless the practice reviews them first."""
        return not self.company.billing_review_invoices

    # ------------------------------------------------------------------ superbills
    def _plan_superbills(self):
        """As practice.superbill._generate after this run's invoices: one superbill per
        client with attended, invoiced sessions in the period that are on no superbill,
        unless the client has one of the period; issued if complete, else left in draft."""
        run = self.run
        Superbill = self.env["practice.superbill"].sudo()
        start, end = run.superbill_date_start, run.superbill_date_end
        clients = run.partner_ids._origin or Superbill._clients_to_issue(self.company)
        clients -= Superbill._find_live(clients, self.company, start, end).partner_id
        sessions = Superbill._billable_sessions(clients, self.company, start, end)
        sessions |= self._sessions_invoiced_by_run(clients, start, end)
        planned = []
        for client, client_sessions in (
            sessions.sorted("start").grouped("billing_client_id").items()
        ):
            draft = Superbill.new(
                Superbill._values_for_sessions(client, self.company, start, end, client_sessions)
            )
            planned.append(
                PlannedDocument(
                    client=client,
                    method=self._delivery_method("practice.superbill", client),
                    amount=sum(client_sessions.mapped("billing_amount")),
                    sessions=client_sessions,
                    problems=draft._missing_information(),
                )
            )
        return sorted(planned, key=lambda doc: (doc.client.name or "", doc.client.id))

    def _sessions_invoiced_by_run(self, clients, start, end):
        """The attended sessions of ``clients`` in the period that this run will invoice."""
        company = self.company
        first, last = (
            company._billing_local_midnight(start),
            company._billing_local_midnight(end + timedelta(days=1)),
        )
        sessions = self.env["calendar.event"].sudo()
        for invoice in self.billed:
            sessions |= invoice.sessions.filtered(
                lambda s: (
                    s.billing_client_id in clients
                    # billed with nothing recorded: as attended (calendar.event
                    # _billing_attendance_at), as the superbill will list it
                    and s.billing_attendance in ("attended", False)
                    and first <= s.start < last
                )
            )
        return sessions

    # ------------------------------------------------------------------ statements
    def _plan_statements(self):
        """As practice.statement._generate after this run's invoices: a statement for each
        client without one of that day who has activity since their previous statement, or
        a balance due."""
        run = self.run
        Statement = self.env["practice.statement"].sudo()
        date = run.statement_date
        invoiced = self._clients_with_new_activity(date)
        if run.partner_ids._origin:
            # The run's own choice (the chosen clients and who pays for them).
            clients = run._statement_clients().sudo()
        else:
            clients = Statement._clients_to_issue(self.company) | invoiced
        issued = Statement.search(
            [
                ("partner_id", "in", clients.ids),
                ("company_id", "=", self.company.id),
                ("date", "=", date),
            ]
        ).partner_id
        candidates = clients - issued
        with_history = self._clients_with_activity_or_balance(candidates, date)
        return [
            PlannedDocument(client=client, method=self._delivery_method(Statement._name, client))
            for client in candidates.sorted(lambda c: (c.name or "", c.id))
            if client in invoiced or client in with_history
        ]

    def _clients_with_new_activity(self, date):
        """Clients whose invoice of this run will be on a statement dated ``date``."""
        if not self._invoices_posted() or self.run.invoice_date > date:
            return self.env["res.partner"]
        return self.env["res.partner"].union(*(invoice.client for invoice in self.billed))

    def _clients_with_activity_or_balance(self, clients, date):
        """Those of ``clients`` that practice.statement._prepare_values gives lines or a
        balance on ``date``: receivable entries after their previous statement, or entries
        that do not sum to zero."""
        Statement = self.env["practice.statement"].sudo()
        previous = dict(
            Statement._read_group(
                [
                    ("partner_id", "in", clients.ids),
                    ("company_id", "=", self.company.id),
                    ("date", "<", date),
                ],
                ["partner_id"],
                ["date:max"],
            )
        )
        # The entries practice.statement._receivable_domain reads, for all clients at once.
        entries = (
            self.env["account.move.line"]
            .sudo()
            ._read_group(
                [
                    ("partner_id", "in", clients.commercial_partner_id.ids),
                    ("company_id", "=", self.company.id),
                    ("account_id.account_type", "=", "asset_receivable"),
                    ("parent_state", "=", "posted"),
                    ("date", "<=", date),
                ],
                ["partner_id"],
                ["balance:sum", "date:max"],
            )
        )
        by_commercial = {partner: (balance, last) for partner, balance, last in entries}
        currency = self.company.currency_id
        found = self.env["res.partner"]
        for client in clients:
            balance, last = by_commercial.get(client.commercial_partner_id, (0.0, None))
            since = previous.get(client)
            if not currency.is_zero(balance) or (last and (not since or last > since)):
                found |= client
        return found

    # ------------------------------------------------------------------ delivery
    def _delivery_method(self, model, client):
        """How a document of ``model`` for ``client`` will go (the delivery mixin's rule:
        the client's method, manual without an email address)."""
        draft = self.env[model].new({"partner_id": client.id, "company_id": self.company.id})
        return draft._billing_delivery_method()

    # ------------------------------------------------------------------ summary
    def summary(self, show_superbills=True):
        """The plan as the screens show it (template practice_billing.run_plan_summary):
        one section per kind of document, with its count, who receives it by which method
        and the problems. Superbills only ``show_superbills`` (they are for Billing
        Managers)."""
        sections = []
        if self.run.make_invoices:
            sections.append(
                self._section(
                    "invoices",
                    self.env._("Invoices"),
                    self.billed,
                    problems=self.failing,
                    problems_title=self.env._("Not billed"),
                    amount=self.amount_total,
                )
            )
        if self.run.superbill_date_start and show_superbills:
            complete = [doc for doc in self.superbills if not doc.problems]
            section = self._section(
                "superbills",
                self.env._("Superbills"),
                complete,
                problems=self.incomplete_superbills,
                problems_title=self.env._("Left in draft, incomplete"),
            )
            section["count"] = len(self.superbills)
            sections.append(section)
        if self.run.statement_date:
            sections.append(self._section("statements", self.env._("Statements"), self.statements))
        return sections

    def _section(self, kind, title, documents, *, problems=(), problems_title="", amount=None):
        methods = self._method_labels()
        recipients = {}
        for document in documents:
            recipients.setdefault(document.method, []).append(document.client.name or "")
        return {
            "kind": kind,
            "title": title,
            "count": len(documents),
            "amount": amount,
            "currency": self.company.currency_id,
            "recipients": [
                (methods.get(method, method), len(names), self._names(names))
                for method, names in sorted(recipients.items(), key=lambda item: -len(item[1]))
            ],
            "problems_title": problems_title,
            "problems": [(doc.client.name, doc.problems) for doc in problems],
        }

    def _method_labels(self):
        labels = dict(self.env["res.partner"]._billing_delivery_method_selection())
        labels["manual"] = self.env._("By hand (staff print or send them)")
        labels[NOT_SENT] = self.env._("Not sent: left in draft for review")
        return labels

    def _names(self, names, shown=5):
        """ "Jane Doe, Marcus Webb and 3 more"."""
        text = ", ".join(names[:shown])
        if len(names) > shown:
            text = self.env._("%(names)s and %(count)s more", names=text, count=len(names) - shown)
        return text

    def render_summary(self, show_superbills=True):
        return self.env["ir.qweb"]._render(
            "practice_billing.run_plan_summary",
            {"sections": self.summary(show_superbills), "run": self.run},
        )
