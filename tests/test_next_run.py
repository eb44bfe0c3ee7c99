from datetime import date, datetime

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase, PracticeHttpCase

# November's scheduled run (sessions before Nov 1, 00:00 in New York) has been done.
NOVEMBER_BILLED = datetime(2026, 11, 1, 4, 0)


class NextRunCase(PracticeBillingCase, MockEmail):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.billing_auto_invoice = True
        cls.company.billing_last_cutoff = NOVEMBER_BILLED

    def _preview(self, utc_now="2026-11-27 12:00:00", user=None):
        Preview = self.env["practice.billing.preview"]
        if user:
            Preview = Preview.with_user(user)
        with freeze_time(utc_now):
            return Preview._create_for_next_run()

    def _bill_now(self, preview, utc_now="2026-11-27 12:00:00"):
        with freeze_time(utc_now), self.mock_mail_gateway():
            action = preview.action_bill_now()
        return self.env["practice.billing.run"].browse(action["res_id"])


@tagged("-at_install", "post_install")
class TestNextRunPreview(NextRunCase):
    def test_title_and_times_in_the_practice_time_zone_without_seconds(self):
        preview = self._preview()
        self.assertEqual(preview.display_name, "Next Run: 12/01/2026")
        action = self.env["practice.billing.preview"].action_open_next_run()
        self.assertNotIn("practice.billing.preview", action["name"])
        # Midnight in New York, whatever the user's own time zone.
        self.env.user.tz = "Asia/Tokyo"
        self.assertEqual(preview.cutoff_text, "12/01/2026 00:00 EST")
        self.company.partner_id.tz = "America/Los_Angeles"
        self.company.billing_last_cutoff = datetime(2026, 11, 1, 7, 0)  # midnight there
        self.assertEqual(self._preview().cutoff_text, "12/01/2026 00:00 PST")
        # A practice without a time zone bills by UTC midnight, and says so (one zone for
        # every time billing shows: res.company._billing_format_datetime).
        self.company.partner_id.tz = False
        self.assertEqual(self._preview().cutoff_text, "12/01/2026 00:00 UTC")

    def test_counts_what_the_run_will_make_and_its_problems(self):
        """Invoices, superbills (one incomplete), statements and a client the run cannot
        bill, counted before the run; the run then makes exactly that."""
        self._record_provider_identifiers()
        self._record_insurance(self.client_jane)
        self.client_marcus.billing_needs_superbill = True  # no insurance details
        for day in (2, 9):
            self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        broken = self._create_client("Ada Broken", email="ada@example.com")
        self._create_failing_session(broken, "2026-11-04 15:00:00")
        preview = self._preview()
        self.assertEqual(preview.invoice_date, date(2026, 12, 1))
        self.assertEqual(
            (preview.client_count, preview.session_count, preview.amount_total),
            (2, 3, 450.0),
        )
        self.assertEqual(preview.superbill_count, 2)
        self.assertEqual(preview.superbill_incomplete_count, 1)
        self.assertEqual(preview.statement_count, 2)
        self.assertEqual(preview.failure_count, 1)
        failing = preview.line_ids.filtered("problem")
        self.assertEqual(failing.partner_id, broken)
        self.assertIn("archived service", failing.problem)
        self.assertIn("Restore the service", failing.problem)
        summary = str(preview.summary_html)
        self.assertIn("Marcus Webb", summary)
        self.assertIn("insurance member ID", summary, "why Marcus's superbill stays in draft")
        self.assertIn("Email", summary)
        with self.mock_mail_gateway():
            run = self._cron("2026-12-01 06:00:00")
        self.assertEqual(run.invoice_count, preview.client_count)
        self.assertEqual(run.amount_total, preview.amount_total)
        self.assertEqual(run.superbill_count, preview.superbill_count)
        self.assertEqual(
            len(run.superbill_ids.filtered(lambda s: s.state == "draft")),
            preview.superbill_incomplete_count,
        )
        self.assertEqual(run.statement_count, preview.statement_count)
        self.assertEqual(run.failure_ids.partner_id, broken)

    def test_a_period_not_billed_yet_is_the_next_run(self):
        """Within the hour after midnight on the 1st, the next run is the one that is due,
        not next month's."""
        self.company.billing_last_cutoff = False
        self._create_session(self.client_jane, "2026-10-20 15:00:00")
        preview = self._preview("2026-11-01 04:30:00")
        self.assertTrue(preview.is_due)
        self.assertEqual(preview.invoice_date, date(2026, 11, 1))
        self.assertEqual(preview.client_count, 1)

    def test_billing_users_see_no_superbill_figures(self):
        """Superbills carry diagnoses: their figures are for Billing Managers."""
        self._record_provider_identifiers()
        self._record_insurance(self.client_jane)
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        preview = self._preview(user=self.billing_user)
        self.assertEqual(preview.client_count, 1)
        self.assertNotIn("Superbills", str(preview.summary_html))
        self.assertIn("Statements", str(preview.summary_html))
        with self.assertRaises(AccessError):
            preview.read(["superbill_count"])
        self.assertNotIn("superbill", preview.confirmation_message)


