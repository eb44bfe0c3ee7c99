from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestStatements(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"billing_auto_invoice": True, "billing_auto_statement": True})
        cls.immediate = cls.env.ref("account.account_payment_term_immediate")
        (cls.client_jane | cls.client_marcus).property_payment_term_id = cls.immediate

    def _statements(self, client=None):
        return self.env["practice.statement"].search(
            [("partner_id", "=", (client or self.client_jane).id)], order="date"
        )

    def _pay(self, invoice, amount, day):
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": amount, "payment_date": day})._create_payments()

    def test_monthly_statement_closes_at_the_clients_balance(self):
        for day in (2, 9, 16, 23):
            self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
        self._cron("2026-12-01 06:00:00")
        statement = self._statements()
        self.assertEqual(len(statement), 1)
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(statement.date, date(2026, 12, 1))
        self.assertEqual(statement.balance_start, 0.0)
        self.assertEqual(statement.line_ids.mapped("description"), [f"Invoice {invoice.name}"])
        self.assertEqual(statement.balance_end, 600.0)
        self.assertEqual(statement.balance_end, self.client_jane.billing_balance)
        self.assertEqual(statement.aging_current, 600.0)
        # Re-runs make no second statement; a client with no activity and no balance gets none.
        self._cron("2026-12-01 08:00:00")
        self.assertEqual(len(self._statements()), 1)
        self.assertFalse(self._statements(self.client_marcus))

    def test_balance_forward_payments_credits_and_unapplied_payments(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_jane, "2026-11-09 15:00:00")
        self._cron("2026-12-01 06:00:00")
        november = self._invoices_of(self.client_jane)
        self._pay(november, 200.0, "2026-12-10")
        self.init_invoice(
            "out_refund",
            partner=self.client_jane,
            invoice_date="2026-12-15",
            amounts=[50.0],
            taxes=[],
            post=True,
        )
        unapplied = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client_jane.id,
                "amount": 40.0,
                "date": "2026-12-20",
            }
        )
        unapplied.action_post()
        self._create_session(self.client_jane, "2026-12-07 15:00:00")
        self._cron("2027-01-01 06:00:00")
        first, second = self._statements()
        self.assertEqual(second.date_start, date(2026, 12, 2), "the day after the last one")
        self.assertEqual(second.balance_start, first.balance_end)
        self.assertEqual(second.balance_start, 300.0)
        amounts = second.line_ids.mapped("amount")
        self.assertEqual(sorted(amounts), [-200.0, -50.0, -40.0, 150.0])
        self.assertEqual(second.line_ids.mapped("date"), sorted(second.line_ids.mapped("date")))
        self.assertEqual(second.line_ids[-1].balance, second.balance_end)
        self.assertEqual(second.balance_end, 300.0 - 200.0 - 50.0 - 40.0 + 150.0)
        self.client_jane.invalidate_recordset()
        self.assertEqual(second.balance_end, self.client_jane.billing_balance)
        self.assertIn("Payment received", " ".join(second.line_ids.mapped("description")))

    def test_aging_buckets(self):
        for day, amount in (
            ("2026-11-25", 10.0),
            ("2026-10-20", 20.0),
            ("2026-09-20", 40.0),
            ("2026-07-01", 80.0),
        ):
            invoice = self.init_invoice(
                "out_invoice",
                partner=self.client_marcus,
                invoice_date=day,
                amounts=[amount],
                taxes=[],
            )
            invoice.invoice_payment_term_id = self.immediate
            invoice.action_post()
        statement = self.env["practice.statement"]._generate(
            self.client_marcus, date(2026, 12, 1), self.company
        )
        self.assertEqual(
            (
                statement.aging_current,
                statement.aging_1_30,
                statement.aging_31_60,
                statement.aging_61_90,
                statement.aging_90_plus,
            ),
            (0.0, 10.0, 20.0, 40.0, 80.0),
        )
        self.assertEqual(statement.balance_end, 150.0)

    def test_no_statement_is_dated_after_today(self):
        # A statement says what the client owes on its date, and the next one starts the day
        # after it: one dated ahead (Generate with a period ending next month) would state a
        # balance that payments still to come make wrong, and the activity until its date
        # would be on no statement (a payment of the 10th never listed).
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        with freeze_time("2026-12-05 12:00:00"):
            wizard = self.env["practice.billing.generate"].create(
                {
                    "date_until": "2026-12-31",
                    "generate_invoices": False,
                    "generate_statements": True,
                    "partner_ids": [Command.set(self.client_jane.ids)],
                }
            )
            with self.assertRaisesRegex(UserError, "after today"):
                wizard.action_generate()
            wizard.date_until = date(2026, 12, 5)
            wizard.action_generate()
        self._pay(self._invoices_of(self.client_jane), 100.0, "2026-12-10")
        self._cron("2027-01-01 06:00:00")
        january = self._statements().filtered(lambda s: s.date == date(2027, 1, 1))
        self.assertEqual(january.date_start, date(2026, 12, 6))
        self.assertEqual(january.amount_payments, 100.0, "the payment of the 10th is listed")
        self.assertEqual(january.balance_end, 50.0)
