from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestBilledOnce(PracticeBillingCase):
    """A session is on at most one live invoice line, whatever staff click."""

    def _bill_jane_now(self):
        with freeze_time("2026-11-27 12:00:00"):
            self.client_jane.action_billing_invoice_now()
        return self._invoices_of(self.client_jane)[-1:]

    @freeze_time("2026-11-27 12:00:00")
    def test_reopening_a_cancelled_invoice_after_rebilling_is_refused(self):
        sessions = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        sessions |= self._create_session(self.client_jane, "2026-11-09 15:00:00")
        first = self._bill_jane_now()
        first.button_cancel()
        second = self._bill_jane_now()
        self.assertNotEqual(first, second)
        self.assertEqual(second.amount_total, 300.0)
        with self.assertRaisesRegex(UserError, f"now billed on {second.name}"):
            first.button_draft()
        self.assertEqual(first.state, "cancel")
        self._assert_billed_once(sessions)
        self.assertEqual(sessions.billing_invoice_id, second)

    @freeze_time("2026-11-27 12:00:00")
    def test_posting_again_is_refused_even_without_reset_to_draft(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        first = self._bill_jane_now()
        first.button_cancel()
        second = self._bill_jane_now()
        # As if the cancelled invoice were set back to draft behind the check's back.
        first.state = "draft"
        with self.assertRaisesRegex(UserError, second.name):
            first.action_post()
        self.assertEqual(session.billing_invoice_id, second)

    @freeze_time("2026-11-27 12:00:00")
    def test_a_reopened_invoice_bills_its_sessions_again_when_free(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        first = self._bill_jane_now()
        first.button_cancel()
        self.assertEqual(session.billing_state, "uninvoiced")
        first.button_draft()
        first.action_post()
        self.assertEqual(session.billing_state, "invoiced")
        self.assertEqual(session.billing_invoice_id, first)
        # Nothing left for the next run.
        self.assertFalse(self._bill_jane_now() - first)
        self._assert_billed_once(session)

    @freeze_time("2026-11-27 12:00:00")
    def test_sessions_of_a_reopened_invoice_cannot_be_billed_twice_by_a_run(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        first = self._bill_jane_now()
        first.button_cancel()
        first.button_draft()
        self.assertEqual(session.billing_state, "invoiced", "the draft bills it again")
        self.assertEqual(self._bill_jane_now(), first, "the run finds nothing due")

    def test_a_session_booked_ahead_is_billed_once_after_it_happens(self):
        with freeze_time("2026-11-10 12:00:00"):
            session = self._create_session(self.client_jane, "2026-11-16 15:00:00")
            self.assertEqual(session.billing_attendance_status, "scheduled")
            self.client_jane.action_billing_invoice_now()
        self.assertFalse(self._invoices_of(self.client_jane), "not billed before it happens")
        self.assertFalse(session.billing_attendance, "nothing recorded, nothing written")
        invoice = self._bill_jane_now()
        self.assertEqual(invoice.amount_total, 150.0, "billed as attended")
        self.assertEqual(invoice.invoice_line_ids.name, "2026-11-16 — Psychotherapy, 53 min")
        self._assert_billed_once(session)
        self.assertEqual(self._bill_jane_now(), invoice, "a second run finds nothing due")
        self.company.billing_auto_invoice = True
        self._cron("2026-12-01 06:00:00")
        self.assertEqual(self._invoices_of(self.client_jane), invoice)
        self._assert_billed_once(session)

    def test_nothing_recorded_bills_at_the_practices_midnight_in_its_zone(self):
        """New York practice: 23:30 on November 30th is November's, 00:30 on December 1st is
        December's, though both are on December 1st in UTC."""
        self.company.billing_auto_invoice = True
        with freeze_time("2026-11-20 12:00:00"):
            late_evening = self._create_session(self.client_jane, "2026-12-01 04:30:00")
            after_midnight = self._create_session(self.client_jane, "2026-12-01 05:30:00")
        with freeze_time("2026-12-01 04:45:00"):  # 23:45 in New York
            (late_evening | after_midnight).invalidate_recordset()
            self.assertEqual(late_evening.billing_attendance_status, "attended")
            self.assertEqual(after_midnight.billing_attendance_status, "scheduled")
        self._cron("2026-12-01 05:05:00")  # 00:05 on December 1st in New York
        november = self._invoices_of(self.client_jane)
        self.assertEqual(november.invoice_line_ids.billing_session_ids, late_evening)
        self.assertEqual(november.amount_total, 150.0)
        self.assertEqual(november.invoice_line_ids.name, "2026-11-30 — Psychotherapy, 53 min")
        self.assertFalse(after_midnight.billing_invoice_line_id)
        with freeze_time("2026-12-01 05:30:00"):
            after_midnight.invalidate_recordset()
            self.assertEqual(after_midnight.billing_attendance_status, "attended")
            self.assertEqual(after_midnight.billing_state, "uninvoiced")
        self._cron("2027-01-01 05:05:00")
        december = self._invoices_of(self.client_jane) - november
        self.assertEqual(december.invoice_line_ids.billing_session_ids, after_midnight)
        self.assertEqual(december.invoice_line_ids.name, "2026-12-01 — Psychotherapy, 53 min")
        self._assert_billed_once(late_evening | after_midnight)

    @freeze_time("2026-11-27 12:00:00")
    def test_recording_attended_on_a_billed_session_changes_nothing_billed(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        invoice = self._bill_jane_now()
        session.billing_attendance = "attended"
        self.assertEqual(session.billing_invoice_id, invoice)
        with self.assertRaisesRegex(UserError, invoice.name):
            session.billing_attendance = "no_show"
        self.assertEqual(session.billing_attendance, "attended")

    @freeze_time("2026-11-27 12:00:00")
    def test_each_line_names_its_session_whatever_an_override_adds(self):
        """An integrator adds a note line and a discount line to every invoice: the run
        still bills each session once, on its own line."""
        Run = type(self.env["practice.billing.run"])
        prepare = Run._prepare_invoice_vals

        def with_note_and_discount(run, client, sessions):
            vals = prepare(run, client, sessions)
            vals["invoice_line_ids"] = [
                Command.create({"display_type": "line_note", "name": "Thank you!"}),
                *vals["invoice_line_ids"],
                Command.create(
                    {"name": "Sliding-scale discount", "quantity": 1, "price_unit": -20.0}
                ),
            ]
            return vals

        sessions = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        sessions |= self._create_session(
            self.client_jane, "2026-11-09 15:00:00", service=self.service_45
        )
        marcus = self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        with patch.object(Run, "_prepare_invoice_vals", with_note_and_discount):
            with freeze_time("2026-11-27 12:00:00"):
                run = self.env["practice.billing.run"]._run_now(
                    "manual", self.env.cr.now(), self.env.cr.now().date()
                )
        self.assertFalse(run.failure_ids, run.failure_ids.mapped("reason"))
        jane_invoice = self._invoices_of(self.client_jane)
        self.assertEqual(jane_invoice.amount_total, 150.0 + 130.0 - 20.0)
        for session in sessions | marcus:
            line = session.billing_invoice_line_id
            self.assertEqual(line.billing_session_id, session)
            self.assertEqual(line.price_unit, session.billing_fee)
        self._assert_billed_once(sessions | marcus)
