import email
import socket
from datetime import datetime
from email import policy

from aiosmtpd.controller import Controller

from odoo.tests import tagged

from .common import PracticeHttpCase


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if address in str(m["To"])]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("-at_install", "post_install")
class TestDeliveryEndToEnd(PracticeHttpCase):
    """A monthly run delivered through a real SMTP server, with real PDFs."""

    def setUp(self):
        super().setUp()
        port = free_port()
        self.sink = SmtpSink()
        controller = Controller(self.sink, hostname="127.0.0.1", port=port)
        controller.start()
        self.addCleanup(controller.stop)
        self.env["ir.mail_server"].search([]).active = False
        self.env["ir.mail_server"].create(
            {"name": "Test sink", "smtp_host": "127.0.0.1", "smtp_port": port, "sequence": 0}
        )

    def test_monthly_run_delivered_over_smtp(self):
        jane = self._client_with_sessions("Jane Doe", "jane@example.com", "email")
        priya = self._client_with_sessions("Priya Natarajan", "priya@example.com", "portal")
        tom = self._client_with_sessions("Tom Alvarez", "tom@example.com", "manual")
        grace = self._client_with_sessions("Grace Liu", "grace@example.com", "email")
        run = self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.assertEqual(run.invoice_count, 4)
        self.env["account.move"].with_context(force_report_rendering=True)._cron_account_move_send()
        self.env["mail.mail"].sudo().process_email_queue()

        # Email: the invoice with its real PDF attached.
        [to_jane] = self.sink.to("jane@example.com")
        invoice = run.invoice_ids.filtered(lambda m: m.partner_id == jane)
        self.assertIn(invoice.name, to_jane["Subject"])
        self.assertIn("billing@riverside.example", to_jane["Reply-To"])
        pdfs = [
            part
            for part in to_jane.iter_attachments()
            if part.get_content_type() == "application/pdf"
        ]
        self.assertEqual(len(pdfs), 1)
        pdf = pdfs[0].get_content()
        self.assertTrue(pdf.startswith(b"%PDF"))
        text, fonts = self._pdf_text(pdf, "invoice-email.pdf")
        self.assertIn(f"Invoice {invoice.name}", text)
        self.assertIn("Jane Doe", text, "the client's identity is real text")
        self.assertIn("Riverside Therapy", text, "the practice is in the body")
        self.assertIn("Clinician: Maya Chen", text)
        self.assertIn("Psychotherapy, 53 min", text)
        self.assertIn("DejaVu", fonts, "real text in a system font")
        plain = to_jane.get_body(("plain",)).get_content()
        self.assertIn("Dear Jane Doe", plain, "reads well as plain text")
        self.assertEqual(invoice.billing_delivery_state, "sent")
        # Two invoices rendered in one sending batch, each with its own PDF.
        [to_grace] = self.sink.to("grace@example.com")
        grace_invoice = run.invoice_ids.filtered(lambda m: m.partner_id == grace)
        [grace_pdf] = [
            p for p in to_grace.iter_attachments() if p.get_content_type() == "application/pdf"
        ]
        grace_text, _fonts = self._pdf_text(grace_pdf.get_content(), "invoice-email-2.pdf")
        self.assertIn(grace_invoice.name, grace_text)
        self.assertNotIn(invoice.name, grace_text)

        # Portal: a link, no attachment, nothing clinical.
        notices = [m for m in self.sink.to("priya@example.com") if "client portal" in m["Subject"]]
        self.assertEqual(len(notices), 1)
        notice = notices[0]
        self.assertFalse(list(notice.iter_attachments()))
        body = notice.get_body(("html", "plain")).get_content()
        portal_invoice = run.invoice_ids.filtered(lambda m: m.partner_id == priya)
        self.assertIn(f"/my/invoices/{portal_invoice.id}?access_token=", body)
        for clinical in ("90837", "Psychotherapy", "53 min", "Maya Chen"):
            self.assertNotIn(clinical, body)
        self.assertEqual(portal_invoice.billing_delivery_state, "sent")
        # The portal link opens the invoice for the client, with the token alone.
        response = self.url_open(portal_invoice.get_portal_url())
        self.assertEqual(response.status_code, 200)
        self.assertIn(portal_invoice.name, response.text)

        # Manual: nothing sent.
        self.assertFalse(self.sink.to("tom@example.com"))
        tom_invoice = run.invoice_ids.filtered(lambda m: m.partner_id == tom)
        self.assertEqual(tom_invoice.billing_delivery_state, "manual")

    def test_printing_several_invoices_at_once(self):
        clients = [
            self._client_with_sessions(f"Client {i}", f"c{i}@example.com", "manual")
            for i in range(3)
        ]
        run = self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        invoices = run.invoice_ids
        self.assertEqual(len(invoices), len(clients))
        pdf, _kind = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("account.account_invoices", invoices.ids)
        )
        text, _fonts = self._pdf_text(pdf, "invoices-printed-together.pdf")
        for invoice in invoices:
            self.assertIn(invoice.name, text)
