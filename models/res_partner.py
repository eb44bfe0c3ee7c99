from collections import defaultdict

from odoo import api, fields, models

from .res_company import DELIVERY_METHODS

# Billing data is the practice's business: internal users only, never portal clients.
STAFF = "base.group_user"


class ResPartner(models.Model):
    """A partner who attends sessions is a client of the practice."""

    _inherit = "res.partner"

    billing_delivery_method = fields.Selection(
        DELIVERY_METHODS,
        string="Delivery Method",
        # A default, not a related field: changing the practice's default later must
        # never rewrite how existing clients already receive their documents.
        default=lambda self: self.env.company.billing_default_delivery_method,
        help="How this client receives invoices, superbills and statements.",
        groups=STAFF,
    )
    billing_needs_superbill = fields.Boolean(
        string="Needs Superbills",
        help="The client pays out of pocket and seeks reimbursement from their insurer.",
        groups=STAFF,
    )
    billing_session_ids = fields.One2many(
        "calendar.event",
        "billing_client_id",
        string="Sessions",
        groups=STAFF,
    )
    billing_uninvoiced_amount = fields.Monetary(
        string="Uninvoiced",
        compute="_compute_billing_uninvoiced",
        currency_field="currency_id",
        help="Sessions that have happened, are billable and are not on an invoice yet.",
        groups=STAFF,
    )
    billing_uninvoiced_count = fields.Integer(
        string="Uninvoiced Sessions",
        compute="_compute_billing_uninvoiced",
        groups=STAFF,
    )
    billing_balance = fields.Monetary(
        string="Balance",
        compute="_compute_billing_balance",
        currency_field="currency_id",
        help="What the client owes on posted invoices, less unapplied payments and credits.",
        groups=STAFF,
    )
    billing_invoice_count = fields.Integer(
        string="Client Invoices",
        compute="_compute_billing_invoice_count",
        groups=STAFF,
    )

    def _compute_billing_uninvoiced(self):
        sessions = (
            self.env["calendar.event"]
            .sudo()
            .search([("billing_client_id", "in", self.ids), ("billing_state", "=", "uninvoiced")])
        )
        amount, count = defaultdict(float), defaultdict(int)
        for session in sessions:
            amount[session.billing_client_id.id] += session.billing_amount
            count[session.billing_client_id.id] += 1
        for partner in self:
            partner.billing_uninvoiced_amount = amount[partner.id]
            partner.billing_uninvoiced_count = count[partner.id]

    @api.depends_context("company")
    def _compute_billing_balance(self):
        # Odoo's receivable figure: posted, unreconciled receivable lines of the client.
        for partner in self:
            partner.billing_balance = partner.sudo().credit

    def _compute_billing_invoice_count(self):
        groups = self.env["account.move"]._read_group(
            [("partner_id", "in", self.ids), ("move_type", "in", ("out_invoice", "out_refund"))],
            ["partner_id"],
            ["__count"],
        )
        counts = {partner.id: count for partner, count in groups}
        for partner in self:
            partner.billing_invoice_count = counts.get(partner.id, 0)

    def action_billing_view_uninvoiced_sessions(self):
        """Open this client's sessions, filtered on the uninvoiced ones."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_sessions"
        )
        action["domain"] = [("billing_client_id", "=", self.id)]
        action["context"] = {"search_default_filter_uninvoiced": 1}
        return action

    def action_billing_invoice_now(self):
        """Bill these clients' sessions that have happened, now, with one invoice each."""
        company = self.env.company
        now = fields.Datetime.now()
        run = self.env["practice.billing.run"]._run_now(
            "manual", now, company._billing_local_date(now), self
        )
        return run._action_open()

    def action_billing_view_invoices(self):
        """Open this client's invoices and credit notes."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        action["domain"] = [
            ("partner_id", "=", self.id),
            ("move_type", "in", ("out_invoice", "out_refund")),
        ]
        action["context"] = {"default_partner_id": self.id, "default_move_type": "out_invoice"}
        return action
