from datetime import date

from freezegun import freeze_time

from odoo.tests import tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestClientScope(PracticeBillingCase):
    """The company may have other customers: only the practice's clients get statements,
    reminders, and show in Billing Documents and its dashboard."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"billing_auto_invoice": True, "billing_auto_statement": True, "email": "b@x.example"}
        )
        immediate = cls.env.ref("account.account_payment_term_immediate")
        # A customer of the practice's book shop: invoiced, never a client in a session.
        cls.bookshop_customer = cls.env["res.partner"].create(
            {
                "name": "Deco Addict Books",
                "email": "books@example.com",
                "property_payment_term_id": immediate.id,
            }
        )
        cls.client_jane.property_payment_term_id = immediate
        cls.book_invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.bookshop_customer,
            invoice_date="2026-09-01",
            amounts=[36512.50],
            taxes=[],
            post=True,
        )

    def test_statements_go_to_clients_only(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        stated = self.env["practice.statement"].search([]).partner_id
        self.assertIn(self.client_jane, stated)
        self.assertNotIn(self.bookshop_customer, stated)

    def test_statements_of_the_wizard_go_to_clients_only(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        with freeze_time("2026-12-05 12:00:00"):
            wizard = self.env["practice.billing.generate"].create(
                {"generate_invoices": False, "generate_statements": True}
            )
            wizard.action_generate()
        stated = self.env["practice.statement"].search([("date", "=", date(2026, 12, 5))])
        self.assertEqual(stated.partner_id, self.client_jane)

    def test_past_due_reminders_go_to_clients_only(self):
        self._create_session(self.client_jane, "2026-09-02 15:00:00")
        self._cron("2026-10-01 06:00:00")
        reminded = (
            self.env["account.move"]
            .sudo()
            ._billing_past_due_invoices(self.company, date(2026, 12, 1))
        )
        self.assertEqual(reminded.partner_id, self.client_jane)
        with freeze_time("2026-12-01 14:00:00"):
            self.env["account.move"]._cron_billing_past_due_reminders()
        self.assertTrue(self.client_jane.billing_last_reminder_date)
        self.assertFalse(self.book_invoice.billing_reminder_count)
        self.assertFalse(self.bookshop_customer.billing_last_reminder_date)

    def test_billing_documents_and_dashboard_list_clients_only(self):
        self._create_session(self.client_jane, "2026-09-02 15:00:00")
        self._cron("2026-10-01 06:00:00")
        Documents = self.env["practice.billing.document"]
        self.assertEqual(
            Documents.search([("document_type", "=", "invoice")]).partner_id, self.client_jane
        )
        with freeze_time("2026-12-20 12:00:00"):
            dashboard = Documents.retrieve_dashboard()
        self.assertEqual(dashboard["past_due_count"], 1, "Jane's, not the book shop's")
        self.assertEqual(dashboard["past_due"], 150.0)
        self.assertFalse(
            Documents.search([("partner_id", "=", self.bookshop_customer.id)]),
            "the book shop's invoice is not the practice's",
        )
