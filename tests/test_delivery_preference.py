import importlib.util
from pathlib import Path

from freezegun import freeze_time

from odoo.tests import Form, new_test_user, tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestOneDeliveryPreference(PracticeBillingCase, MockEmail):
    """The client's delivery method is Odoo's own "Invoice sending" preference, with the
    portal added: Odoo's Send wizard, the run, superbills and statements agree."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"billing_auto_invoice": True, "email": "billing@riverside.example"})
        cls.other_company = cls.setup_other_company()["company"]

    def _posted_invoice(self, client):
        return self.init_invoice("out_invoice", partner=client, amounts=[150.0], post=True)

    def test_billing_method_is_odoos_invoice_sending_method(self):
        client = self.client_jane
        client.billing_delivery_method = "portal"
        self.assertEqual(client.invoice_sending_method, "portal")
        # Set in Odoo's own field (the Accounting tab, its Send wizard): billing follows.
        client.invoice_sending_method = "manual"
        client.invalidate_recordset()
        self.assertEqual(client.billing_delivery_method, "manual")

    def test_odoos_send_wizard_offers_the_clients_method(self):
        self.client_jane.billing_delivery_method = "portal"
        invoice = self._posted_invoice(self.client_jane)
        wizard = self.env["account.move.send.wizard"].create({"move_id": invoice.id})
        checked = [key for key, box in wizard.sending_method_checkboxes.items() if box["checked"]]
        self.assertEqual(checked, ["portal"])
        self.assertIn("portal", wizard.sending_method_checkboxes, "Odoo's wizard offers it")

    def test_odoos_send_wizard_by_portal_invites_and_links_without_attachment(self):
        self.client_jane.billing_delivery_method = "portal"
        invoice = self._posted_invoice(self.client_jane)
        wizard = self.env["account.move.send.wizard"].create({"move_id": invoice.id})
        with self.mock_mail_gateway():
            wizard.action_send_and_print()
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertTrue(self.client_jane.user_ids, "invited to the portal")
        self.assertEqual(invoice.billing_delivery_method, "portal")
        self.assertEqual(invoice.billing_delivery_state, "sent")
        notice = [m for m in self._mails if "a new document in your client portal" in m["subject"]]
        self.assertEqual(len(notice), 1)
        self.assertFalse(notice[0]["attachments"], "the portal notice carries nothing")

    def test_a_failed_portal_invitation_fails_that_invoice_only(self):
        """Odoo's background sending goes on for the other invoices of its batch."""
        new_test_user(self.env, login="shared@example.com", email="shared@example.com")
        sibling = self._create_client(
            "Sibling", email="shared@example.com", billing_delivery_method="portal"
        )
        self.client_marcus.billing_delivery_method = "portal"
        refused, invited = self._posted_invoice(sibling), self._posted_invoice(self.client_marcus)
        with self.mock_mail_gateway():
            self.env["account.move.send"]._generate_and_send_invoices(
                refused | invited, allow_raising=False
            )
        self.assertEqual(refused.billing_delivery_state, "failed")
        self.assertTrue(refused.billing_delivery_error)
        self.assertTrue(self.client_marcus.user_ids, "the other client is invited")
        self.assertEqual(invited.billing_delivery_method, "portal")
        self.assertNotEqual(invited.billing_delivery_state, "failed")

    def test_a_new_client_gets_the_practices_default_and_keeps_it(self):
        self.company.billing_default_delivery_method = "portal"
        client = self._create_client("New Client", email="new@example.com")
        self.assertEqual(client.with_company(self.company).invoice_sending_method, "portal")
        self.company.billing_default_delivery_method = "manual"
        client.invalidate_recordset()
        self.assertEqual(client.billing_delivery_method, "portal", "a later default is not theirs")

    def test_a_method_chosen_in_odoos_field_wins_over_the_default(self):
        self.company.billing_default_delivery_method = "portal"
        client = self._create_client("Chose Email", invoice_sending_method="email")
        self.assertEqual(client.billing_delivery_method, "email")

    def test_the_preference_is_per_practice(self):
        client = self.client_jane
        client.with_company(self.company).billing_delivery_method = "manual"
        client.with_company(self.other_company).billing_delivery_method = "portal"
        self.assertEqual(client.with_company(self.company).billing_delivery_method, "manual")
        self.assertEqual(client.with_company(self.other_company).billing_delivery_method, "portal")

    def test_clients_are_found_by_method_including_the_default(self):
        Partner = self.env["res.partner"]
        self.company.billing_default_delivery_method = "email"
        self.client_marcus.billing_delivery_method = "manual"
        self.env.cr.execute(
            "UPDATE res_partner SET invoice_sending_method = NULL WHERE id = %s",
            [self.client_jane.id],
        )
        Partner.invalidate_model()
        self.assertEqual(self.client_jane.billing_delivery_method, "email", "the default")
        by_email = Partner.search([("billing_delivery_method", "=", "email")])
        self.assertIn(self.client_jane, by_email)
        self.assertNotIn(self.client_marcus, by_email)
        manual = Partner.search([("billing_delivery_method", "=", "manual")])
        self.assertIn(self.client_marcus, manual)
        self.assertNotIn(self.client_jane, manual)
        not_manual = Partner.search([("billing_delivery_method", "!=", "manual")])
        self.assertIn(self.client_jane, not_manual)
        self.assertNotIn(self.client_marcus, not_manual)

    def test_form_shows_the_default(self):
        self.company.billing_default_delivery_method = "manual"
        with Form(self.env["res.partner"]) as form:
            form.name = "Walk-in"
        self.assertEqual(form.record.invoice_sending_method, "manual")

    @freeze_time("2026-12-01 06:00:00")
    def test_asking_the_method_has_no_side_effect_delivering_asks_for_the_email(self):
        client = self._create_client("No Email", billing_delivery_method="email")
        self._create_session(client, "2026-11-02 15:00:00")
        invoice = self._posted_invoice(client)
        self.assertEqual(invoice._billing_delivery_method(), "manual")
        self.assertFalse(client.activity_ids, "a getter schedules nothing")
        invoice._billing_deliver()
        self.assertEqual(invoice.billing_delivery_state, "manual")
        self.assertEqual(client.activity_ids.mapped("summary"), ["Add an email address"])


