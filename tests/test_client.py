from datetime import date, datetime, time

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

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


@tagged("-at_install", "post_install")
class TestClientBillingHistory(PracticeBillingCase):
    """The client form's billing history: invoiced this year, paid, due, past due, the last
    invoice and a button to the client's documents, for billing staff only. Dated from
    today: Billing Documents counts days past due to the database's date."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        this_month = date.today().replace(day=1)
        cls.client_jane.property_payment_term_id = cls.env.ref(
            "account.account_payment_term_30days"
        )
        cls.old_invoice = cls._bill(cls.client_jane, this_month - relativedelta(months=2), 1)
        cls.new_invoice = cls._bill(cls.client_jane, this_month - relativedelta(months=1), 2)
        cls.marcus_invoice = cls._bill(cls.client_marcus, this_month - relativedelta(months=1), 1)
        cls.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=cls.old_invoice.ids
        ).create({"amount": 100.0})._create_payments()
        cls.jane_id = cls.client_jane.id

    @classmethod
    def _bill(cls, client, month, sessions):
        """``sessions`` sessions of ``client`` in ``month``, invoiced on the 1st after it."""
        for week in range(sessions):
            cls._create_session(
                client, datetime.combine(month, time(15)) + relativedelta(weeks=week, days=1)
            )
        invoice_date = month + relativedelta(months=1)
        cutoff = cls.company._billing_local_midnight(invoice_date)
        run = cls.env["practice.billing.run"]._run_now("manual", cutoff, invoice_date, client)
        return run.invoice_ids

    def _jane_as(self, user):
        return self.env["res.partner"].with_user(user).browse(self.jane_id)

    def test_history_at_a_glance(self):
        self.assertEqual(self.old_invoice.amount_total, 150.0)
        self.assertEqual(self.new_invoice.amount_total, 300.0)
        jane = self._jane_as(self.billing_user)
        this_year = [
            m
            for m in self.old_invoice | self.new_invoice
            if m.invoice_date.year == date.today().year
        ]
        self.assertEqual(jane.billing_invoiced_this_year, sum(m.amount_total for m in this_year))
        self.assertEqual(
            jane.billing_paid_this_year, 100.0 if self.old_invoice in this_year else 0.0
        )
        self.assertEqual(jane.billing_amount_due, 50.0 + 300.0)
        self.assertEqual(jane.billing_past_due_amount, 50.0, "the old invoice, due a month ago")
        self.assertEqual(jane.billing_last_invoice_id, self.new_invoice)
        self.assertEqual(jane.billing_last_invoice_date, self.new_invoice.invoice_date)
        self.assertEqual(jane.billing_document_count, 2)
        marcus = self.env["res.partner"].with_user(self.billing_user).browse(self.client_marcus.id)
        self.assertEqual((marcus.billing_amount_due, marcus.billing_document_count), (150.0, 1))

    def test_documents_button_opens_the_clients_documents(self):
        action = self._jane_as(self.billing_user).action_billing_view_documents()
        self.assertEqual(action["res_model"], "practice.billing.document")
        self.assertEqual(action["context"], {"search_default_partner_id": self.jane_id})
        documents = self.env["practice.billing.document"].search(
            [("partner_id", "=", self.jane_id)]
        )
        self.assertEqual(
            sorted(documents.mapped("res_id")), sorted((self.old_invoice | self.new_invoice).ids)
        )

    def test_a_customer_who_is_not_a_client_has_no_history(self):
        shop = self._create_client("Deco Addict Books")
        self.init_invoice("out_invoice", partner=shop, amounts=[500.0], post=True)
        shop = shop.with_user(self.billing_manager)
        self.assertEqual((shop.billing_amount_due, shop.billing_document_count), (0.0, 0))

    def test_history_is_for_billing_staff(self):
        employee = new_test_user(self.env, login="employee", groups="base.group_user")
        portal_jane = new_test_user(
            self.env, login="jane_self", groups="base.group_portal", partner_id=self.jane_id
        )
        history = ["billing_amount_due", "billing_past_due_amount", "billing_last_invoice_id"]
        for user in (employee, portal_jane):
            with self.assertRaises(AccessError, msg=user.login):
                self._jane_as(user).read(history)
        arch = (
            self.env["res.partner"]
            .with_user(employee)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn('name="email"', arch, "the employee sees the contact form")
        for field in (*history, "billing_document_count", "billing_invoiced_this_year"):
            self.assertNotIn(f'name="{field}"', arch, field)

    def test_another_practice_sees_none_of_it(self):
        lakeside = self.env["res.company"].create({"name": "Lakeside Counseling"})
        staff = new_test_user(
            self.env,
            login="lakeside_manager",
            groups="practice_billing.group_billing_manager",
            company_id=lakeside.id,
            company_ids=[Command.set(lakeside.ids)],
        )
        jane = self._jane_as(staff).with_context(allowed_company_ids=lakeside.ids)
        self.assertEqual(jane.name, "Jane Doe", "a contact without company is shared")
        self.assertEqual(
            (jane.billing_amount_due, jane.billing_document_count, jane.billing_last_invoice_id),
            (0.0, 0, self.env["account.move"]),
        )
