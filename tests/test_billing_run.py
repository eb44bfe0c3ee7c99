from datetime import date, datetime
from unittest.mock import patch

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestMonthlyRun(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_auto_invoice = True

    def _jane_november(self):
        # 10:00 in New York is 15:00 UTC.
        return self.env["calendar.event"].concat(
            *(
                self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
                for day in (2, 9, 16, 23)
            )
        )

    def test_seed_example(self):
        sessions = self._jane_november()
        with freeze_time("2026-11-27 12:00:00"):
            self.assertEqual(self.client_jane.billing_uninvoiced_amount, 600.0)
        # 01:00 on December 1st in New York.
        runs = self._cron("2026-12-01 06:00:00")
        self.assertEqual(len(runs), 1)
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(len(invoice), 1)
        self.assertEqual(invoice.amount_total, 600.0)
        self.assertEqual(invoice.invoice_date, date(2026, 12, 1))
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(
            invoice.invoice_line_ids.mapped("name"),
            [f"2026-11-{day:02d} — Psychotherapy, 53 min" for day in (2, 9, 16, 23)],
        )
        self.assertEqual(set(invoice.invoice_line_ids.mapped("quantity")), {1.0})
        self.assertEqual(invoice.invoice_line_ids.product_id, self.service_53)
        for session in sessions:
            self.assertEqual(session.billing_invoice_id, invoice)
            self.assertEqual(session.billing_invoice_line_id.billing_session_ids, session)
        self._assert_billed_once(sessions)
        self.client_jane.invalidate_recordset()
        with freeze_time("2026-12-01 06:00:00"):
            self.assertEqual(self.client_jane.billing_balance, 600.0)
            self.assertEqual(self.client_jane.billing_uninvoiced_amount, 0.0)
            self.assertEqual(self.client_jane.billing_uninvoiced_count, 0)
        self.assertEqual(runs.state, "done")
        self.assertEqual(runs.trigger, "cron")
        self.assertEqual((runs.client_count, runs.session_count, runs.invoice_count), (1, 4, 1))
        self.assertEqual(runs.amount_total, 600.0)

    def test_client_on_a_foreign_currency_pricelist(self):
        """Invoiced in the pricelist's currency, each fee converted at the invoice date's
        rate (1 USD = 2 EUR here); the balance is the same $600 in the practice's currency."""
        euro = self.setup_other_currency("EUR")
        self.client_jane.property_product_pricelist = self.env["product.pricelist"].create(
            {"name": "Clients abroad", "currency_id": euro.id}
        )
        sessions = self._jane_november()
        self._cron("2026-12-01 06:00:00")
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.currency_id, euro)
        self.assertEqual(invoice.invoice_line_ids.mapped("price_unit"), [300.0] * 4)
        self.assertEqual(invoice.amount_total, 1200.0)
        self.assertEqual(invoice.amount_total_signed, 600.0)
        self._assert_billed_once(sessions)
        self.client_jane.invalidate_recordset()
        with freeze_time("2026-12-01 06:00:00"):
            self.assertEqual(self.client_jane.billing_balance, 600.0)
            self.assertEqual(self.client_jane.billing_uninvoiced_amount, 0.0)

    def test_reruns_the_same_day_and_the_next_add_nothing(self):
        self._jane_november()
        self._cron("2026-12-01 06:00:00")
        self.assertFalse(self._cron("2026-12-01 07:00:00"))
        self.assertFalse(self._cron("2026-12-01 23:00:00"))
        self.assertFalse(self._cron("2026-12-02 06:00:00"))
        self.assertEqual(len(self._invoices_of(self.client_jane)), 1)

    def test_nothing_is_billed_before_local_midnight(self):
        sessions = self._jane_november()
        # 23:30 on November 30th in New York: still November there.
        self._cron("2026-12-01 04:30:00")
        self.assertFalse(self._invoices_of(self.client_jane))
        self._cron("2026-12-01 05:05:00")
        self.assertEqual(self._invoices_of(self.client_jane).amount_total, 600.0)
        self._assert_billed_once(sessions)

    def test_month_boundary_far_from_utc(self):
        self.company.partner_id.tz = "Pacific/Auckland"  # UTC+13 in summer
        # 23:30 on Oct 31 and 00:30 on Nov 1 in Auckland: both on Oct 31 in UTC.
        october = self._create_session(self.client_jane, "2026-10-31 10:30:00")
        november = self._create_session(self.client_jane, "2026-10-31 11:30:00")
        # 00:05 on November 1st in Auckland, still October 31st in UTC.
        self._cron("2026-10-31 11:05:00")
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.invoice_date, date(2026, 11, 1), "dated the local 1st")
        self.assertEqual(invoice.invoice_line_ids.billing_session_ids, october)
        self.assertEqual(invoice.invoice_line_ids.name, "2026-10-31 — Psychotherapy, 53 min")
        with freeze_time("2026-11-15 00:00:00"):
            november.invalidate_recordset(["billing_state"])
            self.assertEqual(november.billing_state, "uninvoiced")
        self._cron("2026-11-30 11:05:00")  # 00:05 on December 1st in Auckland
        december_invoice = self._invoices_of(self.client_jane) - invoice
        self.assertEqual(december_invoice.invoice_line_ids.billing_session_ids, november)
        self.assertEqual(
            december_invoice.invoice_line_ids.name, "2026-11-01 — Psychotherapy, 53 min"
        )

    def test_catch_up_after_downtime(self):
        self._jane_november()
        # The server was down on the 1st; it comes back on the 3rd.
        runs = self._cron("2026-12-03 14:00:00")
        self.assertEqual(len(runs), 1)
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.amount_total, 600.0)
        self.assertEqual(invoice.invoice_date, date(2026, 12, 1))
        # Down for two whole months: both months are billed by the first run back.
        self._create_session(self.client_marcus, "2026-12-10 15:00:00")
        self._create_session(self.client_marcus, "2027-01-10 15:00:00")
        self._cron("2027-02-02 14:00:00")
        self.assertEqual(self._invoices_of(self.client_marcus).amount_total, 300.0)

    def test_late_entered_session_is_billed_by_the_next_run(self):
        self._jane_november()
        self._cron("2026-12-01 06:00:00")
        # On December 5th, staff enter a November session they forgot.
        with freeze_time("2026-12-05 12:00:00"):
            late = self._create_session(self.client_jane, "2026-11-27 15:00:00")
            self.assertEqual(late.billing_state, "uninvoiced")
        self.assertFalse(self._cron("2026-12-05 13:00:00"), "mid-month: wait for the 1st")
        self._cron("2027-01-01 06:00:00")
        january = self._invoices_of(self.client_jane)[1:]
        self.assertEqual(january.invoice_date, date(2027, 1, 1))
        self.assertEqual(january.invoice_line_ids.billing_session_ids, late)
        self.assertEqual(january.amount_total, 150.0)

    def test_cancelled_and_future_sessions_are_never_billed(self):
        cancelled = self._create_session(
            self.client_jane, "2026-11-02 15:00:00", billing_attendance="cancelled"
        )
        future = self._create_session(self.client_jane, "2026-12-02 15:00:00")
        attended = self._create_session(self.client_jane, "2026-11-09 15:00:00")
        self._cron("2026-12-01 06:00:00")
        self.assertEqual(
            self._invoices_of(self.client_jane).invoice_line_ids.billing_session_ids, attended
        )
        self.assertFalse(cancelled.billing_invoice_line_id)
        self.assertFalse(future.billing_invoice_line_id)

    def test_late_cancel_and_no_show_fees(self):
        self.company.billing_late_cancel_percent = 50.0
        self.company.billing_no_show_percent = 0.0
        late = self._create_session(
            self.client_jane, "2026-11-02 15:00:00", billing_attendance="late_cancel"
        )
        no_show = self._create_session(
            self.client_jane, "2026-11-09 15:00:00", billing_attendance="no_show"
        )
        attended = self._create_session(self.client_jane, "2026-11-16 15:00:00")
        with freeze_time("2026-11-27 12:00:00"):
            self.assertEqual(late.billing_amount, 75.0)
            self.assertEqual(no_show.billing_state, "not_billable", "0 % means not billed")
            self.assertEqual(self.client_jane.billing_uninvoiced_amount, 225.0)
        self._cron("2026-12-01 06:00:00")
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.amount_total, 225.0)
        late_line = late.billing_invoice_line_id
        self.assertEqual(late_line.price_unit, 75.0)
        self.assertEqual(
            late_line.name,
            "2026-11-02 — Late cancellation fee (50% of Psychotherapy, 53 min)",
        )
        self.assertEqual(attended.billing_invoice_line_id.price_unit, 150.0)
        self.assertFalse(no_show.billing_invoice_line_id)

    def test_full_missed_fee_by_default(self):
        no_show = self._create_session(
            self.client_jane, "2026-11-02 15:00:00", billing_attendance="no_show"
        )
        self._cron("2026-12-01 06:00:00")
        self.assertEqual(no_show.billing_invoice_line_id.price_unit, 150.0)
        self.assertIn("No-show fee (100% of", no_show.billing_invoice_line_id.name)

    def test_fee_override_is_billed(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00", billing_fee=95.5)
        self._cron("2026-12-01 06:00:00")
        self.assertEqual(session.billing_invoice_line_id.price_unit, 95.5)
        self.assertEqual(self._invoices_of(self.client_jane).amount_total, 95.5)

    def test_one_invoice_per_client(self):
        jane = self._jane_november()
        marcus = self._create_session(
            self.client_marcus, "2026-11-03 15:00:00", service=self.service_45
        )
        run = self._cron("2026-12-01 06:00:00")
        self.assertEqual(run.invoice_count, 2)
        self.assertEqual(run.client_count, 2)
        self.assertEqual(run.session_count, 5)
        self.assertEqual(run.amount_total, 730.0)
        self._assert_billed_once(jane | marcus)

    def test_client_payment_terms_and_fiscal_position(self):
        self.client_jane.property_payment_term_id = self.pay_terms_b
        self.client_jane.property_account_position_id = self.fiscal_pos_a
        self._jane_november()
        self._cron("2026-12-01 06:00:00")
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.invoice_payment_term_id, self.pay_terms_b)
        self.assertEqual(invoice.fiscal_position_id, self.fiscal_pos_a)

    def test_review_invoices_keeps_them_in_draft(self):
        self.company.billing_review_invoices = True
        sessions = self._jane_november()
        self._cron("2026-12-01 06:00:00")
        invoice = self._invoices_of(self.client_jane)
        self.assertEqual(invoice.state, "draft")
        self._assert_billed_once(sessions)
        self.assertFalse(self._cron("2026-12-01 08:00:00"))
        self.assertEqual(len(self._invoices_of(self.client_jane)), 1)

    def test_auto_invoice_off_bills_nothing(self):
        self.company.billing_auto_invoice = False
        self._jane_november()
        self.assertFalse(self._cron("2026-12-01 06:00:00"))
        self.assertFalse(self._invoices_of(self.client_jane))

    def test_daily_schedule(self):
        self.company.billing_invoice_schedule = "daily"
        first = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        second = self._create_session(self.client_jane, "2026-11-03 15:00:00")
        self._cron("2026-11-03 06:00:00")  # 01:00 on Nov 3rd in New York
        invoices = self._invoices_of(self.client_jane)
        self.assertEqual(invoices.invoice_line_ids.billing_session_ids, first)
        self.assertEqual(invoices.invoice_date, date(2026, 11, 3))
        self.assertFalse(self._cron("2026-11-03 20:00:00"), "same day: nothing new")
        self._cron("2026-11-04 06:00:00")
        second_invoice = self._invoices_of(self.client_jane) - invoices
        self.assertEqual(second_invoice.invoice_line_ids.billing_session_ids, second)
        self.assertEqual(second_invoice.invoice_date, date(2026, 11, 4))


