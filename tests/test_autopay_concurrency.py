import threading
from datetime import datetime
from unittest.mock import patch

from odoo import SUPERUSER_ID
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.payment.models.payment_transaction import PaymentTransaction

from ..models.account_move_autopay import AccountMove
from ..models.practice_billing_run import PracticeBillingRun
from .autopay_common import AutopayFixtures
from .common import ConcurrencyCase


@tagged("-at_install", "post_install")
class TestAutopayExactlyOnce(ConcurrencyCase, AutopayFixtures):
    """Real, committed transactions: AutoPay commits the transaction before asking the
    provider, as in production (practice.billing.run._can_commit says yes here), while two
    workers, a staff member or a crash get in the way (see ConcurrencyCase). One practice
    for the class, deleted after it with its clients, invoices and payments."""

    # Emails are queued, never sent: nothing here should reach an SMTP server.
    CONTEXT = {"tracking_disable": True, "mail_notify_force_send": False}
    PRACTICE_PER_TEST = False
    INVOICES = 6

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.registry.cursor() as cr:
            company = cls._commit_practice(cr, "AutoPay Practice", billing_autopay_enabled=True)
            cls._demo_provider(company.env, company)
            cls.company_id = company.id

    def setUp(self):
        super().setUp()
        committing = patch.object(PracticeBillingRun, "_can_commit", lambda self: True)
        committing.start()
        self.addCleanup(committing.stop)
        with self.registry.cursor() as cr:
            env = self._env(cr)
            provider = env["payment.provider"].search(
                [("code", "=", "demo"), ("company_id", "=", self.company_id)]
            )
            invoices = env["account.move"]
            for number in range(self.INVOICES):
                client = env["res.partner"].create(
                    {"name": f"Payer {number}", "email": f"payer{number}@example.com"}
                )
                self._enroll(env, client, provider)
                invoices |= self._post_invoice(env, client, [150.0, 150.0])
            self.assertEqual(set(invoices.mapped("billing_autopay_state")), {"scheduled"})
            # Due today: the notice has run out.
            invoices.write({"billing_autopay_date": datetime.now().date()})
            self.invoice_ids = invoices.ids

    def _admin(self):
        return self.admin_id

    def _race(self, *works):
        """Run each work(env) in a thread of its own, on its own cursor, all at once."""
        barrier, errors = threading.Barrier(len(works)), []

        def target(work, uid):
            try:
                with self.registry.cursor() as cr:
                    env = self._env(cr, uid)
                    barrier.wait(timeout=60)
                    work(env)
            except Exception as error:  # reported by the test
                errors.append(error)

        threads = [threading.Thread(target=target, args=work) for work in works]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertFalse([t for t in threads if t.is_alive()], "no worker is stuck on a lock")
        return errors

    def _cron(self, env=None):
        if env is not None:
            env["account.move"]._cron_billing_autopay()
            return
        with self.registry.cursor() as cr:
            self._env(cr)["account.move"]._cron_billing_autopay()

    def _assert_each_charged_once(self):
        with self.registry.cursor() as cr:
            cr.execute(
                """
                SELECT m.id, m.billing_autopay_state, m.amount_residual,
                       (SELECT count(*) FROM account_invoice_transaction_rel r
                         WHERE r.invoice_id = m.id),
                       (SELECT count(*) FROM account_payment p
                          JOIN payment_transaction t ON t.id = p.payment_transaction_id
                          JOIN account_invoice_transaction_rel r ON r.transaction_id = t.id
                         WHERE r.invoice_id = m.id AND p.state != 'canceled')
                  FROM account_move m WHERE m.id IN %s ORDER BY m.id
                """,
                [tuple(self.invoice_ids)],
            )
            for invoice_id, state, residual, transactions, payments in cr.fetchall():
                self.assertEqual(
                    (state, residual, transactions, payments),
                    ("charged", 0.0, 1, 1),
                    f"invoice {invoice_id}: charged once, by one transaction and one payment",
                )

    # ------------------------------------------------------------------ concurrency
    def test_two_cron_workers_at_once_charge_each_invoice_once(self):
        self._race((self._cron, SUPERUSER_ID), (self._cron, SUPERUSER_ID))
        # A worker that lost a race on an invoice left it to the other, or to the next run.
        self._cron()
        self._assert_each_charged_once()

    def test_staff_charging_during_the_cron_charge_each_invoice_once(self):
        charged_by_staff = []

        def staff(env):
            for invoice in env["account.move"].browse(self.invoice_ids):
                try:
                    invoice.action_billing_autopay_charge_now()
                    charged_by_staff.append(invoice.id)
                except UserError:
                    env.cr.rollback()  # being charged, or charged, by the cron: fine

        self._race((self._cron, SUPERUSER_ID), (staff, self._admin()))
        self._cron()
        self._assert_each_charged_once()

    # ------------------------------------------------------------------ crashes
    def test_a_crash_after_the_providers_answer_is_settled_not_charged_again(self):
        with patch.object(
            AccountMove, "_billing_autopay_settle", side_effect=RuntimeError("worker killed")
        ):
            self._cron()
        with self.registry.cursor() as cr:
            invoices = self._env(cr)["account.move"].browse(self.invoice_ids)
            self.assertEqual(set(invoices.mapped("billing_autopay_state")), {"scheduled"})
            self.assertEqual(set(invoices.transaction_ids.mapped("state")), {"done"})
            self.assertFalse(invoices.transaction_ids.payment_id)
        self._cron()
        self._assert_each_charged_once()

    def test_a_charge_whose_answer_never_came_waits_for_the_provider(self):
        with patch.object(
            PaymentTransaction, "_send_payment_request", side_effect=TimeoutError("no answer")
        ):
            self._cron()
        self._cron()
        with self.registry.cursor() as cr:
            invoices = self._env(cr)["account.move"].browse(self.invoice_ids)
            self.assertEqual(len(invoices.transaction_ids), self.INVOICES, "never charged again")
            self.assertEqual(set(invoices.transaction_ids.mapped("state")), {"draft"})
            self.assertEqual(set(invoices.mapped("billing_autopay_state")), {"scheduled"})
            # The provider's notification arrives, by the transaction's reference.
            for transaction in invoices.transaction_ids:
                transaction._handle_notification_data(
                    "demo", {"reference": transaction.reference, "simulated_state": "done"}
                )
        self._cron()
        self._assert_each_charged_once()

    def test_a_charge_without_answer_does_not_hold_up_the_others(self):
        silent = self.invoice_ids[2]
        answer = PaymentTransaction._send_payment_request

        def send(transaction):
            if silent in transaction.invoice_ids.ids:
                raise TimeoutError("no answer")
            return answer(transaction)

        with patch.object(
            PaymentTransaction, "_send_payment_request", autospec=True, side_effect=send
        ):
            self._cron()
        self._cron()
        with self.registry.cursor() as cr:
            invoice = self._env(cr)["account.move"].browse(silent)
            self.assertEqual(invoice.transaction_ids.mapped("state"), ["draft"])
            self.assertEqual(invoice.billing_autopay_state, "scheduled")
            self.assertIn("no answer", invoice.message_ids[:1].body)
        self.invoice_ids.remove(silent)
        self._assert_each_charged_once()