@tagged("-at_install", "post_install")
class TestDocumentNumbers(PracticeBillingCase):
    """Superbills and statements are numbered per practice, as invoices are."""

    @freeze_time("2026-12-01 12:00:00")
    def test_statements_are_numbered_per_practice(self):
        other = self.setup_other_company()["company"]
        Statement = self.env["practice.statement"]
        vals = {"date": "2026-12-01", "date_start": "2026-11-01"}
        first = Statement.create({"partner_id": self.client_jane.id, **vals})
        second = Statement.create({"partner_id": self.client_marcus.id, **vals})
        elsewhere = Statement.create(
            {"partner_id": self.client_jane.id, "company_id": other.id, **vals}
        )
        self.assertEqual(first.name, "ST/2026/00001")
        self.assertEqual(second.name, "ST/2026/00002")
        self.assertEqual(elsewhere.name, "ST/2026/00001", "each practice numbers its own")
        self.assertEqual(first.display_name, "ST/2026/00001 · Jane Doe")
        self.assertEqual(first._get_report_base_filename(), "Statement-ST-2026-00001-Jane-Doe")

    @freeze_time("2026-12-01 12:00:00")
    def test_superbills_have_a_number_and_an_issue_date(self):
        self.company.write({"billing_npi": "1245319599", "billing_tax_id": "12-3456789"})
        superbill = self.env["practice.superbill"].create(
            {
                "partner_id": self.client_jane.id,
                "date_start": "2026-11-01",
                "date_end": "2026-11-30",
            }
        )
        self.assertEqual(superbill.name, "SB/2026/00001")
        self.assertFalse(superbill.date_issued)
        self.assertEqual(superbill.access_url, f"/my/superbills/{superbill.id}")


@tagged("-at_install", "post_install")
class TestDeliveryMethodMigration(PracticeBillingCase):
    """Databases of 18.0.1.0.0 kept the method in a column of its own."""

    def test_each_client_keeps_their_method_in_every_practice(self):
        path = Path(__file__).parent.parent / "migrations" / "18.0.1.1.0" / "post-migrate.py"
        spec = importlib.util.spec_from_file_location("post_migrate_18_0_1_1_0", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        other = self.setup_other_company()["company"]
        cr = self.env.cr
        self.env.flush_all()
        cr.execute("ALTER TABLE res_partner ADD COLUMN billing_delivery_method varchar")
        cr.execute(
            "UPDATE res_partner SET billing_delivery_method = 'portal', "
            "invoice_sending_method = NULL WHERE id = %s",
            [self.client_jane.id],
        )
        # Odoo's Send wizard stored "by Email" (its default then) on Marcus for the other
        # practice the first time staff sent him an invoice: the practice's choice wins.
        cr.execute(
            "UPDATE res_partner SET billing_delivery_method = 'manual', "
            "invoice_sending_method = jsonb_build_object(%s::text, 'email') WHERE id = %s",
            [other.id, self.client_marcus.id],
        )
        migration.migrate(cr, "18.0.1.0.0")
        self.env.invalidate_all()
        for company in self.company | other:
            self.assertEqual(
                self.client_jane.with_company(company).billing_delivery_method, "portal"
            )
        self.assertEqual(
            self.client_marcus.with_company(self.company).billing_delivery_method, "manual"
        )
        self.assertEqual(self.client_marcus.with_company(other).billing_delivery_method, "manual")
        cr.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'res_partner' "
            "AND column_name = 'billing_delivery_method'"
        )
        self.assertFalse(cr.fetchone(), "the old column is gone")
