from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestAccess(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()

    def test_billing_groups_imply_invoicing_not_the_reverse(self):
        """Billing staff handle invoices; an accountant is not entitled to clients' health
        information, so Odoo's accounting groups grant no billing role."""
        invoicing = new_test_user(self.env, login="inv", groups="account.group_account_invoice")
        self.assertFalse(invoicing.has_group("practice_billing.group_billing_user"))
        adviser = new_test_user(self.env, login="adv", groups="account.group_account_manager")
        self.assertFalse(adviser.has_group("practice_billing.group_billing_manager"))
        self.assertTrue(self.billing_user.has_group("account.group_account_invoice"))
        self.assertTrue(self.billing_manager.has_group("practice_billing.group_billing_user"))
        self.assertFalse(self.billing_user.has_group("practice_billing.group_billing_manager"))

    @freeze_time("2026-11-27 12:00:00")
    def test_billing_user_reads_sessions_and_sets_delivery(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        jane = self.client_jane.with_user(self.billing_user)
        self.assertEqual(jane.billing_uninvoiced_amount, 150.0)
        self.assertEqual(jane.billing_balance, 0.0)
        jane.billing_delivery_method = "manual"
        self.assertEqual(self.client_jane.billing_delivery_method, "manual")
        sessions = (
            self.env["calendar.event"]
            .with_user(self.billing_user)
            .search([("billing_state", "=", "uninvoiced"), ("billing_client_id", "=", jane.id)])
        )
        self.assertEqual(sessions.billing_fee, 150.0)

    @freeze_time("2026-11-27 12:00:00")
    def test_portal_client_cannot_read_billing_data(self):
        session = self._create_session(self.portal_client, "2026-11-02 15:00:00")
        own_partner = self.portal_client.with_user(self.portal_user)
        self.assertEqual(own_partner.name, self.portal_client.name, "the portal still works")
        for field in ("billing_balance", "billing_uninvoiced_amount", "billing_delivery_method"):
            with self.assertRaises(AccessError, msg=field):
                own_partner.read([field])
        own_session = session.with_user(self.portal_user)
        own_session.read(["name"])
        for field in ("billing_fee", "billing_state", "billing_client_id"):
            with self.assertRaises(AccessError, msg=field):
                own_session.read([field])
        with self.assertRaises(AccessError):
            self.env["calendar.event"].with_user(self.portal_user).search(
                [("billing_state", "=", "uninvoiced")]
            )

    def test_only_billing_managers_see_the_settings(self):
        settings_view = self.env.ref("practice_billing.res_config_settings_view_form")
        app = settings_view.arch_db
        self.assertIn('groups="practice_billing.group_billing_manager"', app)
        menu = self.env.ref("practice_billing.menu_billing_root")
        self.assertIn(menu, self.env["ir.ui.menu"].with_user(self.billing_user).search([]))
        config_menu = self.env.ref("practice_billing.menu_billing_configuration")
        visible_to_user = self.env["ir.ui.menu"].with_user(self.billing_user).search([])
        self.assertNotIn(config_menu, visible_to_user)
        visible_to_manager = self.env["ir.ui.menu"].with_user(self.billing_manager).search([])
        self.assertIn(config_menu, visible_to_manager)
