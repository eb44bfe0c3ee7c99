from datetime import datetime, timedelta

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import PracticeBillingCase, PracticeHttpCase


@tagged("-at_install", "post_install")
class TestSession(PracticeBillingCase):
    def _bill(self, session):
        """Put the session on an invoice line, as the billing engine does."""
        invoice = self.init_invoice(
            "out_invoice", partner=session.billing_client_id, amounts=[session.billing_fee]
        )
        session.billing_invoice_line_id = invoice.invoice_line_ids
        return invoice

    # ---------------------------------------------------------------- client and fee
    def test_client_defaults_to_the_single_non_staff_attendee(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self.assertEqual(session.billing_client_id, self.client_jane)

    def test_organizer_is_never_the_client(self):
        session = self.env["calendar.event"].create(
            {
                "name": "Admin time",
                "start": "2026-11-02 15:00:00",
                "stop": "2026-11-02 16:00:00",
                "user_id": self.clinician.id,
                "partner_ids": [(6, 0, [self.clinician.partner_id.id])],
            }
        )
        self.assertFalse(session.billing_client_id)
        self.assertEqual(session.billing_state, "not_billable")

    def test_two_clients_attending_leave_the_choice_to_staff(self):
        session = self.env["calendar.event"].create(
            {
                "name": "Couple session",
                "start": "2026-11-02 15:00:00",
                "stop": "2026-11-02 16:00:00",
                "user_id": self.clinician.id,
                "partner_ids": [(6, 0, [self.client_jane.id, self.client_marcus.id])],
            }
        )
        self.assertFalse(session.billing_client_id)
        session.billing_client_id = self.client_marcus
        session.partner_ids |= self._create_client("Observer")
        self.assertEqual(session.billing_client_id, self.client_marcus, "staff's choice stays")

    def test_fee_defaults_from_the_service_and_can_be_overridden(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self.assertEqual(session.billing_fee, 150.0)
        session.billing_fee = 120.0
        self.assertEqual(session.billing_fee, 120.0)
        session.billing_product_id = self.service_intake
        self.assertEqual(session.billing_fee, 200.0, "a new service brings its own price")
        explicit = self._create_session(self.client_jane, "2026-11-09 15:00:00", billing_fee=95.0)
        self.assertEqual(explicit.billing_fee, 95.0)

    def test_fee_in_the_session_form(self):
        with Form(self.env["calendar.event"]) as form:
            form.name = "Form session"
            form.billing_product_id = self.service_45
            self.assertEqual(form.billing_fee, 130.0)
            form.billing_fee = 100.0
        self.assertEqual(form.record.billing_fee, 100.0)

    # ---------------------------------------------------------------- billing state
    def test_billing_state_follows_the_clock(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with freeze_time("2026-11-02 14:59:59"):
            session.invalidate_recordset(["billing_state"])
            self.assertEqual(session.billing_state, "upcoming")
        with freeze_time("2026-11-02 15:00:00"):
            session.invalidate_recordset(["billing_state"])
            self.assertEqual(session.billing_state, "uninvoiced")
        with freeze_time("2026-12-15 10:00:00"):
            session.invalidate_recordset(["billing_state"])
            self.assertEqual(session.billing_state, "uninvoiced")

    @freeze_time("2026-11-27 12:00:00")
    def test_attendance_and_missing_data(self):
        attended = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        late = self._create_session(
            self.client_jane, "2026-11-03 15:00:00", billing_attendance="late_cancel"
        )
        no_show = self._create_session(
            self.client_jane, "2026-11-04 15:00:00", billing_attendance="no_show"
        )
        cancelled = self._create_session(
            self.client_jane, "2026-11-05 15:00:00", billing_attendance="cancelled"
        )
        no_service = self._create_session(
            self.client_jane, "2026-11-06 15:00:00", billing_product_id=False
        )
        free = self._create_session(self.client_jane, "2026-11-07 15:00:00", billing_fee=0.0)
        future_cancelled = self._create_session(
            self.client_jane, "2026-12-07 15:00:00", billing_attendance="cancelled"
        )
        self.assertEqual(attended.billing_state, "uninvoiced")
        self.assertEqual(late.billing_state, "uninvoiced")
        self.assertEqual(no_show.billing_state, "uninvoiced")
        for session in cancelled | no_service | free | future_cancelled:
            self.assertEqual(session.billing_state, "not_billable", session.name)

    @freeze_time("2026-11-27 12:00:00")
    def test_invoiced_until_the_invoice_is_cancelled(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        invoice = self._bill(session)
        self.assertEqual(session.billing_state, "invoiced", "a draft invoice bills it")
        invoice.action_post()
        self.assertEqual(session.billing_state, "invoiced")
        self.assertEqual(self.client_jane.billing_uninvoiced_count, 0)
        invoice.button_cancel()
        self.assertEqual(session.billing_state, "uninvoiced")
        self.client_jane.invalidate_recordset()
        self.assertEqual(self.client_jane.billing_uninvoiced_count, 1)

    @freeze_time("2026-11-27 12:00:00")
    def test_deleting_the_invoice_frees_the_session(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        invoice = self._bill(session)
        invoice.unlink()
        self.assertFalse(session.billing_invoice_line_id)
        self.assertEqual(session.billing_state, "uninvoiced")

    @freeze_time("2026-11-27 12:00:00")
    def test_search_by_billing_state_matches_the_computed_state(self):
        sessions = (
            self._create_session(self.client_jane, "2026-11-02 15:00:00")
            | self._create_session(self.client_jane, "2026-11-30 15:00:00")
            | self._create_session(
                self.client_jane, "2026-11-05 15:00:00", billing_attendance="cancelled"
            )
            | self._create_session(self.client_jane, "2026-11-06 15:00:00")
            | self._create_session(self.client_marcus, "2026-11-06 15:00:00", billing_fee=0)
        )
        self._bill(sessions[3])
        Event = self.env["calendar.event"]
        mine = [("id", "in", sessions.ids)]
        expected = {
            "uninvoiced": sessions[0],
            "upcoming": sessions[1],
            "not_billable": sessions[2] | sessions[4],
            "invoiced": sessions[3],
        }
        for state, records in expected.items():
            self.assertEqual(Event.search([*mine, ("billing_state", "=", state)]), records, state)
            self.assertEqual(
                Event.search([*mine, ("billing_state", "!=", state)]), sessions - records, state
            )
        self.assertEqual(
            Event.search([*mine, ("billing_state", "in", ["uninvoiced", "upcoming"])]),
            sessions[0] | sessions[1],
        )
        self.assertEqual(
            Event.search([*mine, ("billing_state", "not in", ["invoiced", "not_billable"])]),
            sessions[0] | sessions[1],
        )
        for session in sessions:
            found = Event.search([*mine, ("billing_state", "=", session.billing_state)])
            self.assertIn(session, found)

    def test_a_line_bills_one_session_only(self):
        first = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        second = self._create_session(self.client_jane, "2026-11-09 15:00:00")
        invoice = self._bill(first)
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            second.billing_invoice_line_id = invoice.invoice_line_ids
            second.flush_recordset()


@tagged("-at_install", "post_install")
class TestSessionsUi(PracticeHttpCase):
    def test_staff_find_uninvoiced_sessions(self):
        now = datetime.now().replace(microsecond=0)
        self._create_session(self._create_client("Tour Client"), now - timedelta(days=3))
        self._create_session(self._create_client("Future Client"), now + timedelta(days=3))
        self._admin_works_here()
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_sessions",
            "practice_billing_sessions_tour",
            login="admin",
        )
