import threading
import uuid
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.modules.registry import Registry
from odoo.service.model import retrying
from odoo.tests import BaseCase, get_db_name, tagged

from odoo.addons.practice_billing.models.account_move_send import AccountMoveSend
from odoo.addons.practice_billing.models.practice_billing_run import PracticeBillingRun

CONTEXT = {"no_mail_to_attendees": True, "tracking_disable": True}


@tagged("-at_install", "post_install")
class TestStaffDuringTheRun(BaseCase):
    """Staff at work while the scheduled run bills the month (issue #15): the run holds its
    batch's locks (stopped mid-batch, before its commit) in one thread, staff act in
    another, each on a database connection and transaction of its own, on committed data,
    as two Odoo workers would. Staff's requests go through Odoo's retrying as RPC does, with
    a lock timeout, so waiting on the run's locks fails the test instead of hanging."""

    CLIENTS = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())

    def _env(self, cr, uid=SUPERUSER_ID):
        return api.Environment(cr, uid, dict(CONTEXT, allowed_company_ids=[self.company_id]))

    def setUp(self):
        super().setUp()
        committing = patch.object(PracticeBillingRun, "_can_commit", lambda self: True)
        committing.start()
        self.addCleanup(committing.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
            company = env["res.company"].create(
                {"name": f"Busy Practice {uuid.uuid4().hex[:8]}", "billing_auto_invoice": True}
            )
            env["account.chart.template"].try_loading("generic_coa", company=company)
            self.admin_id = env.ref("base.user_admin").id
            env.ref("base.user_admin").company_ids |= company
            self.company_id = company.id
            env = self._env(cr)
            service = env["product.product"].create(
                {
                    "name": "Psychotherapy, 53 min",
                    "type": "service",
                    "list_price": 150.0,
                    "billing_cpt_code": "90837",
                    "company_id": company.id,
                }
            )
            service.taxes_id = False
            clients = env["res.partner"].create(
                [{"name": f"Busy {i}", "company_id": company.id} for i in range(self.CLIENTS + 1)]
            )
            clients.billing_delivery_method = "manual"
            last_month = (datetime.now().replace(day=1) - timedelta(days=20)).replace(
                hour=15, minute=0, second=0, microsecond=0
            )
            sessions = env["calendar.event"].create(
                [
                    {
                        "name": f"{client.name} {week}",
                        "start": last_month + timedelta(days=week),
                        "stop": last_month + timedelta(days=week, minutes=53),
                        "partner_ids": [(6, 0, client.ids)],
                        "billing_client_id": client.id,
                        "billing_product_id": service.id,
                        "billing_company_id": company.id,
                    }
                    for client in clients
                    for week in (0, 7)
                ]
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
            cr.execute(
                """
                SELECT e.id FROM calendar_event e
                  JOIN account_move_line l ON l.id = e.billing_invoice_line_id
                 WHERE e.id IN %s AND l.parent_state != 'cancel'
                """,
                [tuple(self.session_ids)],
            )
            return [row[0] for row in cr.fetchall()]

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
