import email
import socket
import subprocess
from datetime import datetime
from email import policy
from unittest.mock import patch

from aiosmtpd.controller import Controller

from odoo import Command
from odoo.tests import tagged

from .common import PracticeBillingCase, PracticeHttpCase


class Inbox:
    """An SMTP server's handler on 127.0.0.1 keeping every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def pdfs_to(self, address):
        """The PDFs attached to the messages to ``address``."""
        return [
            part.get_content()
            for message in self.messages
            if address in str(message["To"])
            for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf"
        ]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountWkhtmltopdf:
    """Counts the wkhtmltopdf processes started (the real ones run: the PDFs are real)."""

    def __init__(self):
        self.count = 0
        self.popen = subprocess.Popen

    def __call__(self, args, *rest, **kwargs):
        if "wkhtmltopdf" in str(args[0]) and "--version" not in args:
            self.count += 1
        return self.popen(args, *rest, **kwargs)


@tagged("-at_install", "post_install")
class TestSendingInBatches(PracticeHttpCase):
    """The practice's 1st: Odoo's background sending takes the run's invoices in batches
    printed by one wkhtmltopdf process each, and their emails leave at once."""

    # More than Odoo's own batch (20 invoices per execution of its sending job).
    CLIENTS = 23

    def setUp(self):
        super().setUp()
        self.inbox = Inbox()
        port = free_port()
        controller = Controller(self.inbox, hostname="127.0.0.1", port=port)
        controller.start()
        self.addCleanup(controller.stop)
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create(
            {"name": "Test inbox", "smtp_host": "127.0.0.1", "smtp_port": port, "sequence": 0}
        )
        self.send_job = self.env.ref("account.ir_cron_account_move_send")
        self.mail_queue = self.env.ref("mail.ir_cron_mail_scheduler_action")

    def _mail_queue_calls(self):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.mail_queue.id)])

    def _send_job_execution(self):
        """One execution of Odoo's "Send invoices automatically" as its job runs it (no
        mail sent on the spot: a scheduled action queues its emails), counting the
        wkhtmltopdf processes it starts."""
        counter = CountWkhtmltopdf()
        Move = self.env["account.move"].with_context(
            force_report_rendering=True, mail_notify_force_send=False
        )
        with patch.object(subprocess, "Popen", counter):
            Move._cron_account_move_send(job_count=20)
        return counter.count

    def test_run_invoices_sent_in_one_batch_one_wkhtmltopdf(self):
        clients = [
            self._client_with_sessions(f"Client {i:02d}", f"client{i:02d}@example.com", "email")
            for i in range(self.CLIENTS)
        ]
        run = self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        invoices = run.invoice_ids
        self.assertEqual(len(invoices), self.CLIENTS)
        self.assertTrue(all(invoices.mapped("sending_data")), "handed to Odoo's sending")
        queue_calls = self._mail_queue_calls()

        processes = self._send_job_execution()

        self.assertFalse(any(invoices.mapped("sending_data")), "all in one execution")
        self.assertEqual(processes, 1, "the whole batch printed by one wkhtmltopdf process")
        self.assertTrue(all(invoices.mapped("invoice_pdf_report_id")))
        self.assertEqual(set(invoices.mapped("billing_delivery_state")), {"pending"})
        self.assertGreater(
            self._mail_queue_calls(), queue_calls, "the mail queue is called now, not hourly"
        )

        self.env["mail.mail"].sudo().process_email_queue()
        for client in clients:
            invoice = invoices.filtered(lambda m, c=client: m.partner_id == c)
            [pdf] = self.inbox.pdfs_to(client.email)
            text, _fonts = self._pdf_text(pdf, f"batch-{client.email}.pdf")
            self.assertIn(invoice.name, text)
            self.assertIn(client.name, text)
            others = (invoices - invoice).mapped("name")
            self.assertFalse([name for name in others if name in text], "its own invoice only")
        # The database's queue may hold other mails (a demo install queues some): count ours.
        to_clients = [
            message
            for message in self.inbox.messages
            if any(client.email in str(message["To"]) for client in clients)
        ]
        self.assertEqual(len(to_clients), self.CLIENTS, "each client once")
        self.assertEqual(set(invoices.mapped("billing_delivery_state")), {"sent"})

    def test_other_invoices_keep_odoo_sending(self):
        """Invoices the practice does not deliver itself (sent with Odoo's Send & Print)
        go as Odoo sends them: 20 per execution, emails left to the mail queue's job."""
        service = self.service_53
        customers = self.env["res.partner"].create(
            [
                {"name": f"Customer {i:02d}", "email": f"customer{i:02d}@example.com"}
                for i in range(21)
            ]
        )
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "company_id": self.company.id,
                    "invoice_line_ids": [
                        Command.create({"product_id": service.id, "price_unit": 150.0})
                    ],
                }
                for customer in customers
            ]
        )
        invoices.action_post()
        wizard = (
            self.env["account.move.send.batch.wizard"]
            .with_context(active_model="account.move", active_ids=invoices.ids)
            .create({})
        )
        wizard.action_send_and_print()
        queue_calls = self._mail_queue_calls()

        self._send_job_execution()

        self.assertEqual(len(invoices.filtered("sending_data")), 1, "Odoo's 20 per execution")
        self.assertEqual(self._mail_queue_calls(), queue_calls)


@tagged("-at_install", "post_install")
class TestDocumentsEmailedAtOnce(PracticeBillingCase):
    """A document the run emails itself (a statement, a superbill) leaves at once too."""

    def test_statement_emailed_by_the_run_calls_the_mail_queue(self):
        self.company.write({"billing_auto_invoice": True, "billing_auto_statement": True})
        self.client_jane.billing_delivery_method = "email"
        for day in (2, 9):
            self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
        mail_queue = self.env.ref("mail.ir_cron_mail_scheduler_action")
        Trigger = self.env["ir.cron.trigger"]
        before = Trigger.search([("cron_id", "=", mail_queue.id)])

        self._cron("2026-12-01 06:00:00")

        statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.client_jane.id)]
        )
        self.assertEqual(statement.billing_delivery_method, "email")
        self.assertTrue(
            Trigger.search([("cron_id", "=", mail_queue.id)]) - before,
            "the mail queue is called now, not at its next hourly call",
        )