@tagged("-at_install", "post_install")
class TestBillNow(NextRunCase):
    def test_confirmation_says_how_many_clients_and_how_much(self):
        """Bill now bills what has happened: up to now, dated today; the confirmation says
        so before anything is billed."""
        jane = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        jane |= self._create_session(self.client_jane, "2026-11-09 15:00:00")
        marcus = self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        later = self._create_session(self.client_marcus, "2026-11-28 15:00:00")
        preview = self._preview()
        with freeze_time("2026-11-27 12:00:00"):
            message = preview.confirmation_message
            self.assertEqual(preview.bill_now_client_count, 2)
            dialog = preview.action_confirm_bill_now()
        self.assertEqual(dialog["target"], "new")
        self.assertEqual(dialog["res_id"], preview.id)
        self.assertIn("Bill 2 clients for $\xa0450.00 now", message)
        self.assertIn("3 sessions that started before 11/27/2026 07:00 EST", message)
        self.assertFalse(jane.billing_invoice_line_id, "nothing billed by asking")
        run = self._bill_now(preview)
        self.assertEqual((run.trigger, run.state, run.user_id), ("manual", "done", self.env.user))
        self.assertEqual(run.invoice_ids.mapped("invoice_date"), [date(2026, 11, 27)] * 2)
        self._assert_billed_once(jane | marcus)
        self.assertFalse(later.billing_invoice_line_id, "not happened yet")
        self.assertFalse(run.closes_period, "December 1st's run still bills the rest")
        self.assertEqual(preview.run_id, run)

    def test_nothing_to_bill_says_so(self):
        preview = self._preview()
        with freeze_time("2026-11-27 12:00:00"):
            self.assertEqual(preview.bill_now_client_count, 0)
            self.assertIn("nothing to bill now", preview.confirmation_message)

    def test_two_clicks_bill_once(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        preview = self._preview()
        Run = self.env["practice.billing.run"]
        before = Run.search([])
        first = self._bill_now(preview)
        second = self._bill_now(preview, "2026-11-27 12:00:05")
        self.assertEqual(first, second)
        self.assertEqual(Run.search([]) - before, first)
        self._assert_billed_once(session)

    def test_two_previews_bill_each_session_once(self):
        """Two managers, two Next Run pages, both click: the second run finds nothing due."""
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        first, second = self._preview(), self._preview()
        self._bill_now(first)
        run = self._bill_now(second, "2026-11-27 12:01:00")
        self.assertFalse(run.invoice_ids)
        self._assert_billed_once(session)

    def test_bill_now_of_a_period_due_is_its_scheduled_run(self):
        """Bill now when the period has ended but the job has not come round: it is that
        period's run (invoices dated the 1st, the month's documents) and the job does not
        bill the period again."""
        self.company.billing_last_cutoff = False
        self.company.billing_auto_statement = True
        session = self._create_session(self.client_jane, "2026-10-20 15:00:00")
        preview = self._preview("2026-11-01 04:30:00")
        with freeze_time("2026-11-01 04:30:00"):
            self.assertIn("period's scheduled run", preview.confirmation_message)
        run = self._bill_now(preview, "2026-11-01 04:30:00")
        self.assertTrue(run.closes_period)
        self.assertEqual(run.trigger, "manual")
        self.assertEqual(run.invoice_ids.invoice_date, date(2026, 11, 1))
        self.assertEqual(run.statement_count, 1)
        self._assert_billed_once(session)
        self.assertEqual(self.company.billing_last_cutoff, datetime(2026, 11, 1, 4, 0))
        with self.mock_mail_gateway():
            self.assertFalse(self._cron("2026-11-01 05:00:00"), "the job leaves the period")

    def test_bill_now_is_for_billing_staff(self):
        clinician_preview = self.env["practice.billing.preview"].create({})
        with self.assertRaises(AccessError):
            clinician_preview.with_user(self.clinician).action_bill_now()
        with self.assertRaises(AccessError):
            self.env["practice.billing.preview"].with_user(self.clinician).create({})


@tagged("-at_install", "post_install")
class TestManagerTour(PracticeHttpCase):
    """A practice manager in Chromium: Next Run, Bill now with its confirmation, then
    Generate Billing Documents with what it will make before and what it made after."""

    def test_manager_previews_bills_now_and_generates_statements(self):
        for name in ("Jane Doe", "Marcus Webb"):
            address = f"{name.split()[0].lower()}@example.com"
            self._client_with_sessions(name, address, "manual")
        self._admin_works_here()
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_runs",
            "practice_billing_manager_tour",
            login="admin",
        )
        run, generate = self.env["practice.billing.run"].search(
            [("company_id", "=", self.company.id)], order="id"
        )
        self.assertEqual((run.trigger, run.state, run.invoice_count), ("manual", "done", 2))
        self.assertTrue(run.closes_period)
        self.assertEqual(generate.trigger, "wizard")
        self.assertEqual(generate.statement_count, 2)
        self.assertEqual(
            sorted(generate.statement_ids.partner_id.mapped("name")), ["Jane Doe", "Marcus Webb"]
        )
        self.assertFalse(generate.invoice_ids)
