import html
import importlib.util
from pathlib import Path
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.mail.tests.common import MockEmail
from odoo.addons.payment.models.payment_transaction import PaymentTransaction

from .autopay_common import AutopayFixtures
from .common import PracticeBillingCase

# November's invoices are posted by the run of 2026-12-01; AutoPay charges them on the 4th.
RUN = "2026-12-01 06:00:00"
DAY = "2026-12-%02d 15:00:00"


@tagged("-at_install", "post_install")
class TestAutopayOtherPayments(PracticeBillingCase, MockEmail, AutopayFixtures):
    """AutoPay tells its own charge from the invoice's other payments (the client's online
    payment, staff's Register Payment with the same saved card): it never takes theirs for
    its own, waits while one may still go through, and charges exactly what they left."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"billing_auto_invoice": True, "billing_autopay_enabled": True})
        cls.env["res.company"].sudo().search([("id", "!=", cls.company.id)]).write(
            {"billing_autopay_enabled": False}
        )
        cls._create_people()
        cls.provider = cls._demo_provider(cls.env, cls.company)
        cls.card = cls._enroll(cls.env, cls.client_jane, cls.provider)

    # ------------------------------------------------------------------ helpers
    def _bill_november(self, *clients):
        """November's invoices of ``clients`` (two sessions, 300 each), one per client."""
        for client in clients:
            for day in (2, 9):
                self._create_session(client, f"2026-11-{day:02d} 15:00:00")
        with self.mock_mail_gateway():
            self._cron(RUN)
        invoices = self.env["account.move"].concat(
            *(self._invoices_of(client)[-1:] for client in clients)
        )
        for invoice in invoices:
            self.assertEqual(
                (invoice.amount_residual, invoice.billing_autopay_state), (300.0, "scheduled")
            )
        return invoices

    def _autopay(self, day):
        with freeze_time(DAY % day), self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay()

    def _transactions(self, invoice):
        return self.env["payment.transaction"].search(
            [("invoice_ids", "in", invoice.ids)], order="id"
        )

    def _payments(self, invoice):
        return self.env["account.payment"].search(
            [("partner_id", "=", invoice.partner_id.id), ("state", "!=", "canceled")]
        )

    def _client_pays_online(self, invoice, amount, state="done", post_processed=True):
        """The client pays ``amount`` on the invoice's portal page with Odoo's demo provider
        (direct flow), as Odoo's routes do: the transaction (/invoice/transaction), the
        provider's answer (/payment/demo/simulate_payment) and, once the client's browser
        polls for it, Odoo's post-processing (/payment/status/poll)."""
        Transaction = self.env["payment.transaction"].sudo()
        transaction = Transaction.create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.provider.payment_method_ids[:1].id,
                "reference": Transaction._compute_reference(
                    "demo", invoice_ids=[Command.set(invoice.ids)]
                ),
                "amount": amount,
                "currency_id": invoice.currency_id.id,
                "partner_id": invoice.partner_id.id,
                "operation": "online_direct",
                "invoice_ids": [Command.set(invoice.ids)],
            }
        )
        transaction._handle_notification_data(
            "demo", {"reference": transaction.reference, "simulated_state": state}
        )
        if post_processed:
            transaction._post_process()
        return transaction

    def _staff_pay_with_the_card(self, invoice, amount, card=None):
        """Billing staff register a payment of ``amount`` on the invoice, paid with the
        client's saved card (Odoo's Register Payment, the provider's payment method)."""
        line = self.provider.journal_id.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == self.provider
        )
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create(
            {
                "amount": amount,
                "payment_date": "2026-12-02",
                "journal_id": self.provider.journal_id.id,
                "payment_method_line_id": line.id,
                "payment_token_id": (card or self.card).id,
            }
        )._create_payments()

    def _assert_autopay_charged_the_rest(self, invoice, others, rest):
        """AutoPay made one charge of its own, of ``rest``, beside the ``others``; the
        invoice is paid by both payments and marked charged by AutoPay's alone."""
        charge = self._transactions(invoice) - others
        self.assertEqual(len(charge), 1, "one charge of AutoPay's")
        self.assertEqual(
            (charge.operation, charge.state, charge.amount, charge.token_id),
            ("offline", "done", rest, self.card),
        )
        self.assertEqual(invoice.billing_autopay_transaction_id, charge)
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(len(self._payments(invoice)), 2, "the other payment and AutoPay's")
        self.assertEqual(charge.payment_id.amount, rest)
        return charge

    # ------------------------------------------------------------------ the client online
    def test_the_client_paying_part_online_leaves_autopay_the_rest(self):
        invoice = self._bill_november(self.client_jane)
        online = self._client_pays_online(invoice, 100.0)
        self.assertEqual(invoice.amount_residual, 200.0)
        self._autopay(4)
        self._assert_autopay_charged_the_rest(invoice, online, 200.0)
        self._autopay(5)
        self.assertEqual(len(self._transactions(invoice)), 2, "charged once")

    def test_a_confirmed_online_payment_odoo_has_not_processed_yet_is_not_charged_again(self):
        invoice = self._bill_november(self.client_jane)
        online = self._client_pays_online(invoice, 100.0, post_processed=False)
        # The provider confirmed it, but the client closed the page before Odoo made its
        # payment: what is due still reads 300.
        self.assertEqual((online.state, online.payment_id.id), ("done", False))
        self.assertEqual(invoice.amount_residual, 300.0)
        self._autopay(4)
        self.assertTrue(online.is_post_processed, "AutoPay had Odoo post-process it first")
        self.assertEqual(online.payment_id.amount, 100.0)
        self._assert_autopay_charged_the_rest(invoice, online, 200.0)

    def test_charge_now_after_an_online_payment_odoo_has_not_processed_charges_the_rest(self):
        invoice = self._bill_november(self.client_jane)
        online = self._client_pays_online(invoice, 120.0, post_processed=False)
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        self._assert_autopay_charged_the_rest(invoice, online, 180.0)

    def test_an_invoice_the_client_paid_in_full_online_is_skipped_not_charged(self):
        self._enroll(self.env, self.client_marcus, self.provider)
        jane, marcus = self._bill_november(self.client_jane, self.client_marcus)
        paid_online = self._client_pays_online(jane, 300.0)
        confirmed_only = self._client_pays_online(marcus, 300.0, post_processed=False)
        self._autopay(4)
        for invoice, online in ((jane, paid_online), (marcus, confirmed_only)):
            self.assertEqual(self._transactions(invoice), online, "no charge of the card")
            self.assertEqual(invoice.amount_residual, 0.0)
            self.assertEqual(len(self._payments(invoice)), 1)
            self.assertEqual(invoice.billing_autopay_state, "skipped")
            self.assertIn("paid another way", invoice.billing_autopay_reason)
            self.assertFalse(invoice.billing_autopay_transaction_id)

    def test_another_payment_in_flight_makes_autopay_wait_then_charge_what_it_left(self):
        invoice = self._bill_november(self.client_jane)
        online = self._client_pays_online(invoice, 100.0, state="pending")
        self._autopay(4)
        self.assertEqual(self._transactions(invoice), online, "not charged meanwhile")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertIn("Another payment of this invoice", invoice.billing_autopay_reason)
        self.assertIn(online.reference, invoice.billing_autopay_reason)
        with self.assertRaises(UserError) as refused, freeze_time(DAY % 4):
            invoice.with_user(self.billing_manager).action_billing_autopay_charge_now()
        self.assertIn(online.reference, str(refused.exception))
        self.assertEqual(self._transactions(invoice), online)
        # The provider confirms it days later; Odoo has not post-processed it yet.
        online._handle_notification_data(
            "demo", {"reference": online.reference, "simulated_state": "done"}
        )
        self._autopay(5)
        self._assert_autopay_charged_the_rest(invoice, online, 200.0)

    # ------------------------------------------------------------------ staff with the card
    def test_staff_paying_part_with_the_saved_card_leaves_autopay_the_rest(self):
        invoice = self._bill_november(self.client_jane)
        self._staff_pay_with_the_card(invoice, 100.0)
        by_staff = self._transactions(invoice)
        self.assertEqual(
            (by_staff.operation, by_staff.state, by_staff.token_id), ("offline", "done", self.card)
        )
        self.assertEqual(invoice.amount_residual, 200.0)
        self._autopay(4)
        charge = self._assert_autopay_charged_the_rest(invoice, by_staff, 200.0)
        with self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay_receipts()
        receipts = [m for m in self._mails if "Payment Receipt" in m["subject"]]
        self.assertEqual(len(receipts), 1, "AutoPay sends the receipt of its own charge only")
        self.assertIn(charge.payment_id.name, receipts[0]["subject"])
        self.assertIn("$\xa0200.00", html.unescape(receipts[0]["body"]))
        self.assertFalse(by_staff.payment_id.is_sent)

    # ------------------------------------------------------------------ before the link
    def _forget_link(self, invoice):
        """As a database of 18.0.1.2.0 holds it: no link to AutoPay's charge."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE account_move SET billing_autopay_transaction_id = NULL WHERE id = %s",
            invoice.ids,
        )
        invoice.invalidate_recordset(["billing_autopay_transaction_id"])

    def _migrate(self):
        path = Path(__file__).parent.parent / "migrations" / "18.0.1.3.0"
        spec = importlib.util.spec_from_file_location(
            "post_autopay_transactions_18_0_1_3_0", path / "post-autopay-transactions.py"
        )
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        self.env.flush_all()
        migration.migrate(self.env.cr, "18.0.1.2.0")
        self.env.invalidate_all()

    def test_an_unanswered_charge_from_before_the_link_still_reaches_staff_once(self):
        invoice = self._bill_november(self.client_jane)
        with patch.object(
            PaymentTransaction, "_send_payment_request", side_effect=TimeoutError("no answer")
        ):
            self._autopay(4)
        unanswered = self._transactions(invoice)
        self._forget_link(invoice)
        self._autopay(5)
        self._autopay(6)
        self.assertEqual(self._transactions(invoice), unanswered, "never charged again")
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        activities = invoice.activity_ids.filtered(lambda a: "unanswered" in (a.summary or ""))
        self.assertEqual(len(activities), 1, "staff are asked once")
        self.assertIn(unanswered.reference, activities.summary)
        self._migrate()
        self.assertEqual(invoice.billing_autopay_transaction_id, unanswered)
        with freeze_time(DAY % 7), self.mock_mail_gateway():
            invoice.with_user(self.billing_manager).action_billing_autopay_cancel_unanswered()
        self._autopay(8)
        self.assertEqual(invoice.billing_autopay_state, "charged")
        self.assertEqual(len(self._transactions(invoice)), 2)
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_the_migration_links_autopays_charges_and_never_staffs(self):
        marcus_card = self._enroll(self.env, self.client_marcus, self.provider)
        jane, marcus = self._bill_november(self.client_jane, self.client_marcus)
        marcus.with_user(self.billing_user).action_billing_autopay_hold()
        self._autopay(4)
        charge = jane.billing_autopay_transaction_id
        self.assertEqual(charge.state, "done")
        # Marcus's invoice is held, and staff charged part of it to his card.
        self._staff_pay_with_the_card(marcus, 50.0, marcus_card)
        by_staff = self._transactions(marcus)
        self.assertEqual(by_staff.operation, "offline")
        # Staff's payment and AutoPay's both come from one database transaction in a test;
        # in production AutoPay's payment is made after its charge was committed.
        self.env.cr.execute(
            "UPDATE account_payment SET create_date = create_date + interval '1 minute' "
            "WHERE id = %s",
            charge.payment_id.ids,
        )
        self._forget_link(jane)
        self._migrate()
        self.assertEqual(jane.billing_autopay_transaction_id, charge)
        self.assertFalse(marcus.billing_autopay_transaction_id)
