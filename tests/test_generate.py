import re
from datetime import date

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase


def text(html):
    """The words of an HTML summary, one space between them."""
    return " ".join(re.sub(r"<[^>]+>", "", str(html)).split())


@tagged("-at_install", "post_install")
class TestGenerateSaysWhatItWillMake(PracticeBillingCase, MockEmail):
    """Generate Billing Documents says what it will make before it makes it, and the run it
    starts reports what it made, superbills and statements included."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls._record_provider_identifiers()
        cls._record_insurance(cls.client_jane)
        cls.client_marcus.billing_delivery_method = "portal"
        cls.client_ada = cls._create_client(
            "Ada Lovelace", email="ada@example.com", billing_delivery_method="email"
        )
        for client, day in ((cls.client_jane, 2), (cls.client_marcus, 3), (cls.client_ada, 4)):
            cls._create_session(client, f"2026-11-{day:02d} 15:00:00")

    def _form(self):
        """November's invoices, superbills and statements, as a Billing Manager fills in
        the form."""
        form = Form(self.env["practice.billing.generate"].with_user(self.billing_manager))
        form.generate_superbills = True
        form.generate_statements = True
        form.date_from = date(2026, 11, 1)
        form.date_until = date(2026, 11, 30)
        form.invoice_date = date(2026, 11, 30)
        return form

    @freeze_time("2026-12-05 12:00:00")
    def test_the_form_says_what_it_will_make_and_who_receives_it(self):
        form = self._form()
        self.assertEqual(
            (form.invoice_count, form.superbill_count, form.statement_count), (3, 1, 3)
        )
        summary = text(form.summary_html)
        self.assertIn("Invoices: 3 · $ 450.00", summary)
        self.assertIn("Email (2): Ada Lovelace, Jane Doe", summary)
        self.assertIn("Client portal (1): Marcus Webb", summary)
        self.assertIn("Superbills: 1", summary)
        # Ada receives documents by email but has no address: by hand, and said so.
        self.client_ada.email = False
        form.partner_ids.add(self.client_ada)
        form.partner_ids.add(self.client_jane)
        self.assertEqual((form.invoice_count, form.statement_count), (2, 2))
        summary = text(form.summary_html)
        self.assertIn("By hand (staff print or send them) (1): Ada Lovelace", summary)
        self.assertNotIn("Marcus Webb", summary)
        form.generate_invoices = False
        self.assertEqual(form.invoice_count, 0)
        self.assertNotIn("Invoices:", text(form.summary_html))
        self.assertEqual(form.statement_count, 0, "nothing invoiced yet: no activity")

    @freeze_time("2026-12-05 12:00:00")
    def test_the_run_reports_what_it_made(self):
        form = self._form()
        with self.mock_mail_gateway():
            action = form.save().action_generate()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual((run.state, run.trigger), ("done", "wizard"))
        self.assertEqual((run.invoice_count, run.superbill_count, run.statement_count), (3, 1, 3))
        self.assertEqual(run.superbill_ids.partner_id, self.client_jane)
        self.assertEqual(run.statement_ids.mapped("date"), [date(2026, 11, 30)] * 3)
        self.assertEqual(
            run._outcome_text(), "Invoices: 3 ($\xa0450.00), superbills: 1, statements: 3."
        )
        superbills = run.action_view_superbills()
        self.assertEqual(superbills["domain"], [("id", "in", run.superbill_ids.ids)])

    @freeze_time("2026-12-05 12:00:00")
    def test_what_cannot_be_generated_is_said_before(self):
        form = self._form()
        form.date_from = date(2026, 12, 1)
        self.assertIn("The period starts after it ends", text(form.summary_html))
        with self.assertRaises(UserError):
            form.save().action_generate()
        wizard = (
            self.env["practice.billing.generate"]
            .with_user(self.billing_user)
            .create({"generate_superbills": True})
        )
        self.assertIn("only a Billing Manager can make them", text(wizard.summary_html))
        with self.assertRaises(UserError):
            wizard.action_generate()
        self.assertFalse(self.env["practice.superbill"].search([]))

    def test_clients_offered_are_the_practices(self):
        """The Clients field offers the practice's clients, not every contact (Odoo's demo
        customers, vendors), as Billing > Clients lists them."""
        customer = self.env["res.partner"].create({"name": "Deco Addict", "is_company": True})
        domain = self.env["practice.billing.generate"]._fields["partner_ids"].domain
        offered = self.env["res.partner"].with_user(self.billing_manager).search(domain)
        self.assertIn(self.client_ada, offered)
        self.assertNotIn(customer, offered)
