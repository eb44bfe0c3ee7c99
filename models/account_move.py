from datetime import timedelta

from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from .res_partner import billing_party_sql

# Entries whose partner is a billing party of their company's practice: a client named on one
# of its sessions, or who is invoiced for them (res.partner.billing_party_sql). The company
# may invoice other customers too (another business, Odoo's demo companies): the practice's
# billing screens leave them out.
CLIENT_ENTRIES = SQL(
    "(SELECT m.id FROM account_move m WHERE %s)",
    SQL(billing_party_sql("m.partner_id", "m.company_id")),
)

# Odoo's sending job selects the invoices to send with this domain
# (account.move._cron_account_move_send); the practice's waiting ones are sent apart.
ODOO_SENDING_DOMAIN = [("sending_data", "!=", False)]
NOT_PRACTICE_SENDING_DOMAIN = [
    "|",
    ("billing_delivery_state", "=", False),
    ("billing_delivery_state", "!=", "pending"),
]

# Odoo's own words (and account's translations) for the notice its sending job gives the
# person who sent the invoices; the practice's executor gives the same notice.
_odoo_account = LazyTranslate("account")
SENDING_NOTICES = {
    True: {
        "type": "success",
        "title": _odoo_account("Invoices sent"),
        "message": _odoo_account("Invoices sent successfully."),
        "action_name": _odoo_account("Sent invoices"),
    },
    False: {
        "type": "warning",
        "title": _odoo_account("Invoices in error"),
        "message": _odoo_account("One or more invoices couldn't be processed."),
        "action_name": _odoo_account("Invoices in error"),
    },
}


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
        (account.move.send) with ``method``, as its Send & Print would, and wake the
        practice's two executors (see _billing_send_next_batch)."""
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
        self.env.ref("practice_billing.ir_cron_billing_send_invoices")._trigger()

    # ------------------------------------------------------------------ sending
    @api.model
    def _cron_account_move_send(self, job_count=10):
        """Override of `account`: while the practice's invoices wait to be sent, Odoo's job
        is one of their two executors (the other is "Practice Billing: send invoices"): it
        sends a batch no other executor holds, and calls itself again while any invoice
        waits. Other invoices then go as Odoo sends them, Odoo's selection leaving out the
        practice's: it would otherwise pick some the other executor holds and give up (its
        _with_locked_records), without calling itself again."""
        if self._billing_send_next_batch():
            if self.sudo().search_count([("sending_data", "!=", False)], limit=1):
                self.env.ref("account.ir_cron_account_move_send")._trigger()
            return None
        odoo_sending = self.with_context(billing_odoo_sending=True)
        return super(AccountMove, odoo_sending)._cron_account_move_send(job_count=job_count)

    @api.model
    def _search(self, domain, *args, **kwargs):
        """Override of `base`: Odoo's sending job (see _cron_account_move_send) selects the
        invoices that are not the practice's waiting ones (those are sent by the practice's
        two executors, in batches they hold)."""
        if self.env.context.get("billing_odoo_sending") and list(domain) == ODOO_SENDING_DOMAIN:
            domain = [*ODOO_SENDING_DOMAIN, *NOT_PRACTICE_SENDING_DOMAIN]
        return super()._search(domain, *args, **kwargs)

    @api.model
    def _cron_billing_send_invoices(self):
        """ "Practice Billing: send invoices", the second executor of the practice's sending,
        beside Odoo's job: with two cron workers, two batches are printed and sent at once.
        Calls itself again while the practice's invoices wait."""
        if self._billing_send_next_batch() and self._billing_invoices_awaiting_sending():
            self.env.ref("practice_billing.ir_cron_billing_send_invoices")._trigger()

    @api.model
    def _billing_send_next_batch(self):
        """Send the next batch of the practice's waiting invoices that no other executor
        holds. Returns whether there was one (False: none free; the others, if any, are
        held by another executor, which sends them)."""
        try:
            invoices = self._billing_take_invoices_to_send(self._billing_sending_batch_size())
        except SerializationFailure:
            # Another executor sent invoices this transaction still saw waiting: they are
            # sent. The next execution, a transaction of its own, takes the rest.
            return True
        if not invoices:
            return False
        self._billing_send_batch(invoices)
        return True

    @api.model
    def _billing_take_invoices_to_send(self, limit):
        """Up to ``limit`` of the practice's invoices waiting to be sent that no other
        transaction holds, locked until this one ends: two executors never take the same
        invoice, nor wait for each other. Raises SerializationFailure when one of them was
        sent since this transaction began."""
        self.flush_model(["sending_data", "billing_delivery_state"])
        with self.env.cr.savepoint(flush=False):
            self.env.cr.execute(
                SQL(
                    """
                    SELECT id FROM account_move
                     WHERE sending_data IS NOT NULL AND billing_delivery_state = 'pending'
                     ORDER BY id
                     LIMIT %s
                       FOR UPDATE SKIP LOCKED
                    """,
                    limit,
                ),
                log_exceptions=False,
            )
            return self.sudo().browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _billing_send_batch(self, invoices):
        """Send ``invoices`` (held by this transaction) as Odoo's job sends its batch:
        through account.move.send, then whoever handed them over told how it went, and
        those in error no longer waiting (failed, retried by the billing run)."""
        by_sender = invoices.grouped(lambda m: m.sending_data["author_partner_id"])
        self.env["account.move.send"]._generate_and_send_invoices(invoices, from_cron=True)
        for partner_id, sent in by_sender.items():
            failed = sent.filtered(lambda m: m.sending_data and m.sending_data.get("error"))
            sender = self.env["res.partner"].browse(partner_id)
            for success, moves in ((True, sent - failed), (False, failed)):
                if moves:
                    sender._bus_send(
                        "account_notification", self._billing_sending_notice(moves, success)
                    )
            failed.sending_data = False

    @api.model
    def _billing_sending_notice(self, invoices, success):
        """Odoo's notice of sent (or failed) invoices, with a button opening them."""
        notice = SENDING_NOTICES[success]
        return {
            "type": notice["type"],
            "title": self.env._(notice["title"]),
            "message": self.env._(notice["message"]),
            "action_button": {
                "name": self.env._(_odoo_account("Open")),
                "action_name": self.env._(notice["action_name"]),
                "model": "account.move",
                "res_ids": invoices.ids,
            },
        }

    @api.model
    def _billing_invoices_awaiting_sending(self):
        """Whether practice invoices wait for sending (see _billing_send_next_batch)."""
        return bool(
            self.sudo().search_count(
                [*ODOO_SENDING_DOMAIN, ("billing_delivery_state", "=", "pending")], limit=1
            )
        )

    @api.model
    def _billing_sending_batch_size(self):
        """Invoices per batch of either executor: half of what account.move.send renders
        in one PDF batch (account.pdf_generation_batch, 80; its ``len > batch`` split
        makes batches of batch + 1), so each batch is one wkhtmltopdf process of the
        addon's batch printer (ir_actions_report_batch.py). Half, because two executors
        send at once: a batch's time grows faster than its size, and the mail queue gets a
        cron worker between batches (N = 200 on 2 cores: the month's emails out in 73 s
        with batches of 41, 97 s with 81)."""
        batch = self.env["ir.config_parameter"].sudo().get_param("account.pdf_generation_batch")
        try:
            return max(int(batch or 80), 1) // 2 + 1
        except ValueError:
            return 41

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
