import re
from datetime import datetime

from PIL import Image

from odoo import Command
from odoo.tests import tagged
from odoo.tools import format_date

from .common import PracticeHttpCase

INVOICES = "account.account_invoices"  # what Print, Send and the portal's download print
PRACTICE_STREET = "12 Elm Street"  # the practice's address (PracticeHttpCase)
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@tagged("-at_install", "post_install")
class TestInvoicePdf(PracticeHttpCase):
    """The invoice a client reads, printed by this machine's wkhtmltopdf: each session with its
    date, CPT code and clinician; no empty tax column, "Untaxed Amount" or "1.00"; the amount
    due and, when the client can, how to pay online; the practice's address once, at the top
    of the page."""

    def setUp(self):
        super().setUp()
        self.clinician.billing_credentials = "LCSW"
        self.client = self._client_with_sessions(
            "Jane Doe", "jane@example.com", "manual", street="7 Oak Lane", city="Salem"
        )
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.invoice = self.env["account.move"].search([("partner_id", "=", self.client.id)])
        self.assertEqual((self.invoice.state, self.invoice.amount_total), ("posted", 300.0))
        self.Report = self.env["ir.actions.report"].with_context(force_report_rendering=True)

    def _printed(self, invoice, name):
        """The text of the invoice's PDF, white space collapsed, and its fonts."""
        pdf = self.Report._render_qweb_pdf(INVOICES, invoice.ids)[0]
        text, fonts = self._pdf_text(pdf, name)
        return " ".join(text.replace("\xa0", " ").split()), fonts

    def _enable_online_payment(self):
        """A payment provider of the practice, published, in test mode (the network edge)."""
        return self.env["payment.provider"].create(
            {
                "name": "Card payments",
                "code": "none",
                "state": "test",
                "is_published": True,
                "company_id": self.company.id,
            }
        )

    def test_sessions_with_date_cpt_and_clinician_and_no_empty_columns(self):
        text, fonts = self._printed(self.invoice, "invoice-sessions.pdf")
        sessions = self.invoice.invoice_line_ids.billing_session_id
        self.assertEqual(len(sessions), 2)
        for session in sessions:
            day = self.company._billing_local_date(session.start)
            self.assertIn(f"{format_date(self.env, day)} — Psychotherapy, 53 min", text)
        self.assertEqual(text.count("CPT 90837 · Clinician: Maya Chen, LCSW"), 2, text)
        self.assertFalse(ISO_DATE.findall(text), "one date format on the whole invoice")
        self.assertFalse(re.search(r"\b1\.00\b", text), "no quantity of 1.00 per session")
        for absent in ("Quantity", "Unit Price", "Taxes", "Untaxed Amount"):
            self.assertNotIn(absent, text)
        self.assertIn("Total $ 300.00", text)
        self.assertIn("Amount Due $ 300.00", text)
        self.assertIn("DejaVu", fonts)

    def test_practice_letterhead_once_at_the_top_of_the_page(self):
        text, _fonts = self._printed(self.invoice, "invoice-top.pdf")
        self.assertTrue(text.startswith("Riverside Therapy"), text[:80])
        self.assertEqual(text.count(PRACTICE_STREET), 1, "the practice's address once")
        self.assertIn("7 Oak Lane", text)
        # No band left empty for a header this wkhtmltopdf does not print: ink starts within
        # 2 cm of the top of the page (the paperformat reserves 5 cm for the header).
        png = self._rasterize("invoice-top.pdf")
        self._assert_looks_printed(png)
        with Image.open(png) as page:
            grey = page.convert("L")
            first_ink = next(
                row
                for row in range(grey.height)
                if min(grey.getpixel((x, row)) for x in range(grey.width)) < 128
            )
            self.assertLess(first_ink / grey.height, 20 / 279, "an empty band at the top")

    def test_taxes_and_quantities_shown_when_there_are_some(self):
        """Another invoice of the practice, with a taxed product sold by two: its columns,
        quantities and "Untaxed Amount" are printed as Odoo prints them."""
        tax = self.env["account.tax"].create(
            {"name": "Sales tax 10%", "amount": 10.0, "company_id": self.company.id}
        )
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.client.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": "Workbook",
                            "quantity": 2,
                            "price_unit": 20.0,
                            "tax_ids": [Command.set(tax.ids)],
                        }
                    )
                ],
            }
        )
        invoice.action_post()
        text, _fonts = self._printed(invoice, "invoice-taxed.pdf")
        for present in ("Quantity", "Taxes", "Sales tax 10%", "2.00", "Untaxed Amount $ 40.00"):
            self.assertIn(present, text)
        self.assertIn("Total $ 44.00", text)

    def test_pay_online_only_when_the_client_can(self):
        text, _fonts = self._printed(self.invoice, "invoice-no-provider.pdf")
        self.assertNotIn("Pay online", text, "no payment provider: nothing to pay online with")
        self._enable_online_payment()
        text, _fonts = self._printed(self.invoice, "invoice-pay-online.pdf")
        self.assertIn("Pay online", text)
        url = f"/my/invoices/{self.invoice.id}?access_token={self.invoice.access_token}"
        self.assertIn(url, text.replace(" ", ""))
        # The link opens the invoice's page, where the client pays.
        page = self.url_open(url)
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.invoice.name, page.text)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.invoice.ids
        ).create({})._create_payments()
        text, _fonts = self._printed(self.invoice, "invoice-paid.pdf")
        self.assertNotIn("Pay online", text, "paid: nothing left to pay online")
        self.assertIn("Amount Due $ 0.00", text)

    def test_credit_note_of_sessions_in_the_same_date_format(self):
        """A credit note copies the invoice's labels ("2026-10-02 — …"): its dates are
        printed as the rest of the document."""
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=self.invoice.ids)
            .create({"journal_id": self.invoice.journal_id.id, "reason": "Insurance paid"})
        )
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit_note.action_post()
        text, _fonts = self._printed(credit_note, "credit-note.pdf")
        self.assertIn("Credit Note", text)
        for session in self.invoice.invoice_line_ids.billing_session_id:
            day = self.company._billing_local_date(session.start)
            self.assertIn(f"{format_date(self.env, day)} — Psychotherapy, 53 min", text)
        self.assertFalse(ISO_DATE.findall(text), "one date format on the credit note")
