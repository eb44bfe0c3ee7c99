from datetime import timedelta

from odoo import Command, api, fields, models

# Aging buckets of the amount due, by days past the due date: (field, first day, last day).
AGING_BUCKETS = [
    ("aging_current", None, 0),
    ("aging_1_30", 1, 30),
    ("aging_31_60", 31, 60),
    ("aging_61_90", 61, 90),
    ("aging_90_plus", 91, None),
]


class PracticeStatement(models.Model):
    """A client's statement of account: balance forward, activity, balance due, aging."""

    _name = "practice.statement"
    _inherit = "practice.client.document"
    _description = "Statement"
    _billing_report = "practice_billing.action_report_statement"
    _billing_portal_path = "/my/statements"
    _billing_number_prefix = "ST"
    _order = "date desc, id desc"

    date = fields.Date(string="Statement Date", required=True)
    date_start = fields.Date(string="Activity From", required=True)
    balance_start = fields.Monetary(string="Previous Balance")
    balance_end = fields.Monetary(string="Balance Due")
    line_ids = fields.One2many("practice.statement.line", "statement_id", string="Activity")
    aging_current = fields.Monetary(string="Current")
    aging_1_30 = fields.Monetary(string="1-30 Days")
    aging_31_60 = fields.Monetary(string="31-60 Days")
    aging_61_90 = fields.Monetary(string="61-90 Days")
    aging_90_plus = fields.Monetary(string="Over 90 Days")
    amount_charges = fields.Monetary(
        string="New Charges",
        compute="_compute_activity_totals",
        help="Invoiced since the last statement.",
    )
    amount_payments = fields.Monetary(
        string="Payments and Credits",
        compute="_compute_activity_totals",
        help="Paid or credited since the last statement (a positive amount).",
    )

    _sql_constraints = [
        (
            "one_per_day",
            "UNIQUE(partner_id, company_id, date)",
            "A client has one statement per day.",
        ),
    ]

    @api.depends("line_ids.charge", "line_ids.payment")
    def _compute_activity_totals(self):
        # One home for the statement's sums: its PDF and its portal page show the same.
        for statement in self:
            statement.amount_charges = sum(statement.line_ids.mapped("charge"))
            statement.amount_payments = sum(statement.line_ids.mapped("payment"))

    def _billing_email_template(self):
        return "practice_billing.mail_template_statement_email"

    def _billing_portal_template(self):
        return "practice_billing.mail_template_statement_portal"

    # ------------------------------------------------------------------ generation
    @api.model
    def _issue(self, clients, date, company):
        """Statements dated ``date`` for ``clients`` (empty: every client of the practice
        with a receivable history), made and delivered (the run on the 1st, Generate)."""
        clients = clients or self._clients_to_issue(company)
        statements = self._generate(clients, date, company)
        statements._freeze_pdfs()
        statements._billing_deliver()
        return statements

    @api.model
    def _generate(self, clients, date, company=None):
        """One statement per client with activity since their last one, or a balance."""
        company = company or self.env.company
        issued = self.search(
            [
                ("partner_id", "in", clients.ids),
                ("company_id", "=", company.id),
                ("date", "=", date),
            ]
        ).partner_id
        vals_list = [self._prepare_values(client, company, date) for client in clients - issued]
        return self.create([vals for vals in vals_list if vals["line_ids"] or vals["balance_end"]])

    @api.model
    def _clients_to_issue(self, company):
        """The practice's clients and payers (res.partner._billing_parties) with a
        receivable history in ``company``: those who may get a statement (_generate leaves
        out those without activity or balance). A parent who pays for a child gets the one
        statement of what they owe; other customers of the company never get one."""
        groups = self.env["account.move.line"]._read_group(
            [
                ("company_id", "=", company.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("partner_id", "in", self.env["res.partner"]._billing_parties(company).ids),
            ],
            ["partner_id"],
        )
        return self.env["res.partner"].union(*(partner for (partner,) in groups))

    @api.model
    def _receivable_domain(self, client, company):
        return [
            ("partner_id", "=", client.commercial_partner_id.id),
            ("company_id", "=", company.id),
            ("account_id.account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
        ]

    @api.model
    def _prepare_values(self, client, company, date):
        """Balance forward, the period's activity with a running balance, and the aging."""
        previous = self.search(
            [("partner_id", "=", client.id), ("company_id", "=", company.id), ("date", "<", date)],
            order="date desc",
            limit=1,
        )
        date_start = (
            previous.date + timedelta(days=1) if previous else fields.Date.to_date("1900-01-01")
        )
        Line = self.env["account.move.line"].sudo()
        domain = self._receivable_domain(client, company)
        before = Line.search([*domain, ("date", "<", date_start)])
        balance = company.currency_id.round(sum(before.mapped("balance")))
        balance_start = balance
        lines = []
        for move_line in Line.search(
            [*domain, ("date", ">=", date_start), ("date", "<=", date)], order="date, id"
        ):
            balance = company.currency_id.round(balance + move_line.balance)
            lines.append(
                Command.create(
                    {
                        "date": move_line.date,
                        "description": self._line_description(move_line),
                        "amount": move_line.balance,
                        "balance": balance,
                        "move_id": move_line.move_id.id,
                    }
                )
            )
        open_lines = Line.search([*domain, ("date", "<=", date), ("reconciled", "=", False)])
        return {
            "partner_id": client.id,
            "company_id": company.id,
            "date": date,
            "date_start": date_start if previous else (lines and lines[0][2]["date"]) or date,
            "balance_start": balance_start,
            "balance_end": balance,
            "line_ids": lines,
            **self._aging(open_lines, date),
        }

    @api.model
    def _line_description(self, move_line):
        move = move_line.move_id
        if move.move_type == "out_invoice":
            return self.env._("Invoice %(name)s", name=move.name)
        if move.move_type == "out_refund":
            return self.env._("Credit note %(name)s", name=move.name)
        if move_line.payment_id:
            return self.env._("Payment received, thank you (%(name)s)", name=move.name)
        return move.name

    @api.model
    def _aging(self, open_lines, date):
        """What is still due, bucketed by days past its due date (credits count as current)."""
        buckets = dict.fromkeys((name for name, _first, _last in AGING_BUCKETS), 0.0)
        for move_line in open_lines:
            days = (date - (move_line.date_maturity or move_line.date)).days
            if move_line.amount_residual < 0:
                days = 0
            for name, first, last in AGING_BUCKETS:
                if (first is None or days >= first) and (last is None or days <= last):
                    buckets[name] += move_line.amount_residual
                    break
        return buckets


class PracticeStatementLine(models.Model):
    _name = "practice.statement.line"
    _description = "Statement Activity"
    _order = "statement_id, date, id"

    statement_id = fields.Many2one(
        "practice.statement", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="statement_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="statement_id.currency_id")
    date = fields.Date(required=True)
    description = fields.Char()
    amount = fields.Monetary()
    balance = fields.Monetary(string="Running Balance")
    move_id = fields.Many2one("account.move", string="Document")
    charge = fields.Monetary(compute="_compute_charge_payment", help="What the line adds.")
    payment = fields.Monetary(
        string="Payment or Credit",
        compute="_compute_charge_payment",
        help="What the line takes off, as a positive amount.",
    )

    @api.depends("amount")
    def _compute_charge_payment(self):
        # A statement shows charges and payments in columns of their own (as clients read
        # a bank statement); the running balance stays the stored one.
        for line in self:
            line.charge = max(line.amount, 0.0)
            line.payment = max(-line.amount, 0.0)
