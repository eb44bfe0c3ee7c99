from datetime import date, datetime, timedelta

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

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

    def test_a_meeting_with_a_customer_does_not_make_them_a_client(self):
        """Odoo's demo meetings (and any meeting) name customers as attendees: an event
        without a service is not a session, its attendee not a client."""
        start = datetime(2026, 9, 3, 15, 0)
        meeting = self.env["calendar.event"].create(
            {
                "name": "Catalogue review",
                "start": start,
                "stop": start + timedelta(hours=1),
                "user_id": self.clinician.id,
                "partner_ids": [(6, 0, [self.bookshop_customer.id, self.clinician.partner_id.id])],
            }
        )
        self.assertEqual(meeting.billing_client_id, self.bookshop_customer, "the premise")
        self._create_session(self.client_jane, "2026-09-02 15:00:00")
        self._cron("2026-10-01 06:00:00")
        self.assertEqual(self.env["res.partner"]._billing_clients(self.company), self.client_jane)
        later = date(2026, 12, 20)
        reminded = self.env["account.move"]._billing_past_due_invoices(self.company, later)
        self.assertEqual(reminded.partner_id, self.client_jane)
        Documents = self.env["practice.billing.document"]
        self.assertFalse(Documents.search([("partner_id", "=", self.bookshop_customer.id)]))
        invoices_menu = self.env.ref("practice_billing.action_billing_invoices")
        listed = self.env["account.move"].search(safe_eval(invoices_menu.domain))
        self.assertIn(self._invoices_of(self.client_jane), listed)
        self.assertNotIn(self.book_invoice, listed)
        self.assertFalse(self.book_invoice.billing_is_client_document)
        self.assertTrue(self._invoices_of(self.client_jane).billing_is_client_document)
