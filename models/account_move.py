import logging
from datetime import timedelta

from odoo import api, fields, models

from .res_company import DELIVERY_METHODS

_logger = logging.getLogger(__name__)

DELIVERY_STATES = [
    ("pending", "Not sent"),
    ("sent", "Sent"),
    ("manual", "To deliver manually"),
    ("failed", "Failed"),
]
# Delivery attempts before a failed document waits for staff.
MAX_DELIVERY_ATTEMPTS = 5


class AccountMove(models.Model):
    _inherit = "account.move"

    billing_run_id = fields.Many2one(
        "practice.billing.run",
        copy=False,
        readonly=True,
        index="btree_not_null",
    )
    billing_delivery_method = fields.Selection(
        DELIVERY_METHODS, string="Delivery Method", copy=False, readonly=True
    )
    billing_delivery_state = fields.Selection(
        DELIVERY_STATES, string="Delivery", copy=False, readonly=True, index="btree_not_null"
    )
    billing_delivery_error = fields.Text(string="Delivery Problem", copy=False, readonly=True)
    billing_delivery_attempts = fields.Integer(copy=False, readonly=True)
    billing_last_reminder_date = fields.Date(
        string="Last Reminder", copy=False, readonly=True, help="When the client was last reminded."
    )
    billing_reminder_count = fields.Integer(string="Reminders Sent", copy=False, readonly=True)

    # ------------------------------------------------------------------ delivery
    def _post(self, soft=True):
        """Override of `account` to deliver billing invoices staff post after review."""
        posted = super()._post(soft=soft)
        if not self.env.context.get("billing_defer_delivery"):
            posted.filtered(
                lambda m: m.billing_run_id and not m.billing_delivery_state
            )._billing_deliver()
        return posted

    def _get_mail_template(self):
        """Override of `account`: practice invoices go out with the practice's own email."""
        if self and all(m.billing_run_id and m.move_type == "out_invoice" for m in self):
            return self.env.ref("practice_billing.mail_template_billing_invoice")
        return super()._get_mail_template()

    def _billing_deliver(self):
        """Send each document the way its client receives documents; never raises."""
        if self.env.context.get("billing_already_delivered"):
            # Past documents recorded after the fact (a practice's history, demo data).
            for method, moves in self.grouped(lambda m: m._billing_delivery_method()).items():
                moves.write({"billing_delivery_method": method, "billing_delivery_state": "sent"})
            return
        for method, moves in self.grouped(lambda m: m._billing_delivery_method()).items():
            getattr(moves, f"_billing_deliver_{method}")()

    def _billing_delivery_method(self):
        """The client's method; email and portal need an email address, else manual."""
        self.ensure_one()
        client = self.partner_id
        method = client.billing_delivery_method or self.company_id.billing_default_delivery_method
        if method in ("email", "portal") and not client.email:
            client._billing_ask_for_email()
            return "manual"
        return method

    def _billing_deliver_email(self):
        """Queue the invoices for Odoo's background sending (PDF attached by the template)."""
        sending_data = {
            "author_user_id": self.env.user.id,
            "author_partner_id": self.env.user.partner_id.id,
            "sending_methods": ["email"],
        }
        for attempts, moves in self.grouped("billing_delivery_attempts").items():
            moves.write(
                {
                    "billing_delivery_method": "email",
                    "billing_delivery_state": "pending",
                    "billing_delivery_attempts": attempts + 1,
                    "sending_data": sending_data,
                }
            )
        self.env.ref("account.ir_cron_account_move_send")._trigger()

    def _billing_deliver_portal(self):
        """Invite each client to the portal if needed and email a link, nothing attached."""
        for move in self:
            try:
                with self.env.cr.savepoint():
                    move._billing_notify_in_portal()
            except Exception as error:  # a delivery problem never blocks billing
                _logger.warning("Portal delivery of %s failed: %s", move.display_name, error)
                move.write(
                    {
                        "billing_delivery_method": "portal",
                        "billing_delivery_attempts": move.billing_delivery_attempts + 1,
                    }
                )
                move._billing_delivery_failed(str(error))

    def _billing_notify_in_portal(self):
        self.ensure_one()
        self.partner_id._billing_grant_portal_access()
        self.write(
            {
                "billing_delivery_method": "portal",
                "billing_delivery_state": "pending",
                "billing_delivery_attempts": self.billing_delivery_attempts + 1,
            }
        )
        self._portal_ensure_token()
        self.message_post_with_source(
            "practice_billing.mail_template_billing_invoice_portal",
            subtype_xmlid="mail.mt_comment",
            partner_ids=self.partner_id.ids,
        )

    def _billing_deliver_manual(self):
        self.write({"billing_delivery_method": "manual", "billing_delivery_state": "manual"})

    def _billing_delivery_failed(self, reason):
        self.write({"billing_delivery_state": "failed", "billing_delivery_error": reason})

    def _billing_delivery_done(self):
        self.write({"billing_delivery_state": "sent", "billing_delivery_error": False})

    @api.model
    def _billing_retry_failed_deliveries(self):
        """Deliver failed documents again, a few times, before they wait for staff."""
        failed = self.search(
            [
                ("billing_delivery_state", "=", "failed"),
                ("billing_delivery_attempts", "<", MAX_DELIVERY_ATTEMPTS),
                ("state", "=", "posted"),
            ]
        )
        failed._billing_deliver()
        return failed

    # ------------------------------------------------------------------ reminders
    @api.model
    def _cron_billing_past_due_reminders(self):
        """Daily: remind each client with invoices past due, at most weekly, never forever."""
        for company in (
            self.env["res.company"].sudo().search([("billing_past_due_reminder", "=", True)])
        ):
            today = company._billing_local_date(fields.Datetime.now())
            invoices = self.sudo()._billing_past_due_invoices(company, today)
            for client, client_invoices in invoices.grouped("partner_id").items():
                client._billing_remind_past_due(client_invoices, today)

    @api.model
    def _billing_past_due_invoices(self, company, today):
        """Posted client invoices of ``company`` owed more than its past-due days ago."""
        due_before = today - timedelta(days=company.billing_past_due_days)
        return self.search(
            [
                ("company_id", "=", company.id),
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