@tagged("-at_install", "post_install")
class TestRunFailures(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_auto_invoice = True

    def test_a_failing_client_does_not_block_the_others(self):
        retired = self._create_billing_service("Retired service", "90832", 100.0)
        broken = self._create_session(self.client_marcus, "2026-11-03 15:00:00", service=retired)
        retired.active = False
        good = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        run = self._cron("2026-12-01 06:00:00")
        self.assertEqual(run.state, "partial")
        self._assert_billed_once(good)
        self.assertFalse(broken.billing_invoice_line_id)
        self.assertEqual(run.failure_ids.partner_id, self.client_marcus)
        reason = run.failure_ids.reason
        self.assertIn("11/03/2026 10:00", reason, "when, in the practice's time and language")
        self.assertIn("Marcus Webb", reason)
        self.assertIn("archived service", reason)
        self.assertIn("Restore the service", reason)
        activity = self.client_marcus.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertIn("Billing failed", activity.summary)
        # Staff restore the service and bill the client now.
        retired.active = True
        with freeze_time("2026-12-02 15:00:00"):
            self.client_marcus.action_billing_invoice_now()
        self._assert_billed_once(broken)

    def test_missing_income_account_is_a_clear_failure(self):
        service = self._create_billing_service("No account", "90834", 130.0)
        service.categ_id = self.env["product.category"].create({"name": "Unaccounted"})
        service.categ_id.property_account_income_categ_id = False
        service.property_account_income_id = False
        self._create_session(self.client_marcus, "2026-11-03 15:00:00", service=service)
        good = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        run = self._cron("2026-12-01 06:00:00")
        self._assert_billed_once(good)
        self.assertIn("has no income account", run.failure_ids.reason)
        self.assertIn("No account", run.failure_ids.reason)

    def test_unexpected_error_in_one_client_is_recorded(self):
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        good = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        Run = type(self.env["practice.billing.run"])
        original = Run._prepare_invoice_vals

        def explode_for_marcus(run, client, sessions):
            if client == self.client_marcus:
                raise ValueError("disk on fire")
            return original(run, client, sessions)

        with patch.object(Run, "_prepare_invoice_vals", explode_for_marcus):
            run = self._cron("2026-12-01 06:00:00")
        self._assert_billed_once(good)
        self.assertIn("disk on fire", run.failure_ids.reason)
        self.assertEqual(run.failure_ids.partner_id, self.client_marcus)

    def test_crash_mid_run_resumes_without_double_billing(self):
        clients = [self._create_client(f"Client {i:02d}") for i in range(5)]
        sessions = self.env["calendar.event"].concat(
            *(self._create_session(c, "2026-11-02 15:00:00") for c in clients)
        )
        Run = type(self.env["practice.billing.run"])
        original = Run._bill_batch
        calls = []

        def crash_on_third_batch(run, batch):
            calls.append(batch)
            if len(calls) == 3:
                raise KeyboardInterrupt("worker killed")
            return original(run, batch)

        # Not assertRaises: Odoo's rolls back its block, and the crash must not.
        crashed = False
        with (
            patch.object(Run, "BATCH_SIZE", 1),
            patch.object(Run, "_bill_batch", crash_on_third_batch),
        ):
            try:
                self._cron("2026-12-01 06:00:00")
            except KeyboardInterrupt:
                crashed = True
        self.assertTrue(crashed)
        # Two batches were billed (and, outside tests, committed) before the crash.
        billed = sessions.filtered("billing_invoice_line_id")
        self.assertEqual(len(billed), 2)
        self.assertFalse(self.company.billing_last_cutoff, "the period is not marked done")
        crashed_run = self.env["practice.billing.run"].search([], limit=1)
        self.assertEqual(crashed_run.state, "running")
        # The next execution bills the rest, and nothing twice; the crashed run says so.
        self._cron("2026-12-01 07:00:00")
        self._assert_billed_once(sessions)
        self.assertEqual(crashed_run.state, "failed")
        self.assertIn("Interrupted", crashed_run.error)
        self.assertEqual(self.company.billing_last_cutoff, datetime(2026, 12, 1, 5, 0))


@tagged("-at_install", "post_install")
class TestBilledSessionsAreLocked(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_auto_invoice = True

    def _billed_session(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        return session

    def test_what_was_billed_cannot_change(self):
        session = self._billed_session()
        invoice = session.billing_invoice_id
        changes = {
            "billing_fee": 10.0,
            "billing_client_id": self.client_marcus.id,
            "billing_product_id": self.service_45.id,
            "billing_attendance": "cancelled",
            "start": datetime(2026, 11, 3, 15, 0),
        }
        for field, value in changes.items():
            with self.assertRaises(UserError, msg=field) as caught:
                session.write({field: value})
            message = caught.exception.args[0]
            self.assertIn("11/02/2026 10:00", message)
            self.assertIn("Jane Doe", message)
            self.assertIn(invoice.name, message)
            self.assertIn("Cancel that invoice", message)
        self.assertEqual(session.billing_fee, 150.0)
        # Harmless edits go through, and so does writing the same values again.
        session.write({"name": "Renamed", "description": "notes", "billing_fee": 150.0})
        self.assertEqual(session.name, "Renamed")

    def test_billed_session_cannot_be_deleted(self):
        session = self._billed_session()
        with self.assertRaises(UserError):
            session.unlink()
        self.assertTrue(session.exists())

    def test_recurrence_edit_cannot_delete_or_move_a_billed_session(self):
        start = datetime(2026, 11, 2, 15, 0)
        first = self.env["calendar.event"].create(
            {
                "name": "Weekly therapy",
                "start": start,
                "stop": datetime(2026, 11, 2, 15, 53),
                "user_id": self.clinician.id,
                "partner_ids": [(6, 0, [self.client_jane.id, self.clinician.partner_id.id])],
                "billing_product_id": self.service_53.id,
                "recurrency": True,
                "rrule_type": "weekly",
                "interval": 1,
                "count": 8,
                "end_type": "count",
                "tue": False,
                "mon": True,
            }
        )
        series = first.recurrence_id.calendar_event_ids
        self.assertEqual(len(series), 8)
        self._cron("2026-12-01 06:00:00")
        billed = series.filtered("billing_invoice_line_id")
        self.assertEqual(len(billed), 5, "the five November Mondays")
        with self.assertRaises(UserError):
            first.write({"recurrence_update": "all_events", "start": datetime(2026, 11, 2, 17, 0)})
        with self.assertRaises(UserError):
            first.write(
                {"recurrence_update": "future_events", "start": datetime(2026, 11, 2, 17, 0)}
            )
        with self.assertRaises(UserError):
            first.action_mass_deletion("all_events")
        with self.assertRaises(UserError):
            billed[-1].action_archive()
        with self.assertRaises(UserError):
            series.recurrence_id.unlink()
        self.assertEqual(billed.exists(), billed)
        self.assertEqual(billed.recurrence_id, first.recurrence_id)
        self.assertEqual(set(billed.mapped("active")), {True})
        self.assertEqual(billed[0].start, start)

    def test_cancelling_the_invoice_frees_its_sessions(self):
        session = self._billed_session()
        invoice = session.billing_invoice_id
        invoice.button_draft()
        invoice.button_cancel()
        with freeze_time("2026-12-02 12:00:00"):
            session.invalidate_recordset(["billing_state"])
            self.assertEqual(session.billing_state, "uninvoiced")
            session.billing_fee = 140.0  # editable again
        self._cron("2027-01-01 06:00:00")
        new_invoice = session.billing_invoice_id
        self.assertNotEqual(new_invoice, invoice)
        self.assertEqual(new_invoice.amount_total, 140.0)
        self._assert_billed_once(session)

    def test_removing_the_line_from_a_draft_invoice_frees_the_session(self):
        self.company.billing_review_invoices = True
        session = self._billed_session()
        invoice = session.billing_invoice_id
        invoice.invoice_line_ids.unlink()
        self.assertFalse(session.billing_invoice_line_id)
        with freeze_time("2026-12-02 12:00:00"):
            session.invalidate_recordset(["billing_state"])
            self.assertEqual(session.billing_state, "uninvoiced")


@tagged("-at_install", "post_install")
class TestManualEntryPoints(PracticeBillingCase):
    def test_invoice_now_bills_only_the_selected_clients_up_to_now(self):
        jane = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        jane_later = self._create_session(self.client_jane, "2026-11-20 15:00:00")
        marcus = self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        with freeze_time("2026-11-10 12:00:00"):
            action = self.client_jane.action_billing_invoice_now()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual(run.trigger, "manual")
        self.assertEqual(run.invoice_ids.invoice_date, date(2026, 11, 10))
        self._assert_billed_once(jane)
        self.assertFalse(jane_later.billing_invoice_line_id, "not yet happened")
        self.assertFalse(marcus.billing_invoice_line_id, "not selected")

    def test_server_action_on_the_client_list(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        action = self.env.ref("practice_billing.action_server_invoice_now")
        self.assertEqual(action.binding_model_id.model, "res.partner")
        with freeze_time("2026-11-10 12:00:00"):
            action.with_context(active_model="res.partner", active_ids=self.client_jane.ids).run()
        self._assert_billed_once(session)

    def test_wizard_bills_a_period_for_chosen_clients(self):
        inside = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        after = self._create_session(self.client_jane, "2026-11-16 15:00:00")
        other = self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        with freeze_time("2026-11-27 12:00:00"):
            form = Form(self.env["practice.billing.generate"])
            form.date_until = date(2026, 11, 15)
            form.partner_ids.add(self.client_jane)
            wizard = form.save()
            action = wizard.action_generate()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual(run.trigger, "wizard")
        self._assert_billed_once(inside)
        self.assertFalse(after.billing_invoice_line_id | other.billing_invoice_line_id)

    def test_wizard_never_bills_a_session_still_to_come(self):
        # Nothing is recorded on a session before it happens, and nothing recorded is
        # billed as attended: billed now, this afternoon's session would be charged in full
        # and locked against the no-show or cancellation staff record later today.
        morning = self._create_session(self.client_jane, "2026-11-27 14:00:00")  # 09:00 NY
        afternoon = self._create_session(self.client_jane, "2026-11-27 20:00:00")  # 15:00
        next_week = self._create_session(self.client_jane, "2026-12-02 15:00:00")
        with freeze_time("2026-11-27 17:00:00"):  # noon in New York
            form = Form(self.env["practice.billing.generate"])
            self.assertEqual(form.date_until, date(2026, 11, 27), "today, by default")
            form.partner_ids.add(self.client_jane)
            form.save().action_generate()
            self._assert_billed_once(morning)
            self.assertFalse(afternoon.billing_invoice_line_id, "later today")
            # A period that ends after today bills what has happened by now, no more.
            form = Form(self.env["practice.billing.generate"])
            form.date_until = date(2026, 12, 31)
            form.partner_ids.add(self.client_jane)
            form.save().action_generate()
        self.assertFalse((afternoon | next_week).billing_invoice_line_id)
        with freeze_time("2026-11-27 20:05:00"):
            afternoon.billing_attendance = "no_show"  # not locked: it was not billed
        self.assertEqual(afternoon.billing_attendance, "no_show")

    def test_preview_shows_what_the_next_run_bills(self):
        self.company.billing_auto_invoice = True
        # November's run (sessions before Nov 1, 00:00 in New York) is done.
        self.company.billing_last_cutoff = datetime(2026, 11, 1, 4, 0)
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_jane, "2026-11-09 15:00:00")
        self._create_session(self.client_marcus, "2026-11-28 15:00:00")  # still ahead today
        self._create_session(self.client_marcus, "2026-12-03 15:00:00")  # next month
        with freeze_time("2026-11-27 12:00:00"):
            preview = self.env["practice.billing.preview"]._create_for_next_run()
        self.assertEqual(preview.invoice_date, date(2026, 12, 1))
        by_client = {line.partner_id: line for line in preview.line_ids}
        self.assertEqual(by_client[self.client_jane].amount, 300.0)
        self.assertEqual(by_client[self.client_jane].session_count, 2)
        self.assertEqual(by_client[self.client_marcus].amount, 150.0)
        self.assertEqual(preview.amount_total, 450.0)
        run = self._cron("2026-12-01 06:00:00")
        self.assertEqual(run.amount_total, preview.amount_total)
        self.assertEqual(
            run.invoice_ids.invoice_line_ids.billing_session_ids,
            preview.line_ids.session_ids,
        )

    def test_preview_action_opens_a_form(self):
        action = self.env["practice.billing.preview"].action_open_next_run()
        self.assertEqual(action["res_model"], "practice.billing.preview")
        self.assertTrue(self.env["practice.billing.preview"].browse(action["res_id"]).exists())


@tagged("-at_install", "post_install")
class TestRunAccess(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls._record_provider_identifiers()
        cls._record_insurance(cls.client_jane)

    def test_billing_users_read_runs_but_not_the_superbills_they_made(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with freeze_time("2026-12-05 12:00:00"):
            run = (
                self.env["practice.billing.run"]
                .with_user(self.billing_manager)
                ._run_now(
                    "wizard",
                    datetime(2026, 12, 1, 5, 0),
                    date(2026, 11, 30),
                    superbill_date_start=date(2026, 11, 1),
                    superbill_date_end=date(2026, 11, 30),
                )
            )
        self.assertEqual((run.state, run.superbill_count), ("done", 1))
        self.assertEqual(run.superbill_ids.create_uid, self.billing_manager)
        as_front_desk = run.with_user(self.billing_user)
        self.assertEqual(as_front_desk.read(["state"])[0]["state"], "done")
        with self.assertRaises(AccessError):
            as_front_desk.read(["superbill_ids"])
        with self.assertRaises(AccessError):
            as_front_desk.write({"state": "failed"})
        with self.assertRaises(AccessError):
            self.env["practice.billing.run"].with_user(self.clinician).search([])
