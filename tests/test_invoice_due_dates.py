from datetime import date

from odoo.tests import tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestInvoiceDueDates(PracticeBillingCase):
    """Due dates follow the invoice date, not the day a late run ran."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_auto_invoice = True
        cls.net_30 = cls.env.ref("account.account_payment_term_30days")
        cls.net_15 = cls.env.ref("account.account_payment_term_15days")

    def _bill_november_late(self, client):
        self._create_session(client, "2026-11-02 15:00:00")
        # The server was down on the 1st: the run catches up on the 5th.
        self._cron("2026-12-05 06:00:00")
        invoice = self._invoices_of(client)
        self.assertEqual(invoice.invoice_date, date(2026, 12, 1))
        return invoice

    def test_without_terms_due_on_the_invoice_date(self):
        self.client_jane.property_payment_term_id = False
        invoice = self._bill_november_late(self.client_jane)
        self.assertEqual(invoice.invoice_date_due, date(2026, 12, 1))

    def test_the_clients_terms_count_from_the_invoice_date(self):
        self.client_jane.property_payment_term_id = self.net_15
        self.company.billing_payment_term_id = self.net_30
        invoice = self._bill_november_late(self.client_jane)
        self.assertEqual(invoice.invoice_payment_term_id, self.net_15)
        self.assertEqual(invoice.invoice_date_due, date(2026, 12, 16))

    def test_the_practices_terms_for_clients_without_their_own(self):
        self.client_jane.property_payment_term_id = False
        self.company.billing_payment_term_id = self.net_30
        invoice = self._bill_november_late(self.client_jane)
        self.assertEqual(invoice.invoice_payment_term_id, self.net_30)
        self.assertEqual(invoice.invoice_date_due, date(2026, 12, 31))
