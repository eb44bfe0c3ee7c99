from freezegun import freeze_time

from odoo import SUPERUSER_ID
from odoo.tests import new_test_user, tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestStaffActivities(PracticeBillingCase):
    """Billing work goes to a person who will see it: never a client, the system user or an
    archived user; notes never turn a client's name into markup."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.billing_auto_invoice = True
        # The database's own managers (admin) work in the demo practice, not this one.
        managers = cls.env.ref("practice_billing.group_billing_manager")
        managers.users.filtered(lambda u: u.id != SUPERUSER_ID).write(
            {"groups_id": [(3, managers.id)]}
        )
        cls.billing_manager.groups_id |= managers
        # The scheduled jobs run as the system; the test's own user is nobody's responsible.
        cls.env = cls.env(su=True)

    def _incomplete_superbill_of_jane(self):
        """The run's superbill of Jane for November, left in draft: nothing an insurer needs
        is recorded."""
        self.company.write({"billing_auto_superbill": True})
        self.client_jane.billing_needs_superbill = True
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        return self.env["practice.superbill"].search([("partner_id", "=", self.client_jane.id)])

    def _responsible(self, client):
        return client._billing_responsible_user(self.company)

    def test_the_salesperson_else_settings_else_a_billing_manager(self):
        self.assertEqual(self._responsible(self.client_jane), self.billing_manager)
        front_desk = new_test_user(
            self.env, login="front", groups="practice_billing.group_billing_user"
        )
        self.company.billing_responsible_user_id = front_desk
        self.assertEqual(self._responsible(self.client_jane), front_desk)
        self.client_jane.user_id = self.clinician
        self.assertEqual(self._responsible(self.client_jane), self.clinician)

    def test_never_a_portal_user_an_archived_user_or_the_system(self):
        self.client_jane.user_id = self.portal_user
        self.company.billing_responsible_user_id = self.env.ref("base.user_root")
        self.assertEqual(self._responsible(self.client_jane), self.billing_manager)
        self.billing_manager.active = False
        responsible = self._responsible(self.client_jane)
        self.assertTrue(responsible, "a billing user or an administrator")
        self.assertFalse(responsible.share)
        self.assertTrue(responsible.active)
        self.assertNotEqual(responsible.id, SUPERUSER_ID)

    def test_the_crons_activities_reach_staff(self):
        """A superbill the run could not issue: the activity goes to staff, not OdooBot."""
        superbill = self._incomplete_superbill_of_jane()
        self.assertEqual(superbill.state, "draft")
        self.assertEqual(superbill.activity_ids.user_id, self.billing_manager)

    def test_a_superbill_to_do_goes_to_someone_who_may_read_it(self):
        """The client's salesperson works the front desk (no superbills): the incomplete
        superbill's to-do goes to a Billing Manager instead."""
        self.client_jane.user_id = self.billing_user
        superbill = self._incomplete_superbill_of_jane()
        self.assertEqual(superbill.activity_ids.user_id, self.billing_manager)
        seen = (
            self.env["mail.activity"]
            .with_user(self.billing_user)
            .search([("res_model", "=", "practice.superbill")])
        )
        self.assertFalse(seen)

    @freeze_time("2026-11-27 12:00:00")
    def test_names_are_text_in_activity_notes(self):
        client = self._create_client(
            '<a href="https://evil.example/">Click</a> Doe', billing_delivery_method="email"
        )
        self._create_session(client, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        activity = client.activity_ids
        self.assertEqual(activity.summary, "Add an email address")
        self.assertNotIn("<a href", str(activity.note))
        self.assertIn("&lt;a href", str(activity.note))
        self.assertEqual(activity.user_id, self.billing_manager)

    def test_a_failure_list_keeps_its_line_breaks(self):
        superbill = self._incomplete_superbill_of_jane()
        note = str(superbill.activity_ids.note)
        self.assertGreater(len(superbill.missing_info.splitlines()), 1)
        self.assertEqual(
            note.count("<br>") + note.count("<br/>"), len(superbill.missing_info.splitlines()) - 1
        )
