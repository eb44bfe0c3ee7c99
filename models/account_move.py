from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .res_partner import billing_party_sql

# Entries whose partner is a billing party of their company's practice: a client named on one
# of its sessions, or who is invoiced for them (res.partner.billing_party_sql). The company
# may invoice other customers too (another business, Odoo's demo companies): the practice's
# billing screens leave them out.
CLIENT_ENTRIES = SQL(
    "(SELECT m.id FROM account_move m WHERE %s)",
    SQL(billing_party_sql("m.partner_id", "m.company_id")),
)


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "practice.billing.delivery.mixin"]
    _billing_report = "account.account_invoices"

    billing_run_id = fields.Many2one(
        "practice.billing.run",
        copy=False,
        readonly=True,
        index="btree_not_null",
    )
    billing_last_reminder_date = fields.Date(
        string="Last Reminder", copy=False, readonly=True, help="When the client was last reminded."
    )
    billing_reminder_count = fields.Integer(string="Reminders Sent", copy=False, readonly=True)
    billing_is_client_document = fields.Boolean(
        string="Of a Practice Client",
        compute="_compute_billing_is_client_document",
        search="_search_billing_is_client_document",
        help="The partner is a client of the practice that issued it (named on one of its "
        "sessions) or pays for its sessions, not another customer of the company.",
    )

    # ------------------------------------------------------------------ clients
    @api.depends("partner_id", "company_id")
    def _compute_billing_is_client_document(self):
        client_moves = self.search(
            [("id", "in", self.ids), ("billing_is_client_document", "=", True)]
        )
        for move in self:
            move.billing_is_client_document = move in client_moves

    def _search_billing_is_client_document(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        self.env["calendar.event"].flush_model(
            ["billing_client_id", "billing_company_id", "billing_product_id"]
        )
        self.env["account.move.line"].flush_model(["billing_session_id", "move_id"])
        self.flush_model(["partner_id", "company_id"])
        positive = (operator == "=") == value
        return [("id", "in" if positive else "not in", CLIENT_ENTRIES)]

    # ------------------------------------------------------------------ sessions
    def _post(self, soft=True):
        """Override of `account`: a session is billed once (an invoice posted again after
        its sessions were billed anew is refused), and billing invoices staff post after
        review are delivered."""
        self.line_ids._billing_check_sessions_free()
        posted = super()._post(soft=soft)
        posted.line_ids._billing_link_sessions()
        if not self.env.context.get("billing_defer_delivery"):
            posted.filtered(
                lambda m: m.billing_run_id and not m.billing_delivery_state
            )._billing_deliver()
        return posted

    def _billing_sessions(self):
        """The sessions the invoice bills (as practice.client.document, for Billing
        Documents)."""
        return self.invoice_line_ids.billing_session_ids

    @api.model
    def _billing_documents_of_sessions(self, sessions):
        """The invoices that bill ``sessions`` now."""
        return sessions.billing_invoice_line_id.move_id

    def button_draft(self):
        """Override of `account`: an invoice reset to draft bills its sessions again, unless
        another invoice bills them now."""
        self.line_ids._billing_check_sessions_free()
        result = super().button_draft()
        self.line_ids._billing_link_sessions()
        return result

    def _get_mail_template(self):
        """Override of `account`: practice invoices go out with the practice's own email."""
        if self and all(m.billing_run_id and m.move_type == "out_invoice" for m in self):
            return self.env.ref("practice_billing.mail_template_billing_invoice")
        return super()._get_mail_template()

    def _billing_deliver_email(self):
        """Override of the mixin: invoices go through Odoo's own background sending
        (account.move.send), the PDF attached by the practice's template."""
        self._billing_deliver_by_odoo("email")

    def _billing_deliver_portal(self):
        """Override of the mixin: through Odoo's background sending too, which keeps the
        invoice's PDF (without it the client's invoice page reads "PROFORMA") and then
        notifies the client (account.move.send's _hook_if_success calls
        _billing_notify_clients_in_portal, the attempt already counted here)."""
        self._billing_deliver_by_odoo("portal")

    def _billing_deliver_by_odoo(self, method):
        """Override of the mixin: hand the invoices to Odoo's background sending
        (account.move.send's cron) with ``method``, as its Send & Print would."""
        sending_data = {
            "author_user_id": self.env.user.id,
            "author_partner_id": self.env.user.partner_id.id,
            "sending_methods": [method],
        }
        for attempts, moves in self.grouped("billing_delivery_attempts").items():
            moves.write(
                {
                    "billing_delivery_method": method,
                    "billing_delivery_state": "pending",
                    "billing_delivery_attempts": attempts + 1,
                    "sending_data": sending_data,
                }
            )
        self.env.ref("account.ir_cron_account_move_send")._trigger()

    @api.model
    def _cron_account_move_send(self, job_count=10):
        """Override of `account`: while the practice's invoices wait for Odoo's background
        sending (the billing run hands them over, see _billing_deliver_by_odoo), each
        execution takes as many invoices as Odoo prints in one go
        (ir.config_parameter account.pdf_generation_batch, 80), not Odoo's 20: with the
        addon's batch printer (ir_actions_report_batch.py) that is one wkhtmltopdf process
        per batch, so a practice's 1st is a few executions, not one per 20 clients."""
        if self._billing_invoices_awaiting_sending():
            job_count = max(job_count, self._billing_sending_batch_size())
        return super()._cron_account_move_send(job_count=job_count)

    @api.model
    def _billing_invoices_awaiting_sending(self):
        """Whether practice invoices wait for Odoo's background sending."""
        return bool(
            self.sudo().search_count(
                [("sending_data", "!=", False), ("billing_delivery_state", "=", "pending")],
                limit=1,
            )
        )

    @api.model
    def _billing_sending_batch_size(self):
        """Invoices per execution of Odoo's sending job: as many as account.move.send
        renders in one PDF batch (its ``len > batch`` split makes batches of batch + 1)."""
        batch = self.env["ir.config_parameter"].sudo().get_param("account.pdf_generation_batch")
        try:
            return max(int(batch or 80), 1) + 1
        except ValueError:
            return 81

    def _billing_sent_pdfs(self):
        """Override of the mixin: the invoice PDF Odoo kept when it sent it (its legal
        document, account.move.send)."""
        sent = {invoice.id: invoice._get_invoice_legal_documents("pdf") for invoice in self}
        return {invoice_id: pdf["content"] for invoice_id, pdf in sent.items() if pdf}

    def _billing_portal_template(self):
        return "practice_billing.mail_template_billing_invoice_portal"

    @api.model
    def _billing_deliverable_domain(self):
        return [("state", "=", "posted")]

    # ------------------------------------------------------------------ reminders
    @api.model
    def _cron_billing_past_due_reminders(self):
        """Daily: remind each payer with invoices past due (the invoices' partner: a parent
        for a child's sessions), at most weekly, never forever."""
        for company in (
            self.env["res.company"].sudo().search([("billing_past_due_reminder", "=", True)])
        ):
            today = company._billing_local_date(fields.Datetime.now())
            invoices = self.sudo()._billing_past_due_invoices(company, today)
            for client, client_invoices in invoices.grouped("partner_id").items():
                client._billing_remind_past_due(client_invoices, today)

    @api.model
    def _billing_past_due_invoices(self, company, today):
        """Posted invoices of the practice's clients and those who pay for them (never
        another customer of the company) owed more than its past-due days ago."""
        due_before = today - timedelta(days=company.billing_past_due_days)
        clients = self.env["res.partner"]._billing_parties(company)
        return self.search(
            [
                ("company_id", "=", company.id),
                ("partner_id", "in", clients.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("amount_residual", ">", 0),
                ("invoice_date_due", "<", due_before),
                ("billing_reminder_count", "<", company.billing_reminder_max),
            ],
            order="invoice_date_due, id",
        )

    def _billing_log_reminder(self, today, how):
        """Note the reminder on each invoice's chatter and count it."""
        for invoice in self:
            invoice.write(
                {
                    "billing_last_reminder_date": today,
                    "billing_reminder_count": invoice.billing_reminder_count + 1,
                }
            )
            invoice.message_post(
                body=self.env._("Past-due reminder %(how)s on %(day)s.", how=how, day=today),
                subtype_xmlid="mail.mt_note",
            )
