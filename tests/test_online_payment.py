from datetime import datetime, timedelta

from odoo.tests import new_test_user, tagged

from odoo.addons.account_payment.tests.common import AccountPaymentCommon
from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestPartialOnlinePayment(PracticeBillingCase, AccountPaymentCommon, PaymentHttpCommon):
    """A client pays their monthly invoice online in two parts, through Odoo's payment flow
    (its test provider stands in for the card processor: the network edge)."""

    def setUp(self):
        super().setUp()
        self.client = self.portal_partner
        self.client.billing_delivery_method = "portal"
        sessions_start = (datetime.now().replace(day=1) - timedelta(days=1)).replace(
            day=2, hour=15, minute=0, second=0, microsecond=0
        )
        for week in (0, 7):
            self._create_session(self.client, sessions_start + timedelta(days=week))
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.invoice = self._invoices_of(self.client)
        self.assertEqual((self.invoice.state, self.invoice.amount_total), ("posted", 300.0))

    def _payment_link_from_staff(self, amount):
        """What "Generate a Payment Link" on the invoice does in the web client."""
        staff = new_test_user(
            self.env,
            login="front_desk",
            groups="account.group_account_invoice",  # Odoo's right to generate payment links
            company_id=self.company.id,
        )
        self.authenticate(staff.login, staff.login)
        context = {
            "active_model": "account.move",
            "active_id": self.invoice.id,
            "allowed_company_ids": self.company.ids,
        }

        def call(method, *args):
            return self.make_jsonrpc_request(
                f"/web/dataset/call_kw/payment.link.wizard/{method}",
                {
                    "model": "payment.link.wizard",
                    "method": method,
                    "args": list(args),
                    "kwargs": {"context": context},
                },
            )

        wizard_id = call("create", {"amount": amount})
        wizard_id = wizard_id[0] if isinstance(wizard_id, list) else wizard_id
        return call("read", [wizard_id], ["link"])[0]["link"]

    def _pay(self, page_url):
        """Open a payment page as the client and pay the amount it offers to pay now (the
        installment tab's amount: the link's amount, or what is left); return the amount."""
        response = self._make_http_get_request(self._build_url(page_url))
        self.assertIn(b"o_payment_form", response.content, "no payment form on the page")
        self.assertEqual(response.status_code, 200)
        context = self._get_payment_context(response)
        processing_values = self._get_processing_values(
            tx_route=context["transaction_route"],
            provider_id=self.provider.id,
            payment_method_id=self.payment_method_id,
            token_id=None,
            amount=float(context["invoice_next_amount_to_pay"]),
            flow="direct",
            tokenization_requested=False,
            landing_route=context["landing_route"],
            access_token=context["access_token"],
        )
        transaction = self._get_tx(processing_values["reference"])
        self.assertEqual(transaction.invoice_ids, self.invoice)
        transaction._set_done()
        transaction._post_process()
        return transaction.amount

    def _document(self):
        return self.env["practice.billing.document"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", self.invoice.id)]
        )

    def test_part_by_payment_link_then_the_rest_from_the_portal(self):
        # Staff agree to $100 now and send Odoo's payment link for part of the invoice.
        link = self._payment_link_from_staff(100.0)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertEqual(self._pay(link), 100.0)
        self.assertEqual(self.invoice.payment_state, "partial")
        self.assertEqual(self.invoice.amount_residual, 200.0)
        self.assertTrue(self._document().is_unpaid)

        # The client pays the rest from their invoice in the portal.
        self.assertEqual(self._pay(self.invoice.get_portal_url()), 200.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertFalse(self._document().is_unpaid)
