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
    billing_superbill_diagnosis_detail = fields.Selection(
        [("code_description", "Code and description"), ("code", "Code only")],
        string="Diagnoses on Superbills",
        default="code_description",
        required=True,
        help="Privacy option: print diagnoses on this client's superbills with their "
        "description, or as codes only.",
        groups=STAFF,
    )
    billing_legal_name = fields.Char(
        string="Legal Name",
        help="Name on insurance documents, when it differs from the name the practice uses.",
        groups=STAFF,
    )
    billing_birthdate = fields.Date(string="Date of Birth", groups=STAFF)
    billing_insurance_payer = fields.Char(string="Insurance Company", groups=STAFF)
    billing_insurance_member_id = fields.Char(string="Member ID", groups=STAFF)
    billing_insurance_group_number = fields.Char(string="Group Number", groups=STAFF)
    billing_insured_relationship = fields.Selection(
        [("self", "Self"), ("spouse", "Spouse"), ("child", "Child"), ("other", "Other")],
        string="Relationship to Insured",
        default="self",
        groups=STAFF,
    )
    # Health information: billing managers only (the model's access rights say so too).
    billing_diagnosis_ids = fields.One2many(
        "practice.client.diagnosis",
        "partner_id",
        string="Diagnoses",
        groups="practice_billing.group_billing_manager",
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
    billing_last_reminder_date = fields.Date(
        string="Last Past-Due Reminder", copy=False, readonly=True, groups=STAFF
    )
    billing_past_due_invoice_ids = fields.Many2many(
        "account.move",
        string="Past-Due Invoices",
        compute="_compute_billing_past_due_invoice_ids",
        help="Posted invoices more than the practice's past-due days overdue.",
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

    @api.depends_context("company")
    def _compute_billing_past_due_invoice_ids(self):
        company = self.env.company
        today = company._billing_local_date(fields.Datetime.now())
        invoices = self.env["account.move"].sudo()._billing_past_due_invoices(company, today)
        by_client = invoices.grouped("partner_id")
        for partner in self:
            partner.billing_past_due_invoice_ids = by_client.get(partner, invoices.browse())

    def _billing_diagnoses_on(self, day):
        """The client's diagnoses that apply to a session on ``day``, primary first."""
        self.ensure_one()
        return (
            self.sudo()
            .billing_diagnosis_ids.filtered(lambda d: d.date_start <= day)
            .sorted(lambda d: (d.sequence, d.id))
        )

    # ------------------------------------------------------------------ delivery
    def _billing_ask_for_email(self):
        """Ask staff, once, for the email address this client's documents need."""
        summary = self.env._("Add an email address")
        for client in self.sudo():
            if client.activity_ids.filtered(lambda a: a.summary == summary):
                continue
            client.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=summary,
                note=self.env._(
                    "%(client)s receives billing documents by email or in the client portal "
                    "but has no email address. Documents are left to deliver manually until "
                    "one is added.",
                    client=client.display_name,
                ),
                user_id=self.env["practice.billing.run"]._failure_responsible(client).id,
            )

    def _billing_grant_portal_access(self):
        """Give these clients portal access (with Odoo's invitation) if they lack it."""
        outsiders = self.sudo().filtered(lambda p: not p.user_ids)
        if not outsiders:
            return
        wizard = self.env["portal.wizard"].sudo().create({"partner_ids": [(6, 0, outsiders.ids)]})
        for wizard_user in wizard.user_ids:
            wizard_user.action_grant_access()

    def _billing_remind_past_due(self, invoices, today):
        """Remind this client of ``invoices`` (one email), unless reminded too recently."""
        self.ensure_one()
        company = invoices.company_id
        last = self.billing_last_reminder_date
        if last and (today - last).days < company.billing_reminder_interval_days:
            return False
        method = self.billing_delivery_method or company.billing_default_delivery_method
        if method == "manual" or not self.email:
            self._billing_ask_staff_to_remind(invoices)
            how = self.env._("left to staff (an activity on the client)")
        else:
            self.with_company(company).message_post_with_source(
                "practice_billing.mail_template_billing_past_due",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.ids,
            )
            how = self.env._("emailed to %(email)s", email=self.email)
        self.billing_last_reminder_date = today
        invoices._billing_log_reminder(today, how)
        return True

    def _billing_ask_staff_to_remind(self, invoices):
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Remind client of past-due invoices"),
            note=self.env._(
                "Past due: %(invoices)s. This client receives documents manually (or has no "
                "email address): contact them about payment.",
                invoices=", ".join(invoices.mapped("name")),
            ),
            user_id=self.env["practice.billing.run"]._failure_responsible(self).id,
        )

    def action_billing_invoice_now(self):
        """Bill these clients' sessions that have happened, now, with one invoice each."""
        company = self.env.company
        now = fields.Datetime.now()
        run = self.env["practice.billing.run"]._run_now(
            "manual", now, company._billing_local_date(now), self
        )
        return run._action_open()

    def action_billing_generate_documents(self):
        """Open "Generate billing documents" for these clients: a superbill or a statement
        on demand, for any period."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "practice_billing.action_billing_generate"
        )
        action["context"] = {
            "default_partner_ids": self.ids,
            "default_generate_invoices": False,
            "default_generate_superbills": any(self.mapped("billing_needs_superbill")),
            "default_generate_statements": not any(self.mapped("billing_needs_superbill")),
        }
        return action

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
