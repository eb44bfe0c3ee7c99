import threading
import uuid
from datetime import datetime, timedelta
from unittest.mock import patch

from aiosmtpd.controller import Controller

from odoo import SUPERUSER_ID, Command, api
from odoo.tests import tagged

from odoo.addons.practice_billing.models.account_move import AccountMove

from .common import ConcurrencyCase
from .test_delivery_batches import Inbox, free_port

CONTEXT = {"no_mail_to_attendees": True, "tracking_disable": True}
ODOO_JOB = "account.ir_cron_account_move_send"
PRACTICE_JOB = "practice_billing.ir_cron_billing_send_invoices"


@tagged("-at_install", "post_install")
class TestTwoExecutors(ConcurrencyCase):
    """The practice's 1st on two cron workers (issue #15): Odoo's "Send invoices
    automatically" and "Practice Billing: send invoices" send the invoices the billing run
    handed over at the same time, each a batch of its own, every invoice exactly once.

    Real transactions on connections of their own, committed, as two cron workers run
    them (a TransactionCase shares one transaction); everything committed is deleted after
    each test (ConcurrencyCase). Each executor runs its job's server action as ir.cron does
    (emails queued, not sent), with real PDFs."""

    BATCH = 2  # invoices per execution: several batches for each executor

    def setUp(self):
        super().setUp()
        batch = patch.object(AccountMove, "_billing_sending_batch_size", lambda model: self.BATCH)
        batch.start()
        self.addCleanup(batch.stop)
        self.tag = uuid.uuid4().hex[:8]
        self.client_ids, self.invoice_ids, self.customer_ids = [], [], []
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
            self.company_id = env.ref("base.main_company").id
            cr.execute("SELECT coalesce(max(id), 0) FROM ir_cron_trigger")
            [self.last_trigger] = cr.fetchone()
            service = env["product.product"].create(
                {
                    "name": f"Psychotherapy {self.tag}",
                    "type": "service",
                    "list_price": 150.0,
                    "billing_cpt_code": "90837",
                    "taxes_id": [],
                }
            )
            self.service_id = service.id
        self.inbox = Inbox()
        controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        controller.start()
        self.addCleanup(controller.stop)
        with self.registry.cursor() as cr:
            server = api.Environment(cr, SUPERUSER_ID, CONTEXT)["ir.mail_server"].create(
                {
                    "name": f"Test inbox {self.tag}",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": controller.port,
                    "sequence": 1000,  # used only for this test's emails
                }
            )
            self.mail_server_id = server.id

    # ------------------------------------------------------------------ the practice
    def _hand_over(self, count):
        """Staff's Invoice now for ``count`` new clients who receive invoices by email (two
        sessions each, last month): the run bills them and hands their invoices to the
        background sending, committed. Returns the invoices' ids."""
        with self.registry.cursor() as cr:
            env = api.Environment(
                cr, self.admin_id, dict(CONTEXT, allowed_company_ids=[self.company_id])
            )
            start = len(self.client_ids)
            clients = env["res.partner"].create(
                [
                    {
                        "name": f"Sender {self.tag} {i:02d}",
                        "email": f"s{self.tag}{i:02d}@example.com",
                    }
                    for i in range(start, start + count)
                ]
            )
            clients.billing_delivery_method = "email"
            self.client_ids += clients.ids
            last_month = (datetime.now().replace(day=1) - timedelta(days=20)).replace(
                hour=15, minute=0, second=0, microsecond=0
            )
            env["calendar.event"].create(
                [
                    {
                        "name": f"{client.name} {week}",
                        "start": last_month + timedelta(days=week),
                        "stop": last_month + timedelta(days=week, minutes=53),
                        "partner_ids": [(6, 0, client.ids)],
                        "billing_client_id": client.id,
                        "billing_product_id": self.service_id,
                        "billing_company_id": self.company_id,
                    }
                    for client in clients
                    for week in (0, 7)
                ]
            )
            clients.action_billing_invoice_now()
            invoices = env["account.move"].search([("partner_id", "in", clients.ids)])
            self.assertEqual(len(invoices), count)
            self.assertTrue(all(invoices.mapped("sending_data")), "handed over")
            self.invoice_ids += invoices.ids
            return invoices.ids

    def _execute(self, xmlid, cr):
        """One execution of the job ``xmlid``'s server action, as a cron worker runs it."""
        env = api.Environment(cr, SUPERUSER_ID, {"force_report_rendering": True})
        env.ref(xmlid).ir_actions_server_id.run()

    def _worker(self, xmlid, barrier, errors, executions=30):
        """A cron worker running the job ``xmlid`` again and again (each execution a
        transaction of its own, committed) until no invoice of the test waits."""

        def target():
            try:
                barrier.wait(timeout=60)
                for _i in range(executions):
                    with self.registry.cursor() as cr:
                        self._execute(xmlid, cr)
                    if not self._waiting():
                        return
            except Exception as error:  # reported by the test
                errors.append(error)

        return threading.Thread(target=target, name=xmlid)

    def _race(self, *xmlids):
        """The jobs ``xmlids`` started at the same moment, each on a cron worker of its own."""
        barrier, errors = threading.Barrier(len(xmlids)), []
        threads = [self._worker(xmlid, barrier, errors) for xmlid in xmlids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        self.assertFalse([t for t in threads if t.is_alive()], "no executor is stuck")
        self.assertFalse(errors)

    def _waiting(self, ids=None):
        """Ids of the test's invoices still waiting to be sent."""
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT id FROM account_move WHERE id IN %s AND sending_data IS NOT NULL",
                [tuple(ids or self.invoice_ids + self.customer_ids)],
            )
            return [row[0] for row in cr.fetchall()]

    # ------------------------------------------------------------------ exactly once
    def _assert_each_sent_once(self, invoice_ids):
        """Each invoice: sending done, its PDF kept, one message with it, one email queued;
        the emails then sent: each client receives exactly their invoice, once."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
            invoices = env["account.move"].browse(invoice_ids)
            self.assertFalse(invoices.filtered("sending_data"), "none left waiting")
            self.assertTrue(all(invoices.mapped("invoice_pdf_report_id")), "each PDF kept")
            for invoice in invoices:
                messages = env["mail.message"].search(
                    [
                        ("model", "=", "account.move"),
                        ("res_id", "=", invoice.id),
                        ("attachment_ids.mimetype", "=", "application/pdf"),
                    ]
                )
                self.assertEqual(len(messages), 1, f"{invoice.name}: one message with its PDF")
                mails = env["mail.mail"].search([("mail_message_id", "in", messages.ids)])
                self.assertEqual(len(mails), 1, f"{invoice.name}: one email")
            practice = invoices.filtered("billing_run_id")
            self.assertEqual(set(practice.mapped("billing_delivery_state")), {"pending"})
            mails = env["mail.mail"].search(
                [("model", "=", "account.move"), ("res_id", "in", invoice_ids)]
            )
            mails.mail_server_id = self.mail_server_id
            mails.send()
            # Sent (Odoo's own invoice email deletes its mail.mail once sent).
            self.assertFalse(mails.exists().filtered(lambda m: m.state != "sent"))
            for invoice in invoices:
                [pdf] = self.inbox.pdfs_to(invoice.partner_id.email)
                self.assertTrue(pdf.startswith(b"%PDF"), "a real PDF")
            self.assertEqual(set(practice.mapped("billing_delivery_state")), {"sent"})

    def test_two_executors_send_each_invoice_once(self):
        invoice_ids = self._hand_over(9)

        self._race(ODOO_JOB, PRACTICE_JOB)

        self._assert_each_sent_once(invoice_ids)

    def test_an_execution_that_crashes_mid_batch_is_sent_again_once(self):
        invoice_ids = self._hand_over(5)
        send_batch = AccountMove._billing_send_batch

        def send_then_crash(model, invoices):
            send_batch(model, invoices)
            raise RuntimeError("worker lost mid-batch")

        with patch.object(AccountMove, "_billing_send_batch", send_then_crash):
            # The server action reports the crash as ValueError (safe_eval).
            with self.assertRaisesRegex(ValueError, "worker lost"), self.registry.cursor() as cr:
                self._execute(PRACTICE_JOB, cr)
        # Rolled back: the batch's emails and messages are gone with it, still waiting.
        self.assertEqual(sorted(self._waiting()), sorted(invoice_ids))
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM mail_mail m JOIN mail_message msg "
                "ON msg.id = m.mail_message_id WHERE msg.model = 'account.move' "
                "AND msg.res_id IN %s",
                [tuple(invoice_ids)],
            )
            self.assertEqual(cr.fetchone()[0], 0)

        self._race(ODOO_JOB, PRACTICE_JOB)

        self._assert_each_sent_once(invoice_ids)

    def test_an_execution_that_saw_invoices_just_sent_leaves_them(self):
        """An execution whose transaction began before the other executor committed its
        batch still sees that batch waiting: it must not send it again, nor fail."""
        invoice_ids = self._hand_over(5)
        with self.registry.cursor() as late:
            late.execute("SELECT count(*) FROM account_move")  # its snapshot: all waiting
            with self.registry.cursor() as cr:
                self._execute(PRACTICE_JOB, cr)
            self.assertEqual(len(self._waiting()), 5 - self.BATCH)
            self._execute(ODOO_JOB, late)
            late.execute(
                "SELECT count(*) FROM ir_cron_trigger t JOIN ir_model_data d "
                "ON d.res_id = t.cron_id AND d.model = 'ir.cron' "
                "WHERE d.module = 'account' AND d.name = 'ir_cron_account_move_send' "
                "AND t.id > %s",
                [self.last_trigger],
            )
            self.assertTrue(late.fetchone()[0], "Odoo's job is called again for the rest")

        self._race(ODOO_JOB, PRACTICE_JOB)

        self._assert_each_sent_once(invoice_ids)

    def test_invoices_handed_over_while_a_batch_sends(self):
        first = self._hand_over(4)
        holding, release, errors = threading.Event(), threading.Event(), []
        send_batch = AccountMove._billing_send_batch

        def send_and_hold(model, invoices):
            send_batch(model, invoices)
            if threading.current_thread().name == "holder":
                holding.set()
                release.wait(timeout=120)

        def holder():
            try:
                with self.registry.cursor() as cr:
                    self._execute(PRACTICE_JOB, cr)
            except Exception as error:  # reported by the test
                errors.append(error)
                holding.set()

        with patch.object(AccountMove, "_billing_send_batch", send_and_hold):
            thread = threading.Thread(target=holder, name="holder")
            thread.start()
            self.assertTrue(holding.wait(timeout=120), "the executor holds its batch")
            # The run hands over more invoices; Odoo's job sends them and the rest of the
            # first ones, never the batch the other executor holds.
            later = self._hand_over(3)
            with self.registry.cursor() as cr:
                cr.execute("SET LOCAL lock_timeout = '5s'")
                self._execute(ODOO_JOB, cr)
            held = set(self._waiting(first))
            self.assertEqual(len(held), self.BATCH, "only the held batch still waits")
            release.set()
            thread.join(timeout=120)
        self.assertFalse(errors)

        self._race(ODOO_JOB, PRACTICE_JOB)

        self._assert_each_sent_once(first + later)

    def test_odoo_job_still_sends_other_invoices(self):
        """Invoices sent with Odoo's Send & Print (not the practice's) go as Odoo sends
        them, beside the practice's, once each, never stalled by a held practice batch."""
        practice = self._hand_over(4)
        with self.registry.cursor() as cr:
            env = api.Environment(
                cr, self.admin_id, dict(CONTEXT, allowed_company_ids=[self.company_id])
            )
            customers = env["res.partner"].create(
                [
                    {"name": f"Customer {self.tag} {i}", "email": f"c{self.tag}{i}@example.com"}
                    for i in range(3)
                ]
            )
            self.client_ids += customers.ids
            invoices = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "partner_id": customer.id,
                        "invoice_line_ids": [
                            Command.create({"product_id": self.service_id, "price_unit": 90.0})
                        ],
                    }
                    for customer in customers
                ]
            )
            invoices.action_post()
            self.customer_ids += invoices.ids
            env["account.move.send.batch.wizard"].with_context(
                active_model="account.move", active_ids=invoices.ids
            ).create({}).action_send_and_print()
            self.assertFalse(any(invoices.mapped("billing_delivery_state")), "not the practice's")
        # The practice's executor holds a batch: Odoo's job sends the other practice
        # invoices, then its own, and is not stopped by the held rows.
        with self.registry.cursor() as holder:
            holder.execute(
                "SELECT id FROM account_move WHERE id IN %s FOR UPDATE", [tuple(practice[:2])]
            )
            for _i in range(4):
                with self.registry.cursor() as cr:
                    cr.execute("SET LOCAL lock_timeout = '5s'")
                    self._execute(ODOO_JOB, cr)
            self.assertEqual(sorted(self._waiting()), sorted(practice[:2]))
            holder.rollback()

        self._race(ODOO_JOB, PRACTICE_JOB)

        self._assert_each_sent_once(practice + self.customer_ids)
