import threading
from datetime import datetime
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.service.model import retrying
from odoo.tests import tagged

from odoo.addons.practice_billing.models.account_move_send import AccountMoveSend
from odoo.addons.practice_billing.models.practice_billing_run import PracticeBillingRun

from .common import ConcurrencyCase


@tagged("-at_install", "post_install")
class TestStaffDuringTheRun(ConcurrencyCase):
    """Staff at work while the scheduled run bills the month (issue #15): the run holds its
    batch's locks (stopped mid-batch, before its commit) in one thread, staff act in
    another, each on a database connection and transaction of its own, on committed data,
    as two Odoo workers would. Staff's requests go through Odoo's retrying as RPC does, with
    a lock timeout, so waiting on the run's locks fails the test instead of hanging."""

    CLIENTS = 4

    def setUp(self):
        super().setUp()
        committing = patch.object(PracticeBillingRun, "_can_commit", lambda self: True)
        committing.start()
        self.addCleanup(committing.stop)
        with self.registry.cursor() as cr:
            company = self._commit_practice(cr, "Busy Practice", billing_auto_invoice=True)
            self.company_id = company.id
            clients, sessions = self._commit_clients_with_sessions(
                company.with_env(self._env(cr)),
                [f"Busy {i}" for i in range(self.CLIENTS + 1)],
                billing_delivery_method="manual",
            )
            self.client_ids, self.session_ids = clients[:-1].ids, sessions.ids
            self.earlier_id = clients[-1].id
        # One client was invoiced earlier today: the invoice staff print and export.
        with self.registry.cursor() as cr:
            env = self._env(cr, self.admin_id)
            env["res.partner"].browse(self.earlier_id).action_billing_invoice_now()
            self.earlier_invoice_id = (
                env["account.move"].search([("partner_id", "=", self.earlier_id)]).id
            )

    def _run_holding_its_batch(self):
        """Start the scheduled run in a thread of its own; return (thread, errors, release)
        once it holds its batch: sessions locked, invoices made, not committed."""
        holding, release, errors = threading.Event(), threading.Event(), []
        deliver = PracticeBillingRun._deliver_invoices

        def deliver_then_hold(run, invoices):
            deliver(run, invoices)
            if threading.current_thread().name == "scheduled run":
                holding.set()
                release.wait(timeout=120)

        def scheduled_run():
            try:
                with self.registry.cursor() as cr:
                    env = self._env(cr)
                    company = env["res.company"].browse(self.company_id)
                    env["practice.billing.run"]._run_due_period(company, datetime.now())
            except Exception as error:  # reported by the test
                errors.append(error)
                holding.set()

        patcher = patch.object(PracticeBillingRun, "_deliver_invoices", deliver_then_hold)
        patcher.start()
        self.addCleanup(patcher.stop)
        thread = threading.Thread(target=scheduled_run, name="scheduled run")
        thread.start()
        self.assertTrue(holding.wait(timeout=120), "the run reached its batch")
        self.assertFalse(errors)
        return thread, errors, release

    def _as_staff(self, work):
        """``work(env)`` as the administrator (Billing: Manager), in a request of its own:
        retried on serialization failures as Odoo retries RPC, never waiting on a lock
        more than 5 seconds. Returns what ``work`` returned."""
        with self.registry.cursor() as cr:
            cr.execute("SET lock_timeout = '5s'")
            env = self._env(cr, self.admin_id)
            return retrying(lambda: work(env), env)

    def _billed_sessions(self):
        with self.registry.cursor() as cr:
            return [row[0] for row in self._billing_lines(cr, self.session_ids)]

    def test_staff_work_while_the_run_holds_its_batch(self):
        thread, errors, release = self._run_holding_its_batch()
        try:
            # "Invoice now" on a client the run is billing: a clear message, not a
            # database error, nor an empty run.
            with self.assertRaisesRegex(UserError, "Billing is in progress for Busy 0"):
                self._as_staff(
                    lambda env: (
                        env["res.partner"].browse(self.client_ids[0]).action_billing_invoice_now()
                    )
                )
            # Printing and exporting what was billed before the run are not held up.
            html = self._as_staff(
                lambda env: env["ir.actions.report"]._render_qweb_pdf(
                    "account.account_invoices", [self.earlier_invoice_id]
                )[0]
            )
            self.assertIn(b"Busy 4", html)
            action = self._as_staff(
                lambda env: (
                    env["practice.billing.document"]
                    .search([("partner_id", "=", self.earlier_id)])
                    .action_download_zip()
                )
            )
            self.assertEqual(action["type"], "ir.actions.act_url")
        finally:
            release.set()
            thread.join(timeout=120)
        self.assertFalse(thread.is_alive(), "the run finished")
        self.assertFalse(errors)
        billed = self._billed_sessions()
        self.assertEqual(sorted(billed), sorted(self.session_ids), "each session billed")
        self.assertEqual(len(billed), len(set(billed)), "no session billed twice")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT trigger, state FROM practice_billing_run WHERE company_id = %s ORDER BY id",
                [self.company_id],
            )
            # The earlier Invoice now and the scheduled run: the refused click left no run.
            self.assertEqual(cr.fetchall(), [("manual", "done"), ("cron", "done")])

    def test_send_while_the_background_sending_sends_the_invoice(self):
        """Staff press Send in Billing Documents on an invoice Odoo's background sending is
        emailing at that moment: told so, and the client gets one email."""
        with self.registry.cursor() as cr:
            env = self._env(cr)
            client = env["res.partner"].browse(self.earlier_id)
            client.write({"email": "busy4@example.com", "billing_delivery_method": "email"})
            env["account.move"].browse(self.earlier_invoice_id)._billing_deliver()
        holding, release, errors = threading.Event(), threading.Event(), []
        hook = AccountMoveSend._hook_if_success

        def send_then_hold(sending, moves_data):
            hook(sending, moves_data)
            if threading.current_thread().name == "sending":
                holding.set()
                release.wait(timeout=120)

        def background_sending():
            try:
                with self.registry.cursor() as cr:
                    self._env(cr)["account.move"]._cron_account_move_send()
            except Exception as error:  # reported by the test
                errors.append(error)
                holding.set()

        patcher = patch.object(AccountMoveSend, "_hook_if_success", send_then_hold)
        patcher.start()
        self.addCleanup(patcher.stop)
        thread = threading.Thread(target=background_sending, name="sending")
        thread.start()
        try:
            self.assertTrue(holding.wait(timeout=120), "the sending reached its hook")
            with self.assertRaisesRegex(UserError, "Sending is in progress for"):
                self._as_staff(
                    lambda env: (
                        env["practice.billing.document"]
                        .search([("partner_id", "=", self.earlier_id)])
                        .action_send()
                    )
                )
        finally:
            release.set()
            thread.join(timeout=120)
        self.assertFalse(errors)
        with self.registry.cursor() as cr:
            invoice = self._env(cr)["account.move"].browse(self.earlier_invoice_id)
            self.assertTrue(invoice.is_move_sent)
            self.assertFalse(invoice.sending_data, "nothing left to send")
            emails = invoice.message_ids.filtered(
                lambda m: invoice.partner_id in m.partner_ids and m.message_type != "notification"
            )
            self.assertEqual(len(emails), 1, "the client got one email")
