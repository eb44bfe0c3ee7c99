import contextlib
import logging
from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_amount
from odoo.tools.safe_eval import safe_eval, time

_logger = logging.getLogger(__name__)

AUTOPAY_STATES = [
    ("scheduled", "Scheduled"),
    ("charged", "Charged"),
    ("failed", "Failed"),
    ("held", "Held"),
    ("skipped", "Skipped"),
]
# AutoPay's own charge (billing_autopay_transaction_id) in one of these states has charged the
# card, or may still: it is settled, the invoice never charged again (payment.transaction's
# states). A draft one too (_billing_autopay_draft_may_charge).
OPEN_TRANSACTION_STATES = ("pending", "authorized", "done")
# Another payment of the invoice (the client's online payment, staff's Register Payment with
# the card) in one of these states may still go through: AutoPay waits for it. A done one has
# paid what it paid: Odoo's post-processing makes its payment, AutoPay charges what is left.
IN_FLIGHT_TRANSACTION_STATES = ("pending", "authorized")
# Session fees an HSA/FSA card refuses (calendar.event.billing_attendance).
HSA_EXCLUDED_ATTENDANCE = ("late_cancel", "no_show")
# Invoices AutoPay leaves alone: paid, being paid, or reversed by a credit note.
SETTLED_PAYMENT_STATES = ("paid", "in_payment", "reversed")
# Invoices locked, charged and settled together by the daily job: their transactions are
# committed together before any card is charged, their payments after all answers.
CHARGE_BATCH = 50
# A transaction still in draft this long after it was created was never answered: the worker
# asking the provider died. It may or may not have charged the card: staff check.
UNANSWERED_AFTER = timedelta(hours=1)
# A payment the client started online (Odoo's portal) is a draft until they finish it on the
# provider's page; AutoPay waits this long for it, then takes it as abandoned (Odoo keeps
# abandoned payments in draft for ever: draft means never submitted to the provider).
CLIENT_PAYING_WAIT = timedelta(hours=1)
# Receipts printed together (one wkhtmltopdf process) and committed at a time.
RECEIPT_BATCH = 50
# Written as the system only (AccountMove.write): posting, staff's buttons, the daily job.
AUTOPAY_MOVE_FIELDS = {
    "billing_autopay_state",
    "billing_autopay_date",
    "billing_autopay_hold",
    "billing_autopay_attempts",
    "billing_autopay_reason",
    "billing_autopay_notice_date",
    "billing_autopay_notice_amount",
    "billing_autopay_transaction_id",
}


