from odoo.tests import tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestDeliveryFailures(PracticeBillingCase, MockEmail):
    """A delivery that fails before any email exists shows Failed with a reason a person can
    read, is retried, and never holds up the other invoices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"billing_auto_invoice": True, "email": "billing@riverside.example"})
        (cls.client_jane | cls.client_marcus).billing_delivery_method = "email"

    def _bill_november(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_marcus, "2026-11-02 16:00:00")
        with self.mock_mail_gateway():
            self._cron("2026-12-01 06:00:00")
        return self._invoices_of(self.client_jane), self._invoices_of(self.client_marcus)

    def _send_queued(self):
        with self.mock_mail_gateway():
            self.env["account.move"]._cron_account_move_send()
        return self._mails

    def _break_jane_invoice_pdf(self):
        return self.env["ir.ui.view"].create(
            {
                "name": "broken invoice report (test)",
                "type": "qweb",
                "inherit_id": self.env.ref("account.report_invoice_document").id,
                "arch": """
                    <xpath expr="//div[hasclass('page')]" position="inside">
                        <t t-if="o.partner_id.name == 'Jane Doe'" t-out="o.billing_no_such_field"/>
                    </xpath>""",
            }
        )

    def test_a_pdf_that_cannot_be_printed_fails_that_invoice_only(self):
        jane_invoice, marcus_invoice = self._bill_november()
        broken = self._break_jane_invoice_pdf()
        mails = self._send_queued()
        self.assertEqual(jane_invoice.billing_delivery_state, "failed")
        self.assertIn("could not be printed", jane_invoice.billing_delivery_error)
        self.assertIn("billing_no_such_field", jane_invoice.billing_delivery_error)
        self.assertEqual(marcus_invoice.billing_delivery_state, "sent")
        self.assertEqual(
            [m["email_to"] for m in mails if "jane@example.com" in str(m["email_to"])], []
        )
        # Fixed: the next hourly run sends it again.
        broken.active = False
        with self.mock_mail_gateway():
            self._cron("2026-12-01 07:00:00")
        self.assertEqual(jane_invoice.billing_delivery_attempts, 2)
        mails = self._send_queued()
        self.assertEqual(jane_invoice.billing_delivery_state, "sent")
        self.assertTrue(any("jane@example.com" in str(m["email_to"]) for m in mails))

    def test_a_template_error_fails_that_invoice_with_the_reason(self):
        jane_invoice, marcus_invoice = self._bill_november()
        template = self.env.ref("practice_billing.mail_template_billing_invoice")
        template.body_html = '<p>Dear <t t-out="object.partner_id.billing_no_such_field"/></p>'
        self._send_queued()
        for invoice in jane_invoice | marcus_invoice:
            self.assertEqual(invoice.billing_delivery_state, "failed", invoice.partner_id.name)
            self.assertIn("email template", invoice.billing_delivery_error)
        self.assertFalse((jane_invoice | marcus_invoice).filtered("sending_data"))
