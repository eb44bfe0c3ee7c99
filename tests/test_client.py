from freezegun import freeze_time

from odoo.tests import Form, tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestClient(PracticeBillingCase):
    def test_default_delivery_method_applies_to_new_clients_only(self):
        self.company.billing_default_delivery_method = "email"
        early = self._create_client("Early Client")
        self.assertEqual(early.billing_delivery_method, "email")

        self.company.billing_default_delivery_method = "manual"
        late = self._create_client("Late Client")
        self.assertEqual(late.billing_delivery_method, "manual")
        early.invalidate_recordset()
        self.assertEqual(early.billing_delivery_method, "email", "existing clients keep theirs")

        chosen = self._create_client("Chosen", billing_delivery_method="portal")
        self.assertEqual(chosen.billing_delivery_method, "portal")

    def test_default_delivery_method_in_the_client_form(self):
        self.company.billing_default_delivery_method = "portal"
        with Form(self.env["res.partner"]) as form:
            form.name = "Form Client"
        self.assertEqual(form.record.billing_delivery_method, "portal")

    def test_delivery_method_bulk_edit(self):
        clients = self.client_jane | self.client_marcus
        clients.write({"billing_delivery_method": "manual"})
        self.assertEqual(set(clients.mapped("billing_delivery_method")), {"manual"})

    @freeze_time("2026-11-27 12:00:00")
    def test_uninvoiced_amount_and_count(self):
        jane = self.client_jane
        for day in (2, 9, 16, 23):
            self._create_session(jane, f"2026-11-{day:02d} 15:00:00")
        self._create_session(jane, "2026-11-25 15:00:00", service=self.service_45)
        # Not uninvoiced: future, cancelled, no service.
        self._create_session(jane, "2026-11-30 15:00:00")
        self._create_session(jane, "2026-11-20 15:00:00", billing_attendance="cancelled")
        self._create_session(jane, "2026-11-21 15:00:00", billing_product_id=False)
        # Another client's session is not Jane's.
        self._create_session(self.client_marcus, "2026-11-10 15:00:00")

        self.assertEqual(jane.billing_uninvoiced_count, 5)
        self.assertEqual(jane.billing_uninvoiced_amount, 4 * 150.0 + 130.0)
        self.assertEqual(self.client_marcus.billing_uninvoiced_count, 1)
        self.assertEqual(self.client_marcus.billing_uninvoiced_amount, 150.0)

    @freeze_time("2026-11-27 12:00:00")
    def test_fee_override_counts_in_uninvoiced_amount(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00", billing_fee=90.0)
        self.assertEqual(self.client_jane.billing_uninvoiced_amount, 90.0)

    def test_balance_is_what_the_client_owes_on_posted_invoices(self):
        invoice = self.init_invoice(
            "out_invoice", partner=self.client_jane, amounts=[600.0], post=True
        )
        self.assertEqual(self.client_jane.billing_balance, 600.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 200.0})._create_payments()
        self.client_jane.invalidate_recordset()
        self.assertEqual(self.client_jane.billing_balance, 400.0)
        # A draft invoice is not owed yet.
        self.init_invoice("out_invoice", partner=self.client_jane, amounts=[100.0])
        self.client_jane.invalidate_recordset()
        self.assertEqual(self.client_jane.billing_balance, 400.0)

    @freeze_time("2026-11-27 12:00:00")
    def test_smart_buttons_open_the_clients_records(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        action = self.client_jane.action_billing_view_uninvoiced_sessions()
        sessions = self.env["calendar.event"].search(action["domain"])
        self.assertEqual(sessions, session)
        self.assertEqual(action["context"], {"search_default_filter_uninvoiced": 1})