class AccountMove(models.Model):
    """AutoPay (#13) on the invoice: whether and when the client's saved card pays it.

    Posting an invoice of an enrolled client schedules it (and emails the notice); the daily
    job ``_cron_billing_autopay`` charges what is due through Odoo's own offline payment
    transactions, which create, post and reconcile the payment. Each charge is made exactly
    once: the invoice row is locked, and AutoPay's own transaction (the invoice's
    ``billing_autopay_transaction_id``) that charged or may have charged it
    (OPEN_TRANSACTION_STATES) is settled instead of charging again. Other payments of the
    invoice (the client's online payment, staff's payment with the same card) are never taken
    for AutoPay's: AutoPay waits while one may still go through, and charges what they left.
    """

    _inherit = "account.move"

    billing_autopay_state = fields.Selection(
        AUTOPAY_STATES,
        string="AutoPay",
        copy=False,
        index="btree_not_null",
        help="Scheduled: the card will be charged on the AutoPay date. Charged: paid by the "
        "card. Failed: declined (retried up to the practice's maximum). Held: staff hold it "
        "(disputed, insurance pending). Skipped: not charged, the reason says why.",
    )
    billing_autopay_date = fields.Date(
        string="AutoPay Date", copy=False, help="When the saved card will be charged."
    )
    billing_autopay_hold = fields.Boolean(
        string="AutoPay Hold",
        copy=False,
        tracking=True,
        help="Never charged automatically while held (disputed, insurance pending).",
    )
    billing_autopay_attempts = fields.Integer(string="AutoPay Attempts", copy=False, readonly=True)
    billing_autopay_reason = fields.Char(
        string="AutoPay Note",
        copy=False,
        readonly=True,
        help="Why the invoice was not charged, or the provider's answer to the last attempt.",
    )
    billing_autopay_amount = fields.Monetary(
        string="AutoPay Amount",
        compute="_compute_billing_autopay_amount",
        help="What the card will be charged: the amount due, less the late-cancellation and "
        "no-show fees an HSA/FSA card does not pay.",
    )
    billing_autopay_excluded_amount = fields.Monetary(
        string="Left for Another Payment",
        compute="_compute_billing_autopay_amount",
        help="Late-cancellation and no-show fees the client's HSA/FSA card is never charged.",
    )
    # Billing staff only: an invoice shared in the portal (a household's) would show another
    # person's card. The client reads it in AutoPay's emails (rendered by the system) and on
    # their own AutoPay page (from their own record).
    billing_autopay_card = fields.Char(
        string="AutoPay Card",
        compute="_compute_billing_autopay_card",
        compute_sudo=True,
        groups="practice_billing.group_billing_user",
        help="The client's saved card AutoPay charges.",
    )
    billing_autopay_notice_date = fields.Date(
        string="Notified Charge Date",
        copy=False,
        readonly=True,
        help="The charge date the client's last AutoPay notice gave (empty: no charge "
        "announced). Release sends a new notice only when this date has passed or the "
        "amount changed.",
    )
    billing_autopay_notice_amount = fields.Monetary(
        string="Notified Amount",
        copy=False,
        readonly=True,
        help="The amount the client's last AutoPay notice gave.",
    )

    # AutoPay's charges are told from other payments of the invoice by this link, not by the
    # transaction's operation: staff's Register Payment with the saved card is "offline" too.
    billing_autopay_transaction_id = fields.Many2one(
        "payment.transaction",
        string="AutoPay Charge",
        copy=False,
        readonly=True,
        index="btree_not_null",
        groups="practice_billing.group_billing_user",
        help="The last charge of the client's card AutoPay made for this invoice.",
    )
    billing_autopay_unanswered = fields.Boolean(
        string="AutoPay Charge Unanswered",
        compute="_compute_billing_autopay_unanswered",
        compute_sudo=True,
        help="A charge of the card got no answer from the provider: AutoPay does not charge "
        "the invoice again until staff check it.",
    )

    # ------------------------------------------------------------------ integrity
    def write(self, vals):
        """Override: the AutoPay state decides when a client's card is charged; it changes
        through posting, Hold, Release and Charge Now (which check the role) and the daily
        job, never by a write of staff (a date moved before the notice's end, attempts
        reset, a hold lifted without its new notice)."""
        self._billing_autopay_check_direct_change(vals)
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        """Override: an invoice is never made already scheduled (posting schedules it)."""
        for vals in vals_list:
            self._billing_autopay_check_direct_change(vals)
        return super().create(vals_list)

    def _billing_autopay_check_direct_change(self, vals):
        if not self.env.su and AUTOPAY_MOVE_FIELDS.intersection(vals):
            raise AccessError(
                self.env._(
                    "AutoPay on an invoice changes with its buttons (Hold AutoPay, Release "
                    "AutoPay, Charge Now), not by editing its fields."
                )
            )

    # ------------------------------------------------------------------ amounts
    @api.depends("amount_residual", "invoice_line_ids.price_total", "partner_id")
    def _compute_billing_autopay_amount(self):
        for invoice in self:
            excluded = sum(invoice._billing_autopay_excluded_lines().mapped("price_total"))
            invoice.billing_autopay_excluded_amount = excluded
            amount = max(invoice.amount_residual - excluded, 0.0)
            # A draft being edited may have no currency yet (Odoo's form allows it).
            currency = invoice.currency_id
            invoice.billing_autopay_amount = currency.round(amount) if currency else amount

    @api.depends("partner_id")
    def _compute_billing_autopay_card(self):
        for invoice in self:
            invoice.billing_autopay_card = invoice.partner_id.billing_autopay_token_id.display_name

    @api.depends("transaction_ids.state", "billing_autopay_transaction_id.state")
    def _compute_billing_autopay_unanswered(self):
        for invoice in self:
            transaction = invoice._billing_autopay_open_transaction()
            invoice.billing_autopay_unanswered = bool(
                transaction and invoice._billing_autopay_unanswered(transaction)
            )

    def _billing_autopay_excluded_lines(self):
        """The lines the client's card never pays: an HSA/FSA card's late-cancellation and
        no-show fees (left for another payment, in full, whatever else was paid)."""
        self.ensure_one()
        if not self.partner_id.sudo().billing_autopay_hsa:
            return self.env["account.move.line"]
        return self.invoice_line_ids.filtered(
            lambda line: (
                line.billing_session_id.sudo().billing_attendance in HSA_EXCLUDED_ATTENDANCE
            )
        )

    # ------------------------------------------------------------------ scheduling
    def _post(self, soft=True):
        """Override of `account`: posted invoices of AutoPay clients are scheduled."""
        posted = super()._post(soft=soft)
        posted.filtered(lambda m: m._billing_autopay_applies()).sudo()._billing_autopay_schedule()
        return posted

    def _billing_autopay_applies(self):
        """Whether AutoPay should schedule this invoice now that it is posted: a customer
        invoice of an enrolled client, in a practice with AutoPay on, not held nor handled
        yet."""
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.company_id.billing_autopay_enabled
            and not self.billing_autopay_state
            and bool(self.partner_id._billing_autopay_active())
            and self.partner_id._billing_autopay_consented_to(self.company_id)
        )

    def button_draft(self):
        """Override of `account`: an invoice back in draft is not charged; posted again, it
        is scheduled again with a new notice (its amount may have changed)."""
        result = super().button_draft()
        self.filtered(
            lambda m: m.billing_autopay_state in ("scheduled", "failed", "skipped")
        ).sudo().write({"billing_autopay_state": False, "billing_autopay_date": False})
        self.filtered("billing_autopay_notice_date").sudo()._billing_autopay_forget_notice()
        return result

    def _billing_autopay_schedule(self):
        """Schedule each invoice for the notice's end and tell its client, or skip it with
        the reason (above the client's limit, nothing an HSA/FSA card pays)."""
        for invoice in self:
            today = invoice.company_id._billing_local_date(fields.Datetime.now())
            if invoice.billing_autopay_hold:
                invoice.write({"billing_autopay_state": "held", "billing_autopay_date": False})
                continue
            refusal = invoice._billing_autopay_refusal()
            if refusal:
                invoice._billing_autopay_skip(refusal, tell_client=True)
                continue
            invoice._billing_autopay_announce(
                today + timedelta(days=invoice.company_id.billing_autopay_notice_days)
            )

    def _billing_autopay_announce(self, charge_date):
        """Schedule the charge for ``charge_date`` and email the client the notice, keeping
        the date and amount it gives (what the client was told)."""
        self.ensure_one()
        self.write(
            {
                "billing_autopay_state": "scheduled",
                "billing_autopay_date": charge_date,
                "billing_autopay_reason": False,
                "billing_autopay_notice_date": charge_date,
                "billing_autopay_notice_amount": self.billing_autopay_amount,
            }
        )
        self._billing_autopay_tell_client("practice_billing.mail_template_autopay_notice")

    def _billing_autopay_forget_notice(self):
        """The client's last notice no longer holds (told otherwise, or the invoice was
        reset to draft): a charge needs a new one."""
        self.write({"billing_autopay_notice_date": False, "billing_autopay_notice_amount": 0.0})

    def _billing_autopay_notice_holds(self, today):
        """Whether the client's last notice announces this very charge: the amount due now,
        on a date not passed yet (a charge the client was not told of is never made)."""
        self.ensure_one()
        return bool(
            self.billing_autopay_notice_date
            and self.billing_autopay_notice_date >= today
            and not self.currency_id.compare_amounts(
                self.billing_autopay_notice_amount, self.billing_autopay_amount
            )
        )

    def _billing_autopay_above_notice(self):
        """Why this charge is not the one the client was told of (empty when it is): more
        than their last notice said (a payment cancelled since, e.g. a bounced cheque), or
        no notice at all. Such a charge is announced anew, never made."""
        self.ensure_one()
        if not self.billing_autopay_notice_date:
            return self.env._("The client has no notice of this charge.")
        if (
            self.currency_id.compare_amounts(
                self.billing_autopay_amount, self.billing_autopay_notice_amount
            )
            > 0
        ):
            return self.env._(
                "%(amount)s is due, more than the %(notified)s the client was told.",
                amount=self._billing_autopay_money(self.billing_autopay_amount),
                notified=self._billing_autopay_money(self.billing_autopay_notice_amount),
            )
        return ""

    def _billing_autopay_refusal(self):
        """Why the card must not pay this invoice's amount (empty when it may)."""
        self.ensure_one()
        amount = self.billing_autopay_amount
        if self.currency_id.is_zero(amount):
            return self.env._(
                "Nothing to charge: what is due is late-cancellation or no-show fees, which an "
                "HSA/FSA card does not pay."
            )
        limit = self.partner_id.sudo().billing_autopay_limit
        if limit and self.currency_id.compare_amounts(amount, limit) > 0:
            return self.env._(
                "%(amount)s is above the AutoPay limit of %(limit)s.",
                amount=self._billing_autopay_money(amount),
                limit=self._billing_autopay_money(limit),
            )
        return ""

    def _billing_autopay_money(self, amount):
        return format_amount(self.env, amount, self.currency_id)

    def _billing_autopay_skip(self, reason, tell_client=False):
        """Leave the invoice uncharged for ``reason``; tell the client and staff if asked."""
        self.ensure_one()
        self.write(
            {
                "billing_autopay_state": "skipped",
                "billing_autopay_date": False,
                "billing_autopay_reason": reason,
            }
        )
        if tell_client:
            self._billing_autopay_forget_notice()
            self._billing_autopay_tell_client("practice_billing.mail_template_autopay_skipped")
            self.partner_id._billing_schedule_activity(
                self,
                self.env._("AutoPay did not charge %(invoice)s", invoice=self.name),
                [reason, self.env._("The client was asked to pay it another way.")],
                self.company_id,
            )

    def _billing_autopay_tell_client(self, template_xmlid):
        """Email the invoice's client (their payer) the AutoPay ``template``: amounts, card,
        dates and links only, nothing clinical."""
        self.ensure_one()
        self._portal_ensure_token()
        self.message_post_with_source(
            template_xmlid, subtype_xmlid="mail.mt_comment", partner_ids=self.partner_id.ids
        )

    # ------------------------------------------------------------------ staff
    def _billing_autopay_check_staff(self, group_xmlid):
        """Staff actions check the user's group and their access to the invoices before
        the work is done as the system (payment providers are not the user's to read)."""
        if not self.env.user.has_group(group_xmlid):
            raise AccessError(self.env._("Only billing staff can change AutoPay on invoices."))
        self.check_access("write")

    def action_billing_autopay_hold(self):
        """Staff: never charge these invoices automatically (disputed, insurance pending)."""
        self._billing_autopay_check_staff("practice_billing.group_billing_user")
        for invoice in self.sudo():
            if invoice.billing_autopay_state == "charged":
                raise UserError(
                    self.env._(
                        "%(invoice)s was already charged to the client's card; hold has no "
                        "effect. Refund the payment instead.",
                        invoice=invoice.name,
                    )
                )
            invoice.write(
                {
                    "billing_autopay_hold": True,
                    "billing_autopay_state": "held",
                    "billing_autopay_date": False,
                }
            )

    def action_billing_autopay_release(self):
        """Staff: let AutoPay charge these held invoices again. The client is emailed only
        when what they were told changes: a new notice (and date) unless their last one
        still holds, or why the card will not pay it."""
        self._billing_autopay_check_staff("practice_billing.group_billing_user")
        for invoice in self.sudo():
            refusal = invoice._billing_autopay_release_refusal()
            if refusal:
                raise UserError(refusal)
            invoice.billing_autopay_hold = False
            invoice._billing_autopay_after_release()

    def _billing_autopay_release_refusal(self):
        """Why Release makes no sense for this invoice (empty when it does)."""
        self.ensure_one()
        if not self.billing_autopay_hold:
            return self.env._(
                "%(invoice)s is not held: there is nothing to release.",
                invoice=self.display_name,
            )
        if self.state == "cancel":
            return self.env._(
                "%(invoice)s is cancelled: AutoPay never charges it.", invoice=self.display_name
            )
        if self.payment_state in SETTLED_PAYMENT_STATES:
            return self.env._(
                "%(invoice)s is already paid: AutoPay has nothing to charge.",
                invoice=self.display_name,
            )
        return ""

    def _billing_autopay_after_release(self):
        """The hold lifted: a draft waits for its posting (which schedules it); a client's
        paused or ended AutoPay skips it until resumed (which schedules it, with a notice);
        an amount the card must not pay is skipped (the client told, unless they were told
        this already); otherwise it is charged on the date of the client's last notice when
        that still holds, else after a new one (a full set of attempts)."""
        self.ensure_one()
        self.write({"billing_autopay_state": False, "billing_autopay_date": False})
        if self.state != "posted" or not self.company_id.billing_autopay_enabled:
            return
        if not (
            self.partner_id._billing_autopay_active()
            and self.partner_id._billing_autopay_consented_to(self.company_id)
        ):
            self._billing_autopay_skip(
                self.env._(
                    "AutoPay is paused, ended or without a card for %(client)s.",
                    client=self.partner_id.display_name,
                )
            )
            return
        refusal = self._billing_autopay_refusal()
        if refusal:
            told = not self.billing_autopay_notice_date and self.billing_autopay_reason == refusal
            self._billing_autopay_skip(refusal, tell_client=not told)
            return
        today = self.company_id._billing_local_date(fields.Datetime.now())
        if self._billing_autopay_notice_holds(today):
            self.write(
                {
                    "billing_autopay_state": "scheduled",
                    "billing_autopay_date": self.billing_autopay_notice_date,
                    "billing_autopay_reason": False,
                }
            )
            return
        self.billing_autopay_attempts = 0
        self._billing_autopay_announce(
            today + timedelta(days=self.company_id.billing_autopay_notice_days)
        )

    def _billing_autopay_schedule_again(self):
        """Schedule these invoices afresh, as when they were posted: a new notice, a new
        date, a full set of attempts (those still posted whose client's AutoPay applies;
        the others are left unscheduled)."""
        self.write(
            {
                "billing_autopay_state": False,
                "billing_autopay_date": False,
                "billing_autopay_attempts": 0,
            }
        )
        self.filtered(
            lambda m: m.state == "posted" and m._billing_autopay_applies()
        )._billing_autopay_schedule()

    @api.model
    def _billing_autopay_schedule_again_for(self, clients):
        """When ``clients`` resume AutoPay or enroll (again): their unpaid invoices AutoPay
        skipped (paused, ended, no card, the card's provider) or gave up on (declined) are
        scheduled again, each with a new notice. Invoices staff hold stay held; those the
        client's limit or HSA/FSA card still refuses stay skipped (the client was told)."""
        invoices = self.sudo().search(
            [
                ("partner_id", "in", clients.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("billing_autopay_state", "in", ("skipped", "failed")),
                ("billing_autopay_hold", "=", False),
                ("payment_state", "not in", SETTLED_PAYMENT_STATES),
            ],
            order="id",
        )
        invoices.filtered(
            lambda m: not m._billing_autopay_refusal()
        )._billing_autopay_schedule_again()

    def action_billing_autopay_cancel_unanswered(self):
        """Staff, once the provider confirmed it did not charge the card: cancel the charge
        that got no answer, so that AutoPay charges the invoice on its next run."""
        self._billing_autopay_check_staff("practice_billing.group_billing_manager")
        for invoice in self.sudo():
            if not invoice._billing_autopay_lock():
                raise UserError(
                    self.env._(
                        "%(invoice)s is being charged right now by the scheduled job; "
                        "reload the invoice in a moment.",
                        invoice=invoice.name,
                    )
                )
            transaction = invoice._billing_autopay_open_transaction()
            if not transaction or not invoice._billing_autopay_unanswered(transaction):
                raise UserError(
                    self.env._(
                        "%(invoice)s has no unanswered AutoPay charge to cancel.",
                        invoice=invoice.name,
                    )
                )
            transaction._set_canceled(
                state_message=self.env._(
                    "Cancelled by %(user)s: the provider did not charge the card.",
                    user=self.env.user.name,
                )
            )
            invoice.billing_autopay_reason = False
            summary = invoice._billing_autopay_unanswered_summary(transaction)
            invoice.activity_ids.filtered(
                lambda a, summary=summary: a.summary == summary
            ).action_feedback(
                feedback=self.env._("Charge cancelled; AutoPay charges the invoice again.")
            )

    def action_billing_autopay_charge_now(self):
        """Staff: charge the card now, by the same path (and lock) as the daily job."""
        self._billing_autopay_check_staff("practice_billing.group_billing_manager")
        for invoice in self.sudo():
            # Under the lock, so that what is checked is what is charged.
            if not invoice._billing_autopay_lock():
                raise UserError(
                    self.env._(
                        "%(invoice)s is being charged right now by the scheduled job; "
                        "reload the invoice in a moment.",
                        invoice=invoice.display_name,
                    )
                )
            invoice._billing_autopay_post_process_other_payments()
            refusal = invoice._billing_autopay_charge_now_refusal()
            if refusal:
                raise UserError(
                    self.env._(
                        "%(invoice)s cannot be charged: %(reason)s",
                        invoice=invoice.display_name,
                        reason=refusal,
                    )
                )
            invoice._billing_autopay_charge()
        self._billing_autopay_trigger_receipts()

    def _billing_autopay_charge_now_refusal(self):
        """Why Charge Now must not charge this invoice (empty when it may): it charges
        only an invoice AutoPay scheduled (its client was told) or is retrying, with no
        charge waiting for an answer, and nothing the daily job would refuse."""
        self.ensure_one()
        if self.state == "draft":
            return self.env._(
                "The invoice is a draft. Post it: AutoPay schedules it and emails the notice."
            )
        if self.state == "cancel":
            return self.env._("The invoice is cancelled.")
        if self.payment_state in SETTLED_PAYMENT_STATES:
            return self.env._("The invoice is already paid.")
        transaction = self._billing_autopay_open_transaction()
        if transaction and transaction.state != "done":  # a done one is settled, not charged
            if self._billing_autopay_unanswered(transaction):
                return self._billing_autopay_unanswered_reason(transaction)
            return self._billing_autopay_waiting_reason(transaction)
        return (
            self._billing_autopay_state_refusal()
            or self._billing_autopay_blocker()
            or self._billing_autopay_above_notice()
        )

    def _billing_autopay_state_refusal(self):
        """Why the invoice's AutoPay state lets no one charge it (empty when scheduled or
        retrying)."""
        state = self.billing_autopay_state
        if self.billing_autopay_hold or state == "held":
            return self.env._(
                "Staff hold it. Release AutoPay first (the client is told before a charge)."
            )
        if state == "charged":
            return self.env._("AutoPay already charged it.")
        if state == "skipped":
            return self.env._(
                "AutoPay skipped it: %(reason)s", reason=self.billing_autopay_reason or ""
            )
        if state not in ("scheduled", "failed"):
            return self.env._(
                "AutoPay does not charge it: its client was not enrolled in AutoPay when it "
                "was posted, so no notice was sent."
            )
        if not self.company_id.billing_autopay_enabled:
            return self.env._(
                "AutoPay is off in %(practice)s (Settings).", practice=self.company_id.name
            )
        return ""

    # ------------------------------------------------------------------ the daily job
    @api.model
    def _cron_billing_autopay(self):
        """Daily: charge each practice's due AutoPay invoices, CHARGE_BATCH at a time (one
        invoice's failure never stops the others; a crash never charges twice)."""
        companies = self.env["res.company"].sudo().search([("billing_autopay_enabled", "=", True)])
        for company in companies:
            today = company._billing_local_date(fields.Datetime.now())
            due = self.sudo().search(self._billing_autopay_due_domain(company, today), order="id")
            for start in range(0, len(due), CHARGE_BATCH):
                due[start : start + CHARGE_BATCH]._billing_autopay_charge_or_log()
                done = min(start + CHARGE_BATCH, len(due))
                self.env["ir.cron"]._notify_progress(done=done, remaining=len(due) - done)
            if due:
                self._billing_autopay_trigger_receipts()

    @api.model
    def _billing_autopay_due_domain(self, company, today):
        """The invoices whose charge (or retry) is due in ``company`` on ``today``."""
        return [
            ("company_id", "=", company.id),
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("billing_autopay_state", "in", ("scheduled", "failed")),
            ("billing_autopay_date", "<=", today),
            ("billing_autopay_hold", "=", False),
        ]

    def _billing_autopay_charge_or_log(self):
        """Charge these invoices together; if anything breaks, undo what was not committed
        and charge them one by one, an invoice that breaks noted on its chatter for staff
        (answers already committed are settled, never charged again)."""
        try:
            with self._billing_autopay_unless_committing():
                self._billing_autopay_charge()
        except Exception:  # retried one by one below
            _logger.info("AutoPay: batch %s failed, charging one by one", self.ids, exc_info=True)
            self._billing_autopay_rollback()
            for invoice in self:
                invoice._billing_autopay_charge_one_or_log()

    def _billing_autopay_charge_one_or_log(self):
        """Charge this invoice alone; if something breaks, note it on the invoice."""
        self.ensure_one()
        try:
            with self._billing_autopay_unless_committing():
                self._billing_autopay_charge()
        except Exception as error:  # one invoice fails, the job goes on
            self._billing_autopay_note_failure(error)

    def _billing_autopay_note_failure(self, error):
        """Undo what was not committed and tell staff on the invoice why it was not
        charged."""
        _logger.exception("AutoPay: invoice %s not charged", self.id)
        self._billing_autopay_rollback()
        self.message_post(
            body=self.env._(
                "AutoPay could not charge this invoice: %(error)s",
                error=str(error) or type(error).__name__,
            )
        )
        self._billing_autopay_commit()

    def _billing_autopay_unless_committing(self):
        """Where nothing is committed (tests), a savepoint stands for the commits."""
        if self._billing_autopay_can_commit():
            return contextlib.nullcontext()
        return self.env.cr.savepoint()

    def _billing_autopay_charge(self):
        """Charge these invoices' due amounts to their clients' cards, each exactly once.

        Returns the invoices this worker held; the others are being charged by another
        worker right now. In three steps: the transactions of all of them are created and
        committed before the provider is asked (a crash after an answer leaves a
        transaction to settle, never a second charge); each charge is asked for and its
        answer committed at once; the answers are settled together (Odoo's
        post-processing: payments created, posted, reconciled) and committed.
        """
        invoices = self._billing_autopay_lock()
        to_settle, to_send = {}, {}
        for invoice in invoices:
            invoice._billing_autopay_prepare(to_settle, to_send)
        self._billing_autopay_commit()
        for invoice, transaction in to_send.items():
            if invoice._billing_autopay_send(transaction):
                to_settle[invoice] = transaction
        for invoice, transaction in to_settle.items():
            # Each settlement reads (and Odoo's reconciliation recomputes) its own invoice,
            # not the whole batch's, while the journal and accounts stay cached for all.
            invoice.with_prefetch()._billing_autopay_settle(transaction.with_prefetch())
        self._billing_autopay_commit()
        return invoices

    def _billing_autopay_prepare(self, to_settle, to_send):
        """Under the lock, once Odoo has post-processed the invoice's other confirmed
        payments: an invoice with a charge of AutoPay's that charged it or may still goes
        to ``to_settle`` (one never answered to staff); one with another payment that may
        still go through waits for it (the note says which); one that may be charged gets
        its transaction, in ``to_send``; any other is skipped, with the reason."""
        self.ensure_one()
        self._billing_autopay_post_process_other_payments()
        transaction = self._billing_autopay_open_transaction()
        if transaction and self._billing_autopay_unanswered(transaction):
            self._billing_autopay_ask_staff_to_check(transaction)
        elif self._billing_autopay_is_own(transaction):
            to_settle[self] = transaction
        elif transaction:
            self._billing_autopay_note_waiting(transaction)
        elif blocker := self._billing_autopay_blocker():
            self._billing_autopay_skip(blocker)
        elif self._billing_autopay_above_notice():
            today = self.company_id._billing_local_date(fields.Datetime.now())
            self._billing_autopay_announce(
                today + timedelta(days=self.company_id.billing_autopay_notice_days)
            )
        else:
            to_send[self] = self._billing_autopay_create_transaction()

    def _billing_autopay_send(self, transaction):
        """Ask the provider to charge ``transaction`` and commit its answer at once; returns
        whether it answered. A request that breaks (a timeout: the card may or may not have
        been charged) leaves the transaction open, never charged again, and is noted on
        the invoice; the batch's other charges go on."""
        try:
            with self._billing_autopay_unless_committing():
                transaction._send_payment_request()
        except Exception as error:  # this charge waits for its answer, the others go on
            self._billing_autopay_note_failure(error)
            return False
        self._billing_autopay_commit()  # the answer is kept, whatever happens next
        return True

    def _billing_autopay_lock(self):
        """Lock the invoices' rows and return those locked, freshly read; an invoice another
        worker holds is left out. Under Odoo's repeatable read, a row another worker changed
        and committed since this transaction began raises a serialization failure instead:
        either way the invoice is charged once (creating a transaction writes its row)."""
        self.env.cr.execute(
            SQL(
                "SELECT id FROM account_move WHERE id IN %s FOR UPDATE SKIP LOCKED", tuple(self.ids)
            )
        )
        locked = self.browse(row[0] for row in self.env.cr.fetchall())
        locked.invalidate_recordset()
        return locked

    def _billing_autopay_open_transaction(self):
        """The transaction that stops AutoPay charging this invoice now (empty when none):
        AutoPay's own charge that charged the card or may still (settled, never charged
        again), else another payment of the invoice that may still go through (waited for,
        never settled as AutoPay's)."""
        self.ensure_one()
        return (
            self._billing_autopay_own_open_transaction()
            or self._billing_autopay_other_payment_in_flight()
        )

    def _billing_autopay_own_open_transaction(self):
        """AutoPay's last charge of this invoice if it charged the card or may still."""
        transaction = self.sudo().billing_autopay_transaction_id
        if transaction.state in OPEN_TRANSACTION_STATES or self._billing_autopay_draft_may_charge(
            transaction, fields.Datetime.now() - CLIENT_PAYING_WAIT
        ):
            return transaction
        return transaction.browse()

    def _billing_autopay_is_own(self, transaction):
        """Whether ``transaction`` is AutoPay's charge of this invoice (not a payment the
        client or staff made, even with the same card)."""
        return bool(transaction) and transaction == self.sudo().billing_autopay_transaction_id

    def _billing_autopay_other_payments(self):
        """The invoice's transactions AutoPay did not make, refunds aside."""
        invoice = self.sudo()
        return (invoice.transaction_ids - invoice.billing_autopay_transaction_id).filtered(
            lambda tx: tx.operation != "refund"
        )

    def _billing_autopay_other_payment_in_flight(self):
        """The latest payment of this invoice AutoPay did not make that may still go
        through: unanswered by the provider yet (pending, authorized), or a draft that may
        charge (_billing_autopay_draft_may_charge)."""
        started_since = fields.Datetime.now() - CLIENT_PAYING_WAIT
        return (
            self._billing_autopay_other_payments()
            .filtered(
                lambda tx: (
                    tx.state in IN_FLIGHT_TRANSACTION_STATES
                    or self._billing_autopay_draft_may_charge(tx, started_since)
                )
            )
            .sorted("id")[-1:]
        )

    def _billing_autopay_post_process_other_payments(self):
        """Under the lock: have Odoo post-process the invoice's other payments the provider
        confirmed, as its own job (payment.transaction._cron_post_process) would soon, so
        that their payment is made and reconciled and the amount due, which AutoPay
        charges, is what they left. A payment made twice is refused by Odoo's own check
        (the transaction's payment), and a worker racing on it fails on its row."""
        confirmed = self._billing_autopay_other_payments().filtered(
            lambda tx: tx.state == "done" and not tx.is_post_processed
        )
        if confirmed:
            confirmed._post_process()

    @api.model
    def _billing_autopay_draft_may_charge(self, transaction, started_since):
        """Whether a draft ``transaction`` may yet charge the card. An offline one may
        (AutoPay's: committed before the provider is asked, it may have reached it; one
        AutoPay made before it kept its link is taken as such). A payment the client
        started online is a draft until they submit it on the provider's page: it may
        while it began after ``started_since``, and is abandoned after that (Odoo never
        submitted it)."""
        return transaction.state == "draft" and (
            transaction.operation == "offline" or transaction.create_date > started_since
        )

    def _billing_autopay_blocker(self):
        """Why AutoPay must not charge this invoice now (empty when it may): checked again
        under the lock, as anything may have changed since it was scheduled."""
        self.ensure_one()
        if self.state != "posted" or self.move_type != "out_invoice":
            return self.env._("The invoice is not posted.")
        if self.payment_state in SETTLED_PAYMENT_STATES:
            return self.env._("The invoice was paid another way.")
        if self.billing_autopay_hold:
            return self.env._("Staff hold the invoice.")
        if not self.partner_id._billing_autopay_active():
            return self.env._(
                "AutoPay is paused, ended or without a card for %(client)s.",
                client=self.partner_id.display_name,
            )
        provider = self.partner_id.sudo().billing_autopay_token_id.provider_id
        if provider.state == "disabled" or provider.company_id != self.company_id:
            return self.env._(
                "The card's payment provider %(provider)s is disabled or belongs to another "
                "practice; enable it (Invoicing > Configuration > Payment Providers) or ask "
                "the client for another card.",
                provider=provider.name,
            )
        return self._billing_autopay_refusal()

    def _billing_autopay_create_transaction(self):
        """Create the offline transaction charging the client's card for this invoice, as
        `account_payment` does for a payment by token, and count the attempt."""
        self.ensure_one()
        token = self.partner_id.sudo().billing_autopay_token_id
        transaction = (
            self.env["payment.transaction"]
            .sudo()
            .create(
                {
                    "provider_id": token.provider_id.id,
                    "payment_method_id": token.payment_method_id.id,
                    "reference": self.env["payment.transaction"]
                    .sudo()
                    ._compute_reference(
                        token.provider_id.code, invoice_ids=[Command.set(self.ids)]
                    ),
                    "amount": self.billing_autopay_amount,
                    "currency_id": self.currency_id.id,
                    "partner_id": self.partner_id.id,
                    "token_id": token.id,
                    "operation": "offline",
                    "invoice_ids": [Command.set(self.ids)],
                }
            )
        )
        # Writing the invoice row with the transaction is what makes a worker that read the
        # invoice before this commit fail on its lock rather than charge it again; the link
        # tells AutoPay's charge from the invoice's other payments ever after.
        self.write(
            {
                "billing_autopay_transaction_id": transaction.id,
                "billing_autopay_attempts": self.billing_autopay_attempts + 1,
            }
        )
        return transaction

    def _billing_autopay_settle(self, transaction):
        """Apply the provider's answer to AutoPay's own charge ``transaction``: paid,
        waiting, or declined."""
        self.ensure_one()
        if transaction.state == "done":
            self._billing_autopay_charged(transaction)
        elif transaction.state in ("error", "cancel"):
            self._billing_autopay_declined(transaction)
        else:
            self._billing_autopay_note_waiting(transaction)

    def _billing_autopay_note_waiting(self, transaction):
        """Say on the invoice which transaction AutoPay waits for (once, not every run)."""
        reason = self._billing_autopay_waiting_reason(transaction)
        if self.billing_autopay_reason != reason:
            self.billing_autopay_reason = reason

    def _billing_autopay_unanswered(self, transaction):
        """Whether ``transaction`` was never answered: still in draft long after it was
        created, so the worker that asked the provider died before the answer came."""
        return (
            transaction.state == "draft"
            and transaction.operation == "offline"
            and transaction.create_date < fields.Datetime.now() - UNANSWERED_AFTER
        )

    def _billing_autopay_ask_staff_to_check(self, transaction):
        """An unanswered charge blocks charging the invoice again (the card may have been
        charged): staff are asked, once per transaction, to check it with the provider."""
        self.ensure_one()
        reason = self._billing_autopay_unanswered_reason(transaction)
        if self.billing_autopay_reason == reason:
            return
        self.billing_autopay_reason = reason
        self.partner_id._billing_schedule_activity(
            self,
            self._billing_autopay_unanswered_summary(transaction),
            [
                self.env._(
                    "The charge %(reference)s of %(amount)s for %(invoice)s got no answer from "
                    "%(provider)s: the card may or may not have been charged. AutoPay does not "
                    "charge %(invoice)s again while it is open.",
                    reference=transaction.reference,
                    amount=self._billing_autopay_money(transaction.amount),
                    invoice=self.name,
                    provider=transaction.provider_id.name,
                ),
                self.env._(
                    "Check %(reference)s with the provider. Not charged: cancel the "
                    "transaction (Cancel Unanswered Charge on the invoice), and AutoPay "
                    "charges the invoice on its next run. Charged: register the payment on "
                    "%(invoice)s, which marks it paid.",
                    reference=transaction.reference,
                    invoice=self.name,
                ),
            ],
            self.company_id,
        )

    def _billing_autopay_unanswered_reason(self, transaction):
        return self.env._(
            "No answer from the provider to %(reference)s; not charged again until staff check it.",
            reference=transaction.reference,
        )

    def _billing_autopay_unanswered_summary(self, transaction):
        return self.env._(
            "AutoPay: check the unanswered charge %(reference)s", reference=transaction.reference
        )

    def _billing_autopay_waiting_reason(self, transaction):
        if self._billing_autopay_is_own(transaction):
            return self.env._(
                "Waiting for the provider's answer to %(reference)s; not charged again meanwhile.",
                reference=transaction.reference,
            )
        if transaction.state == "draft" and transaction.operation != "offline":
            return self.env._(
                "The client started paying online (%(reference)s); not charged while that "
                "payment may still go through (an hour from its start).",
                reference=transaction.reference,
            )
        return self.env._(
            "Another payment of this invoice, %(reference)s, is waiting for the provider's "
            "answer; not charged while it may go through (AutoPay then charges what it "
            "left).",
            reference=transaction.reference,
        )

    def _billing_autopay_charged(self, transaction):
        """Odoo's post-processing creates, posts and reconciles the payment (once); the
        client's receipt follows in the background (_cron_billing_autopay_receipts)."""
        if not transaction.is_post_processed or not transaction.payment_id:
            transaction._post_process()
        self.write(
            {
                "billing_autopay_state": "charged",
                "billing_autopay_date": False,
                "billing_autopay_reason": False,
            }
        )

    def _billing_autopay_declined(self, transaction):
        """A declined charge is retried the next day, up to the practice's maximum; then
        AutoPay pauses for the client, who is emailed, and staff get the provider's reason."""
        transaction._post_process()  # Odoo cancels what it prepared for the payment
        reason = transaction.state_message or self.env._("The card was declined.")
        if self.billing_autopay_attempts < self.company_id.billing_autopay_max_attempts:
            tomorrow = self.company_id._billing_local_date(fields.Datetime.now()) + timedelta(1)
            self.write(
                {
                    "billing_autopay_state": "failed",
                    "billing_autopay_date": tomorrow,
                    "billing_autopay_reason": reason,
                }
            )
            return
        self.write(
            {
                "billing_autopay_state": "failed",
                "billing_autopay_date": False,
                "billing_autopay_reason": reason,
            }
        )
        self.partner_id._billing_autopay_pause(
            self.env._(
                "%(invoice)s declined %(count)s times: %(reason)s",
                invoice=self.name,
                count=self.billing_autopay_attempts,
                reason=reason,
            )
        )
        self._billing_autopay_tell_client("practice_billing.mail_template_autopay_paused")
        self.partner_id._billing_schedule_activity(
            self,
            self.env._("AutoPay paused: %(invoice)s declined", invoice=self.name),
            [
                self.env._(
                    "The card was declined %(count)s times for %(invoice)s; AutoPay is paused "
                    "for %(client)s.",
                    count=self.billing_autopay_attempts,
                    invoice=self.name,
                    client=self.partner_id.display_name,
                ),
                self.env._("The provider said: %(reason)s", reason=reason),
            ],
            self.company_id,
        )

    # ------------------------------------------------------------------ receipts
    @api.model
    def _cron_billing_autopay_receipts(self):
        """Triggered after charges: Odoo's receipt to each client charged by AutoPay, apart
        from the charging so that printing never slows it down."""
        companies = self.env["res.company"].sudo().search([("billing_autopay_enabled", "=", True)])
        for company in companies:
            self._billing_autopay_send_receipts(company)

    @api.model
    def _billing_autopay_trigger_receipts(self):
        """Have the receipts' job run now (once per batch of charges, not per charge)."""
        self.env.ref("practice_billing.ir_cron_autopay_receipts")._trigger()

    @api.model
    def _billing_autopay_send_receipts(self, company):
        """Email Odoo's payment receipt (its template and PDF) for each AutoPay payment of
        ``company`` not sent yet (Odoo's is_sent): a receipt missed by a crash goes with the
        next run. The PDFs of a batch are printed together, in one wkhtmltopdf process."""
        # As the system, in the payments' practice: receipts are the job's work, not a user's.
        # AutoPay's own charges only: another payment of the invoice (staff's, with the same
        # card) is not AutoPay's to tell the client of.
        charged = (
            self.sudo()
            .with_company(company)
            .search(
                [
                    ("company_id", "=", company.id),
                    ("billing_autopay_state", "=", "charged"),
                    ("billing_autopay_transaction_id.payment_id.is_sent", "=", False),
                ]
            )
        )
        payments = (
            charged.billing_autopay_transaction_id.payment_id.filtered(
                lambda p: not p.is_sent and p.state in ("in_process", "paid")
            )
        ).sorted("id")
        for start in range(0, len(payments), RECEIPT_BATCH):
            self._billing_autopay_send_receipt_batch(payments[start : start + RECEIPT_BATCH])
            self._billing_autopay_commit()

    @api.model
    def _billing_autopay_send_receipt_batch(self, payments):
        """Post Odoo's receipt email, PDF attached, to each payment's client, as Odoo's
        sending does for invoices: the template's subject and body, our own attachment."""
        template = self.env.ref("account.mail_template_data_payment_receipt")
        report = template.report_template_ids[:1]
        pdfs = (
            self.env["ir.actions.report"]
            .with_env(payments.env)
            ._render_pdf_each(report.report_name, payments.ids)
        )
        subjects = template._render_field("subject", payments.ids, compute_lang=True)
        bodies = template._render_field("body_html", payments.ids, compute_lang=True)
        for payment in payments:
            name = (
                safe_eval(report.print_report_name, {"object": payment, "time": time})
                if report.print_report_name
                else f"{report.name} {payment.name}"
            ).replace("/", "-")
            payment.message_post(
                subject=subjects[payment.id],
                body=bodies[payment.id],
                partner_ids=payment.partner_id.ids,
                subtype_xmlid="mail.mt_comment",
                attachments=[(f"{name}.pdf", pdfs[payment.id])],
            )
        payments.mark_as_sent()

    # ------------------------------------------------------------------ commits
    def _billing_autopay_can_commit(self):
        return self.env["practice.billing.run"]._can_commit()

    def _billing_autopay_commit(self):
        if self._billing_autopay_can_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _billing_autopay_rollback(self):
        if self._billing_autopay_can_commit():
            self.env.cr.rollback()
