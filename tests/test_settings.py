from odoo.tests import tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestSettings(PracticeBillingCase):
    def _save_settings(self, company, **values):
        settings = self.env["res.config.settings"].with_company(company).create(values)
        settings.execute()

    def test_defaults(self):
        company = self.env["res.company"].create({"name": "New Practice"})
        self.assertFalse(company.billing_auto_invoice)
        self.assertEqual(company.billing_invoice_schedule, "monthly")
        self.assertEqual(company.billing_default_delivery_method, "email")
        self.assertTrue(company.billing_past_due_reminder)
        self.assertEqual(company.billing_past_due_days, 30)

    def test_settings_are_saved_per_company(self):
        other = self.env["res.company"].create({"name": "Second Practice"})
        self.env.user.company_ids |= other
        self._save_settings(
            self.company,
            billing_auto_invoice=True,
            billing_invoice_schedule="daily",
            billing_auto_superbill=True,
            billing_auto_statement=True,
            billing_default_delivery_method="portal",
            billing_past_due_reminder=False,
            billing_past_due_days=45,
        )
        self.assertTrue(self.company.billing_auto_invoice)
        self.assertEqual(self.company.billing_invoice_schedule, "daily")
        self.assertTrue(self.company.billing_auto_superbill)
        self.assertTrue(self.company.billing_auto_statement)
        self.assertEqual(self.company.billing_default_delivery_method, "portal")
        self.assertFalse(self.company.billing_past_due_reminder)
        self.assertEqual(self.company.billing_past_due_days, 45)
        # The other practice keeps its own configuration.
        self.assertFalse(other.billing_auto_invoice)
        self.assertEqual(other.billing_default_delivery_method, "email")
        self.assertEqual(other.billing_past_due_days, 30)
        # Reading the settings back in each company shows that company's values.
        read_back = self.env["res.config.settings"].with_company(self.company).create({})
        self.assertEqual(read_back.billing_default_delivery_method, "portal")
        read_other = self.env["res.config.settings"].with_company(other).create({})
        self.assertEqual(read_other.billing_default_delivery_method, "email")

    def test_practice_time_zone_is_the_company_partner_tz(self):
        settings = self.env["res.config.settings"].with_company(self.company).create({})
        self.assertEqual(settings.billing_practice_tz, "America/New_York")
        self._save_settings(self.company, billing_practice_tz="Pacific/Auckland")
        self.assertEqual(self.company.partner_id.tz, "Pacific/Auckland")
