from datetime import datetime

from odoo.tests import tagged
from odoo.tools import format_date

from .common import PracticeHttpCase


@tagged("-at_install", "post_install")
class TestStatementPdf(PracticeHttpCase):
    """The statement a client reads and pays by check: summary, activity, aging, how to pay
    and a remittance stub to tear off."""

    def setUp(self):
        super().setUp()
        self.company.billing_auto_statement = True
        self.client = self._client_with_sessions(
            "Jane Doe", "jane@example.com", "manual", street="7 Oak Lane", city="Salem"
        )
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.client.id)]
        )
        self.assertEqual(len(self.statement), 1)

    def _printed(self, name):
        pdf = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("practice_billing.action_report_statement", self.statement.ids)[0]
        )
        text, fonts = self._pdf_text(pdf, name)
        return text.replace("\xa0", " "), fonts

    def test_statement_pdf_has_the_summary_lines_aging_and_how_to_pay(self):
        statement = self.statement
        text, fonts = self._printed("statement.pdf")
        self._assert_looks_printed(self._rasterize("statement.pdf"))
        invoice = self.env["account.move"].search([("partner_id", "=", self.client.id)])
        for required in (
            "Riverside Therapy",
            "Jane Doe",
            "7 Oak Lane",
            f"Statement of account {statement.name}",
            "Previous balance",
            "New charges",
            "Payments and credits",
            "Balance due",
            f"Invoice {invoice.name}",
            "Over 90 days",
            "How to pay",
            "/my/invoices",
            "$ 300.00",
        ):
            self.assertIn(required, text, required)
        self.assertIn("DejaVu", fonts)

    def test_remittance_stub_to_tear_off_and_mail_with_a_check(self):
        text, _fonts = self._printed("statement-stub.pdf")
        body, separator, stub = text.partition(
            "Please detach and return this part with your payment"
        )
        self.assertTrue(separator, "a tear-off part")
        self.assertIn("Over 90 days", body, "the stub comes after the statement")
        self.assertEqual(body.count("12 Elm Street"), 1, "the practice's address once above")
        stub = " ".join(stub.split())
        for required in (
            "Client Jane Doe",
            f"Statement number {self.statement.name}",
            f"Statement date {format_date(self.env, self.statement.date)}",
            "Amount due $ 300.00",
            "Amount enclosed $",
            "Make checks payable to",
            "Riverside Therapy",
            "Mail to",
            "12 Elm Street",
        ):
            self.assertIn(required, stub)
