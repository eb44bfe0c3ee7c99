import html
from datetime import date
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.mail.tests.common import MockEmail
from odoo.addons.payment.models.payment_transaction import PaymentTransaction

from ..models.account_move_autopay import AccountMove
from .autopay_common import AutopayFixtures
from .common import PracticeBillingCase

# The billing run of 2026-12-01 posts November's invoices at 01:00 in New York: with the
# practice's 3 days of notice, AutoPay charges them on the 4th.
RUN = "2026-12-01 06:00:00"
DAY = "2026-12-%02d 15:00:00"


@tagged("-at_install", "post_install")
class TestAutopayCharge(PracticeBillingCase, MockEmail, AutopayFixtures):
    """AutoPay charges enrolled clients' cards through Odoo's offline payment transactions,
    with Odoo's demo provider standing in for the card processor (the network edge)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {
                "billing_auto_invoice": True,
                "billing_autopay_enabled": True,
                "billing_no_show_percent": 50.0,
                "email": "billing@riverside.example",
            }
        )
        # Other practices of the database charge nothing here (their receipts neither).
        cls.env["res.company"].sudo().search([("id", "!=", cls.company.id)]).write(
            {"billing_autopay_enabled": False}
        )
        cls._create_people()
        cls.provider = cls._demo_provider(cls.env, cls.company)
        cls.card = cls._enroll(cls.env, cls.client_jane, cls.provider)

    # ------------------------------------------------------------------ helpers
    def _bill_november(self, client, sessions=2, **session_vals):
        for day in range(2, 2 + 7 * sessions, 7):
            self._create_session(client, f"2026-11-{day:02d} 15:00:00", **session_vals)
        with self.mock_mail_gateway():
            self._cron(RUN)
        self.mails_at_posting = self._mails
        return self._invoices_of(client)[-1:]

    def _autopay(self, day):
        """Run the daily AutoPay job on December ``day``; return the emails it sent."""
        with freeze_time(DAY % day), self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay()
        return self._mails

    def _transactions(self, invoice):
        return self.env["payment.transaction"].search(
            [("invoice_ids", "in", invoice.ids)], order="id"
        )

    def _mails_to(self, mails, address, subject_part):
        """The bodies (HTML entities read as text) of the emails to ``address`` whose
        subject says ``subject_part``."""
        return [
            html.unescape(m["body"])
            for m in mails
            if address in str(m["email_to"]) and subject_part in m["subject"]
        ]

    def _activities(self, invoice, summary_part):
        return invoice.activity_ids.filtered(lambda a: summary_part in (a.summary or ""))

    # ------------------------------------------------------------------ notice
    def test_posting_schedules_the_charge_and_emails_the_notice(self):
        invoice = self._bill_november(self.client_jane)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 4))
        notices = self._mails_to(self.mails_at_posting, "jane@example.com", "AutoPay will charge")
        self.assertEqual(len(notices), 1)
        body = notices[0]
        self.assertIn("$\xa0300.00", body)
        self.assertIn("4242", body)
        self.assertIn("12/04/2026", body)
        self.assertIn(invoice.get_portal_url().split("?")[0], body, "a link to pay another way")
        self.assertIn("/my/autopay", body, "a link to opt out")
        for clinical in ("Psychotherapy", "90837", "Maya Chen", "session"):
            self.assertNotIn(clinical, body)

    def test_a_practice_without_autopay_schedules_nothing(self):
        self.company.billing_autopay_enabled = False
        invoice = self._bill_november(self.client_jane)
        self.assertFalse(invoice.billing_autopay_state)
        self.assertFalse(self._mails_to(self.mails_at_posting, "jane@", "AutoPay"))

    def test_a_client_not_enrolled_or_paused_is_not_scheduled(self):
        self.client_jane._billing_autopay_pause("paused by staff")
        self.assertFalse(self._bill_november(self.client_jane).billing_autopay_state)
        self.assertFalse(self._bill_november(self.client_marcus).billing_autopay_state)

    # ------------------------------------------------------------------ charge
    def test_charged_once_on_its_date_paid_reconciled_with_odoos_receipt(self):
        invoice = self._bill_november(self.client_jane)
        self._autopay(3)
        self.assertFalse(self._transactions(invoice), "not before the notice has run out")
        mails = self._autopay(4)
        transaction = self._transactions(invoice)
        self.assertEqual(len(transaction), 1)
        self.assertRecordValues(
            transaction,
            [
                {
                    "state": "done",
                    "operation": "offline",
                    "amount": 300.0,
                    "token_id": self.card.id,
                    "partner_id": self.client_jane.id,
                }
            ],
        )
        self.assertTrue(transaction.reference.startswith(invoice.name))
        payment = transaction.payment_id
        self.assertEqual((payment.state, payment.amount), ("paid", 300.0))
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(invoice.billing_autopay_attempts, 1)
        self.assertFalse(self._mails_to(mails, "jane@", "Payment Receipt"), "printed apart")
        with self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay_receipts()
        receipts = [m for m in self._mails if "Payment Receipt" in m["subject"]]
        self.assertEqual(len(receipts), 1, "the client gets Odoo's receipt")
        self.assertIn("jane@example.com", str(receipts[0]["email_to"]))
        self.assertIn(payment.name, receipts[0]["subject"])
        self.assertIn("$\xa0300.00", html.unescape(receipts[0]["body"]))
        (name, content, _mimetype) = receipts[0]["attachments"][0]
        self.assertTrue(name.endswith(".pdf") and content.startswith(b"%PDF"), name)
        self.assertTrue(payment.is_sent)
        with self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay_receipts()
        self.assertFalse(self._mails, "one receipt per payment")
        self._autopay(5)
        self._autopay(6)
        self.assertEqual(len(self._transactions(invoice)), 1, "charged once")
        self.assertEqual(
            self.env["account.payment"].search_count([("partner_id", "=", self.client_jane.id)]),
            1,
        )

    def test_charges_what_is_still_due_never_more(self):
        invoice = self._bill_november(self.client_jane)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 100.0, "payment_date": "2026-12-02"})._create_payments()
        self._autopay(4)
        self.assertEqual(self._transactions(invoice).amount, 200.0)
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.billing_autopay_state, "charged")

    def test_an_invoice_paid_another_way_is_not_charged(self):
        invoice = self._bill_november(self.client_jane)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"payment_date": "2026-12-02"})._create_payments()
        self._autopay(4)
        self.assertFalse(self._transactions(invoice))
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("paid another way", invoice.billing_autopay_reason)

    def test_a_disabled_provider_charges_nothing_and_says_so(self):
        invoice = self._bill_november(self.client_jane)
        self.provider.state = "disabled"  # Odoo archives its saved cards
        self._autopay(4)
        self.assertFalse(self._transactions(invoice))
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("without a card for Jane Doe", invoice.billing_autopay_reason)

    def test_draft_and_cancelled_invoices_are_never_charged(self):
        drafted = self._bill_november(self.client_jane)
        drafted.button_draft()
        self.assertFalse(drafted.billing_autopay_state)
        self._autopay(4)
        self.assertFalse(self._transactions(drafted))
        drafted.button_cancel()
        self._autopay(5)
        self.assertFalse(self._transactions(drafted))

    def test_an_invoice_posted_again_gets_a_new_notice(self):
        invoice = self._bill_november(self.client_jane)
        invoice.button_draft()
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice.action_post()
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))
        self.assertEqual(len(self._mails_to(self._mails, "jane@", "AutoPay will charge")), 1)

    # ------------------------------------------------------------------ limit, HSA/FSA
    def test_above_the_limit_is_skipped_and_client_and_staff_are_told(self):
        self.client_jane.sudo().billing_autopay_limit = 250.0
        invoice = self._bill_november(self.client_jane)
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("above the AutoPay limit of $\xa0250.00", invoice.billing_autopay_reason)
        told = self._mails_to(self.mails_at_posting, "jane@example.com", "another way")
        self.assertEqual(len(told), 1)
        self.assertIn("above the AutoPay limit", told[0])
        self.assertFalse(self._mails_to(self.mails_at_posting, "jane@", "AutoPay will charge"))
        activity = self._activities(invoice, "AutoPay did not charge")
        self.assertEqual(len(activity), 1)
        self.assertIn("250.00", activity.note)
        self._autopay(4)
        self.assertFalse(self._transactions(invoice))

    def test_an_hsa_card_never_pays_no_show_fees(self):
        self.client_jane.sudo().billing_autopay_hsa = True
        self._create_session(self.client_jane, "2026-11-20 15:00:00", billing_attendance="no_show")
        invoice = self._bill_november(self.client_jane)
        self.assertEqual(invoice.amount_total, 375.0)
        self.assertEqual(invoice.billing_autopay_amount, 300.0)
        notice = self._mails_to(self.mails_at_posting, "jane@", "AutoPay will charge")[0]
        self.assertIn("$\xa0300.00", notice)
        self.assertIn("$\xa075.00", notice)
        self.assertIn("not charged to your HSA/FSA card", notice)
        self._autopay(4)
        self.assertEqual(self._transactions(invoice).amount, 300.0)
        self.assertEqual(invoice.amount_residual, 75.0, "the fee is left for another payment")
        self.assertEqual(invoice.billing_autopay_state, "charged")

    def test_an_hsa_card_with_only_fees_to_pay_is_skipped(self):
        self.client_jane.sudo().billing_autopay_hsa = True
        invoice = self._bill_november(self.client_jane, sessions=1, billing_attendance="no_show")
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("HSA/FSA", invoice.billing_autopay_reason)
        self.assertTrue(self._mails_to(self.mails_at_posting, "jane@", "another way"))
        self._autopay(4)
        self.assertFalse(self._transactions(invoice))

    # ------------------------------------------------------------------ hold
    def test_held_invoices_are_not_charged_until_released_with_a_new_notice(self):
        invoice = self._bill_november(self.client_jane)
        invoice.with_user(self.billing_user).action_billing_autopay_hold()
        self.assertEqual(invoice.billing_autopay_state, "held")
        self._autopay(4)
        self.assertFalse(self._transactions(invoice))
        with freeze_time(DAY % 10), self.mock_mail_gateway():
            invoice.with_user(self.billing_user).action_billing_autopay_release()
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 13))
        self.assertEqual(len(self._mails_to(self._mails, "jane@", "AutoPay will charge")), 1)
        self._autopay(12)
        self.assertFalse(self._transactions(invoice))
        self._autopay(13)
        self.assertEqual(invoice.billing_autopay_state, "charged")

    def test_only_billing_staff_hold_and_only_managers_charge_now(self):
        invoice = self._bill_november(self.client_jane)
        employee = new_test_user(self.env, login="employee", groups="base.group_user")
        with self.assertRaises(AccessError):
            invoice.with_user(employee).action_billing_autopay_hold()
        with self.assertRaises(AccessError):
            invoice.with_user(self.billing_user).action_billing_autopay_charge_now()
        with self.assertRaises(AccessError):
            invoice.with_user(self.portal_user).action_billing_autopay_charge_now()
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertFalse(self._transactions(invoice))

    def test_charge_now_charges_once(self):
        invoice = self._bill_november(self.client_jane)
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        self.assertEqual(invoice.billing_autopay_state, "charged")
        with self.assertRaises(UserError), freeze_time(DAY % 2):
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        self._autopay(4)
        self.assertEqual(len(self._transactions(invoice)), 1)

    # ------------------------------------------------------------------ declines
    def test_declines_are_retried_daily_then_autopay_pauses(self):
        self.card.demo_simulated_state = "error"
        invoice = self._bill_november(self.client_jane)
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "failed")
        self.assertEqual(invoice.billing_autopay_attempts, 1)
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))
        self.assertIn("demo payment status: error", invoice.billing_autopay_reason)
        self._autopay(5)
        self.assertEqual(invoice.billing_autopay_attempts, 2)
        self.assertFalse(self.client_jane.billing_autopay_paused)
        mails = self._autopay(6)
        self.assertEqual(invoice.billing_autopay_attempts, 3)
        self.assertEqual(invoice.billing_autopay_state, "failed")
        self.assertFalse(invoice.billing_autopay_date)
        self.assertTrue(self.client_jane.billing_autopay_paused)
        self.assertIn(invoice.name, self.client_jane.billing_autopay_pause_reason)
        paused = self._mails_to(mails, "jane@example.com", "AutoPay is paused")
        self.assertEqual(len(paused), 1)
        self.assertNotIn("Psychotherapy", paused[0])
        activity = self._activities(invoice, "AutoPay paused")
        self.assertEqual(len(activity), 1)
        self.assertIn("demo payment status: error", activity.note)
        self.assertIn(invoice.name, activity.summary)
        self.assertTrue(activity.user_id, "assigned to a staff member")
        self._autopay(7)
        self._autopay(8)
        self.assertEqual(len(self._transactions(invoice)), 3, "nothing charged while paused")
        self.assertEqual(invoice.amount_residual, 300.0)

    def test_a_cancelled_charge_is_a_decline(self):
        self.card.demo_simulated_state = "cancel"
        invoice = self._bill_november(self.client_jane)
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "failed")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))

    def test_a_pending_charge_is_never_charged_again_while_pending(self):
        self.card.demo_simulated_state = "pending"
        invoice = self._bill_november(self.client_jane)
        self._autopay(4)
        transaction = self._transactions(invoice)
        self.assertEqual(transaction.state, "pending")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertIn(transaction.reference, invoice.billing_autopay_reason)
        self._autopay(5)
        self._autopay(6)
        self.assertEqual(self._transactions(invoice), transaction)
        transaction.action_demo_set_done()  # the provider's notification, days later
        self._autopay(7)
        self.assertEqual(self._transactions(invoice), transaction)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(invoice.amount_residual, 0.0)

    # ------------------------------------------------------------------ scheduled again
    def _resume(self, day):
        with freeze_time(DAY % day), self.mock_mail_gateway():
            self.client_jane.with_user(self.billing_user).action_billing_autopay_resume()
        return self._mails_to(self._mails, "jane@example.com", "AutoPay will charge")

    def test_resuming_schedules_again_what_was_skipped_while_paused(self):
        invoice = self._bill_november(self.client_jane)
        self.client_jane.with_user(self.billing_user).action_billing_autopay_pause()
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("paused", invoice.billing_autopay_reason)
        notices = self._resume(10)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 13), "after a new notice")
        self.assertFalse(invoice.billing_autopay_reason)
        self.assertEqual(len(notices), 1)
        self.assertIn("12/13/2026", notices[0])
        self._autopay(12)
        self.assertFalse(self._transactions(invoice))
        self._autopay(13)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_resuming_after_declines_gives_the_invoice_a_new_notice_and_its_attempts(self):
        self.card.demo_simulated_state = "error"
        invoice = self._bill_november(self.client_jane)
        for day in (4, 5, 6):
            self._autopay(day)
        self.assertTrue(self.client_jane.billing_autopay_paused)
        self.assertEqual(
            (invoice.billing_autopay_state, invoice.billing_autopay_date), ("failed", False)
        )
        self.card.demo_simulated_state = "done"  # the client sorted it out with their bank
        self.assertEqual(len(self._resume(10)), 1)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 13))
        self.assertEqual(invoice.billing_autopay_attempts, 0)
        self._autopay(13)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(len(self._transactions(invoice)), 4)

    def test_resuming_leaves_paid_and_over_the_limit_invoices_alone(self):
        self.client_jane.sudo().billing_autopay_limit = 250.0
        over = self._bill_november(self.client_jane)
        self.assertEqual(over.billing_autopay_state, "skipped")
        self.client_jane.with_user(self.billing_user).action_billing_autopay_pause()
        self.assertFalse(self._resume(10), "no new notice: the limit still refuses it")
        self.assertEqual(over.billing_autopay_state, "skipped")
        self.assertEqual(len(self._activities(over, "AutoPay did not charge")), 1)

    def test_enrolling_a_new_card_schedules_again_what_the_removed_card_left(self):
        invoice = self._bill_november(self.client_jane)
        self.card.action_archive()  # the client removed their card
        self.assertTrue(self.client_jane.billing_autopay_paused)
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        with freeze_time(DAY % 10), self.mock_mail_gateway():
            new_card = self._enroll(self.env, self.client_jane, self.provider)
        notices = self._mails_to(self._mails, "jane@example.com", "AutoPay will charge")
        self.assertEqual(len(notices), 1)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 13))
        self._autopay(13)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(self._transactions(invoice).token_id, new_card)

    # ------------------------------------------------------------------ crash
    def test_a_crash_after_the_providers_answer_settles_instead_of_charging_again(self):
        invoice = self._bill_november(self.client_jane)
        # The provider charged and its answer was saved; the worker died before AutoPay
        # recorded anything (its state write lost).
        with patch.object(AccountMove, "_billing_autopay_settle", autospec=True):
            self._autopay(4)
        transaction = self._transactions(invoice)
        self.assertEqual(transaction.state, "done")
        self.assertFalse(transaction.payment_id)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self._autopay(5)
        self.assertEqual(self._transactions(invoice), transaction, "no second charge")
        self.assertEqual(transaction.payment_id.state, "paid")
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.billing_autopay_state, "charged")

    def test_a_failing_invoice_does_not_stop_the_others(self):
        client = self._create_client("Ada Park", email="ada@example.com")
        self._enroll(self.env, client, self.provider)
        self._create_session(client, "2026-11-03 15:00:00")
        broken = self._bill_november(self.client_jane)
        fine = self._invoices_of(client)
        self.assertEqual(fine.billing_autopay_state, "scheduled")
        original = AccountMove._billing_autopay_create_transaction

        def create_transaction(invoice):
            if invoice == broken:
                raise ValueError("provider misconfigured")
            return original(invoice)

        with patch.object(
            AccountMove, "_billing_autopay_create_transaction", autospec=True
        ) as mocked:
            mocked.side_effect = create_transaction
            self._autopay(4)
        self.assertEqual(fine.billing_autopay_state, "charged")
        self.assertEqual(broken.billing_autopay_state, "scheduled")
        self.assertFalse(self._transactions(broken))
        self.assertIn("provider misconfigured", broken.message_ids[:1].body)

    # ------------------------------------------------------------------ billing documents
    def test_billing_documents_show_what_autopay_will_charge_and_what_failed(self):
        marcus_card = self._enroll(self.env, self.client_marcus, self.provider, "error")
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        jane = self._bill_november(self.client_jane)
        marcus = self._invoices_of(self.client_marcus)
        self.assertEqual(marcus_card.partner_id, self.client_marcus)
        Document = self.env["practice.billing.document"]
        with freeze_time(DAY % 2):
            figures = Document.retrieve_dashboard()
            soon = Document.search([("autopay_state", "in", ("scheduled", "failed"))])
        self.assertEqual(
            (figures["autopay_next_7_days"], figures["autopay_next_7_days_count"]), (450.0, 2)
        )
        self.assertEqual(figures["autopay_failed_count"], 0)
        self.assertEqual(soon.mapped("autopay_date"), [date(2026, 12, 4)] * 2)
        self._autopay(4)
        with freeze_time(DAY % 4):
            figures = Document.retrieve_dashboard()
        self.assertEqual(figures["autopay_failed_count"], 1)
        self.assertEqual(figures["autopay_next_7_days"], 150.0, "Marcus's retry tomorrow")
        Document.invalidate_model()  # a new request reads the view again
        rows = Document.search([("res_model", "=", "account.move")])
        self.assertEqual(
            {(row.res_id, row.autopay_state) for row in rows},
            {(jane.id, "charged"), (marcus.id, "failed")},
        )

    def test_billing_documents_without_autopay_show_no_autopay_figures(self):
        self.company.billing_autopay_enabled = False
        self.assertFalse(
            self.env["practice.billing.document"].retrieve_dashboard()["autopay_enabled"]
        )

    # ------------------------------------------------------------------ no answer
    def test_a_charge_never_answered_asks_staff_once_and_staff_cancel_it(self):
        invoice = self._bill_november(self.client_jane)
        # The provider never answered (a timeout, or the worker died): the transaction stays
        # in draft.
        with patch.object(
            PaymentTransaction, "_send_payment_request", side_effect=TimeoutError("no answer")
        ):
            self._autopay(4)
        transaction = self._transactions(invoice)
        self.assertEqual(transaction.state, "draft")
        self.assertFalse(self._activities(invoice, "unanswered"), "not while it may answer")
        self._autopay(5)
        self._autopay(6)
        self.assertEqual(self._transactions(invoice), transaction, "never charged again")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        with freeze_time(DAY % 6):
            invoice.invalidate_recordset(["billing_autopay_unanswered"])
            self.assertTrue(invoice.billing_autopay_unanswered, "Cancel Unanswered Charge shown")
        activity = self._activities(invoice, "unanswered")
        self.assertEqual(len(activity), 1, "staff are asked once")
        self.assertIn(transaction.reference, activity.summary)
        self.assertIn(invoice.name, activity.note)
        self.assertIn("Cancel Unanswered Charge", activity.note)
        self.assertEqual(
            activity.user_id, self.client_jane._billing_responsible_user(self.company, invoice)
        )
        self.assertTrue(activity.user_id)
        with self.assertRaises(AccessError):
            invoice.with_user(self.billing_user).action_billing_autopay_cancel_unanswered()
        # The provider says the card was not charged: staff cancel, AutoPay charges again.
        with freeze_time(DAY % 7), self.mock_mail_gateway():
            invoice.with_user(self.billing_manager).action_billing_autopay_cancel_unanswered()
        self.assertEqual(transaction.state, "cancel")
        self.assertFalse(self._activities(invoice, "unanswered"), "the to-do is done")
        with self.assertRaises(UserError), freeze_time(DAY % 7):
            invoice.with_user(self.billing_manager).action_billing_autopay_cancel_unanswered()
        self._autopay(8)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(len(self._transactions(invoice)), 2)
        self.assertEqual(invoice.amount_residual, 0.0)

    # ------------------------------------------------------------------ Charge Now refuses
    def _charge_now_refused(self, invoice, *reason_parts, day=4):
        """Charge Now as a manager (the method, as JSON-RPC calls it): refused in words
        naming the invoice and why, nothing charged."""
        before = self._transactions(invoice)
        with (
            freeze_time(DAY % day),
            self.mock_mail_gateway(),
            self.assertRaises(UserError) as refused,
        ):
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        message = str(refused.exception)
        self.assertIn(invoice.display_name, message)
        for part in reason_parts:
            self.assertIn(part, message)
        self.assertEqual(self._transactions(invoice), before, "nothing charged")
        return message

    def test_charge_now_refuses_an_invoice_autopay_never_announced(self):
        """Marcus enrolled after his invoice was posted: he was never told his card would
        pay it, so no one may charge it."""
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        self._bill_november(self.client_jane)
        invoice = self._invoices_of(self.client_marcus)
        self.assertFalse(invoice.billing_autopay_state)
        self._enroll(self.env, self.client_marcus, self.provider)
        self._charge_now_refused(invoice, "not enrolled in AutoPay when it was posted")
        self.assertFalse(invoice.billing_autopay_state)

    def test_charge_now_refuses_a_skipped_invoice_even_once_unpaid_again(self):
        invoice = self._bill_november(self.client_jane)
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"payment_date": "2026-12-02"})
            ._create_payments()
        )
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        payment.action_draft()  # the cheque bounced: the invoice is due again
        self.assertEqual(invoice.payment_state, "not_paid")
        self._charge_now_refused(invoice, "AutoPay skipped it", "paid another way")

    def test_charge_now_refuses_in_a_practice_with_autopay_off(self):
        invoice = self._bill_november(self.client_jane)
        self.company.billing_autopay_enabled = False
        self._charge_now_refused(invoice, "AutoPay is off in")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")

    def test_charge_now_refuses_a_charge_waiting_for_its_answer(self):
        self.card.demo_simulated_state = "pending"
        invoice = self._bill_november(self.client_jane)
        self._autopay(4)
        transaction = self._transactions(invoice)
        self.assertEqual(transaction.state, "pending")
        self._charge_now_refused(invoice, transaction.reference, "Waiting for the provider")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")

    def test_charge_now_refuses_held_paused_charged_draft_and_cancelled_invoices(self):
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        invoice = self._bill_november(self.client_jane)
        invoice.with_user(self.billing_user).action_billing_autopay_hold()
        self._charge_now_refused(invoice, "Staff hold it", "Release AutoPay")
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice.with_user(self.billing_user).action_billing_autopay_release()
        self.client_jane.with_user(self.billing_user).action_billing_autopay_pause()
        self._charge_now_refused(invoice, "paused, ended or without a card for Jane Doe")
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            self.client_jane.with_user(self.billing_user).action_billing_autopay_resume()
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self._charge_now_refused(invoice, "already paid")
        drafted = self._invoices_of(self.client_marcus)
        self.assertEqual(len(drafted), 1)
        drafted.button_draft()
        self._charge_now_refused(drafted, "is a draft", "Post it")
        drafted.button_cancel()
        self._charge_now_refused(drafted, "cancelled")

    # ------------------------------------------------------------------ Release
    def _release(self, invoice, day):
        with freeze_time(DAY % day), self.mock_mail_gateway():
            invoice.with_user(self.billing_user).action_billing_autopay_release()
        return self._mails

    def _hold(self, invoice):
        invoice.with_user(self.billing_user).action_billing_autopay_hold()

    def test_release_keeps_the_notice_the_client_has_while_it_holds(self):
        """Told on the 1st "$300 on December 4": held and released on the 2nd and 3rd, the
        charge is still $300 on the 4th, so the client is not emailed again."""
        invoice = self._bill_november(self.client_jane)
        for day in (2, 3):
            self._hold(invoice)
            self.assertFalse(self._release(invoice, day), "nothing new to tell the client")
            self.assertEqual(invoice.billing_autopay_state, "scheduled")
            self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 4))
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(self._transactions(invoice).amount, 300.0)

    def test_release_after_the_amount_changed_sends_a_new_notice_and_date(self):
        invoice = self._bill_november(self.client_jane)
        self._hold(invoice)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 100.0, "payment_date": "2026-12-02"})._create_payments()
        mails = self._release(invoice, 2)
        notices = self._mails_to(mails, "jane@example.com", "AutoPay will charge")
        self.assertEqual(len(notices), 1)
        self.assertIn("$\xa0200.00", notices[0])
        self.assertIn("12/05/2026", notices[0])
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))
        self.assertFalse(self._release_refused(invoice, "is not held"))
        self._autopay(4)
        self.assertFalse(self._transactions(invoice), "not before the new date")
        self._autopay(5)
        self.assertEqual(self._transactions(invoice).amount, 200.0)

    def _release_refused(self, invoice, reason_part):
        with (
            freeze_time(DAY % 3),
            self.mock_mail_gateway(),
            self.assertRaises(UserError) as refused,
        ):
            invoice.with_user(self.billing_user).action_billing_autopay_release()
        self.assertIn(invoice.display_name, str(refused.exception))
        self.assertIn(reason_part, str(refused.exception))
        return self._mails

    def test_release_refuses_paid_cancelled_and_unheld_invoices_and_emails_nobody(self):
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        invoice = self._bill_november(self.client_jane)
        self.assertFalse(self._release_refused(invoice, "is not held"))
        self._hold(invoice)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"payment_date": "2026-12-02"})._create_payments()
        self.assertFalse(self._release_refused(invoice, "already paid"))
        self.assertTrue(invoice.billing_autopay_hold)
        cancelled = self._invoices_of(self.client_marcus)
        self.assertEqual(len(cancelled), 1)
        self._hold(cancelled)
        cancelled.button_draft()
        cancelled.button_cancel()
        self.assertFalse(self._release_refused(cancelled, "cancelled"))

    def test_release_while_the_client_is_paused_waits_for_resume_and_its_notice(self):
        invoice = self._bill_november(self.client_jane)
        self._hold(invoice)
        self.client_jane.with_user(self.billing_user).action_billing_autopay_pause()
        self.assertFalse(self._release(invoice, 2), "no charge to announce")
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self.assertIn("paused", invoice.billing_autopay_reason)
        self.assertEqual(len(self._resume(10)), 1, "resuming announces the charge")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 13))

    def test_release_tells_the_client_a_new_refusal_once(self):
        invoice = self._bill_november(self.client_jane)
        self._hold(invoice)
        self.client_jane.sudo().billing_autopay_limit = 250.0
        told = self._mails_to(self._release(invoice, 2), "jane@example.com", "another way")
        self.assertEqual(len(told), 1)
        self.assertIn("above the AutoPay limit", told[0])
        self.assertNotIn("HSA/FSA", told[0])
        self.assertEqual(invoice.billing_autopay_state, "skipped")
        self._hold(invoice)
        self.assertFalse(self._release(invoice, 3), "the client was told already")
        self.assertEqual(invoice.billing_autopay_state, "skipped")

    # ------------------------------------------------------------------ a client's own payment
    def _client_payment_started(self, invoice, started):
        """A payment ``invoice``'s client starts online on its portal page (Odoo's demo
        provider, direct flow), as Odoo's /invoice/transaction route makes it: a draft
        until the client submits it, created at ``started``."""
        transaction = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.provider.payment_method_ids[:1].id,
                "reference": self.env["payment.transaction"]._compute_reference(
                    "demo", invoice_ids=[Command.set(invoice.ids)]
                ),
                "amount": invoice.amount_residual,
                "currency_id": invoice.currency_id.id,
                "partner_id": invoice.partner_id.id,
                "operation": "online_direct",
                "invoice_ids": [Command.set(invoice.ids)],
            }
        )
        self.env.cr.execute(
            "UPDATE payment_transaction SET create_date = %s WHERE id = %s",
            [started, transaction.id],
        )
        transaction.invalidate_recordset(["create_date"])
        return transaction

    def test_a_payment_the_client_abandoned_does_not_hold_up_autopay(self):
        invoice = self._bill_november(self.client_jane)
        abandoned = self._client_payment_started(invoice, "2026-12-02 18:00:00")
        self._autopay(4)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(invoice.amount_residual, 0.0)
        charges = self._transactions(invoice) - abandoned
        self.assertEqual(len(charges), 1)
        self.assertEqual((charges.operation, charges.state), ("offline", "done"))
        self.assertEqual(abandoned.state, "draft", "Odoo's, left as it is")
        self.assertFalse(self._activities(invoice, "unanswered"))

    def test_autopay_waits_an_hour_for_a_payment_the_client_is_making(self):
        invoice = self._bill_november(self.client_jane)
        paying = self._client_payment_started(invoice, "2026-12-04 14:30:00")
        self._autopay(4)  # at 15:00, half an hour after the client began
        self.assertEqual(self._transactions(invoice), paying, "not charged meanwhile")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertIn(paying.reference, invoice.billing_autopay_reason)
        self.assertIn("started paying online", invoice.billing_autopay_reason)
        self.assertFalse(self._activities(invoice, "unanswered"))
        self._autopay(5)  # the client never finished it
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(len(self._transactions(invoice)), 2)
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_autopays_own_draft_still_waits_for_staff_beside_a_clients_abandoned_one(self):
        invoice = self._bill_november(self.client_jane)
        with patch.object(
            PaymentTransaction, "_send_payment_request", side_effect=TimeoutError("no answer")
        ):
            self._autopay(4)
        unanswered = self._transactions(invoice)
        self.assertEqual(unanswered.state, "draft")
        self._client_payment_started(invoice, "2026-12-04 16:00:00")
        self._autopay(5)
        self._autopay(6)
        self.assertEqual(len(self._transactions(invoice)), 2, "AutoPay never charged again")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(len(self._activities(invoice, "unanswered")), 1)
        self.assertIn(unanswered.reference, invoice.billing_autopay_reason)

    def test_never_charges_more_than_the_notice_said(self):
        """Told "$200 on December 5" after a $100 cheque; the cheque bounces (staff cancel its
        payment): $300 is due again, but the client was told $200. AutoPay does not charge
        $300 on the 5th without telling them: it sends a new notice first."""
        invoice = self._bill_november(self.client_jane)
        self._hold(invoice)
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"amount": 100.0, "payment_date": "2026-12-02"})
            ._create_payments()
        )
        self._release(invoice, 2)
        self.assertEqual(invoice.billing_autopay_notice_amount, 200.0)
        payment.action_draft()
        payment.action_cancel()
        self.assertEqual(invoice.amount_residual, 300.0)
        self._charge_now_refused(invoice, "$\xa0300.00", "more than the $\xa0200.00", day=3)
        mails = self._autopay(5)
        self.assertFalse(
            self._transactions(invoice).filtered(lambda tx: tx.amount > 200.0),
            "never more than the client was told",
        )
        notices = self._mails_to(mails, "jane@example.com", "AutoPay will charge")
        self.assertEqual(len(notices), 1, "a new notice instead")
        self.assertIn("$\xa0300.00", notices[0])
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 8))
        self._autopay(8)
        self.assertEqual(self._transactions(invoice).amount, 300.0)
