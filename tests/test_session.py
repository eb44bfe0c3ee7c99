import importlib.util
from ast import literal_eval
from datetime import datetime, timedelta
from pathlib import Path

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
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

    # ---------------------------------------------------------------- entering a session
    def test_quick_create_offers_client_service_and_fee(self):
        quick_create = "practice_billing.calendar_event_view_form_session_quick_create"
        Event = self.env["calendar.event"].with_context(
            default_start="2026-12-02 15:00:00", default_stop="2026-12-02 15:53:00"
        )
        with Form(Event, view=quick_create) as form:
            form.billing_client_id = self.client_jane
            form.billing_product_id = self.service_45
            self.assertEqual(form.billing_fee, 130.0, "the fee comes from the service")
            form.billing_fee = 110.0
            form.user_id = self.clinician
        session = form.record
        self.assertEqual(session.name, "Jane Doe", "named after the client")
        self.assertIn(self.client_jane, session.partner_ids, "the client attends")
        self.assertEqual(session.billing_client_id, self.client_jane)
        self.assertEqual(session.billing_fee, 110.0)
        self.assertEqual(session.user_id, self.clinician)
        self.assertFalse(session.billing_attendance)
        session.partner_ids |= self._create_client("Interpreter")
        self.assertEqual(session.billing_client_id, self.client_jane, "still Jane's session")

    def test_event_form_offers_client_service_and_fee_to_the_front_desk(self):
        self._create_people()
        Event = self.env["calendar.event"].with_user(self.billing_user)
        arch = Event.get_views([(False, "form")])["views"]["form"]["arch"]
        for name in ("billing_client_id", "billing_product_id", "billing_fee"):
            self.assertIn(f'name="{name}"', arch)
        with Form(Event) as form:
            form.name = "Jane's session"
            form.billing_client_id = self.client_jane
            form.billing_product_id = self.service_53
            self.assertEqual(form.billing_fee, 150.0)
        self.assertIn(self.client_jane, form.record.partner_ids)
        self.assertEqual(form.record.name, "Jane's session", "a title staff typed stays")

    def test_services_offered_are_the_practices_only(self):
        furniture = self.env["product.product"].create(
            {"name": "Furniture Assembly", "type": "service", "list_price": 50.0}
        )
        chair = self.env["product.product"].create(
            {"name": "Chair", "type": "consu", "billing_cpt_code": "90837"}
        )
        domain = self.env["calendar.event"].fields_get(["billing_product_id"])[
            "billing_product_id"
        ]["domain"]
        offered = self.env["product.product"].search(domain)
        self.assertIn(self.service_53, offered)
        self.assertNotIn(furniture, offered)
        self.assertNotIn(chair, offered)

    def test_a_product_that_is_not_a_service_is_refused_with_the_fix(self):
        furniture = self.env["product.product"].create(
            {"name": "Furniture Assembly", "type": "service", "list_price": 50.0}
        )
        with self.assertRaises(ValidationError) as caught:
            self._create_session(self.client_jane, "2026-11-02 15:00:00", service=furniture)
        message = caught.exception.args[0]
        self.assertIn("“Furniture Assembly” is not one of the practice's services", message)
        self.assertIn("11/02/2026 10:00", message, "when, as the practice reads it")
        self.assertIn("CPT code", message)
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with self.assertRaises(ValidationError):
            session.billing_product_id = furniture
        furniture.billing_cpt_code = "97535"
        session.billing_product_id = furniture
        self.assertEqual(session.billing_fee, 50.0)

    @freeze_time("2026-11-27 12:00:00")
    def test_a_series_whose_service_has_no_cpt_code_can_still_be_moved(self):
        # Databases of 18.0.1.1.0 hold sessions of any service product, and a service can
        # lose its code later. Moving such a weekly series (Odoo makes its events again
        # from the first one) chooses no service: the clinician who moves it, who cannot
        # give a service its code, must not be stopped.
        first = self._create_session(
            self.client_jane,
            "2026-12-07 15:00:00",
            recurrency=True,
            rrule_type="weekly",
            interval=1,
            count=4,
            end_type="count",
            mon=True,
        )
        self.service_53.billing_cpt_code = False
        first.with_user(self.clinician).write(
            {
                "recurrence_update": "all_events",
                "start": datetime(2026, 12, 7, 17, 0),
                "stop": datetime(2026, 12, 7, 17, 53),
            }
        )
        series = first.recurrence_id.calendar_event_ids
        self.assertEqual(len(series), 4)
        self.assertEqual(series.billing_product_id, self.service_53)
        self.assertEqual({event.start.hour for event in series}, {17})
        # A new choice of that service is still refused, with a fix staff can follow (the
        # Services list shows services with a code only).
        with self.assertRaises(ValidationError) as caught:
            self._create_session(self.client_jane, "2026-12-08 15:00:00")
        services = self.env.ref("practice_billing.action_billing_services")
        self.assertNotIn(
            self.service_53.product_tmpl_id,
            self.env["product.template"].search(literal_eval(services.domain)),
        )
        self.assertNotIn("Services", caught.exception.args[0])
        self.assertIn("its product form", caught.exception.args[0])

    def test_clients_offered_are_people_not_companies_or_staff(self):
        company = self.env["res.partner"].create({"name": "Deco Addict", "is_company": True})
        employee = self.env["res.partner"].create({"name": "Addison", "parent_id": company.id})
        newcomer = self._create_client("A new client")
        child = self._create_client("Sam Doe", parent_id=self.client_jane.id)
        domain = self.env["calendar.event"].fields_get(["billing_client_id"])["billing_client_id"][
            "domain"
        ]
        offered = self.env["res.partner"].search(domain)
        self.assertIn(self.client_jane, offered)
        self.assertIn(newcomer, offered)
        self.assertIn(child, offered, "a child filed under their parent")
        for partner in company | employee | self.clinician.partner_id:
            self.assertNotIn(partner, offered, partner.name)

    # ---------------------------------------------------------------- times
    def test_times_read_in_the_practices_zone_and_language_to_the_minute(self):
        company = self.company
        self.assertEqual(
            company._billing_format_datetime(datetime(2026, 11, 2, 15, 0, 42)), "11/02/2026 10:00"
        )
        # Half past eleven on November 30th in New York is already December in UTC.
        self.assertEqual(
            company._billing_format_datetime(datetime(2026, 12, 1, 4, 30)), "11/30/2026 23:30"
        )
        self.env["res.lang"]._activate_lang("fr_FR")
        self.assertEqual(
            company._billing_format_datetime(datetime(2026, 12, 1, 4, 30), "fr_FR"),
            "30/11/2026 23:30",
        )
        company.partner_id.tz = "Pacific/Auckland"
        self.assertEqual(
            company._billing_format_datetime(datetime(2026, 10, 31, 11, 30)), "11/01/2026 00:30"
        )
        self.assertEqual(company._billing_format_datetime(False), "")

    def test_staff_read_a_session_by_its_local_time(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self.assertEqual(session._billing_display_start(), "11/02/2026 10:00")

    # ---------------------------------------------------------------- attendance
    @freeze_time("2026-11-27 12:00:00")
    def test_a_session_to_come_has_no_attendance_until_it_starts(self):
        booked = self._create_session(self.client_jane, "2026-11-30 15:00:00")
        with Form(self.env["calendar.event"]) as form:
            form.name = "Booked at the front desk"
            form.start = datetime(2026, 12, 2, 15, 0)
            form.billing_product_id = self.service_53
        for session in booked | form.record:
            self.assertFalse(session.billing_attendance, session.name)
            self.assertEqual(session.billing_attendance_status, "scheduled", session.name)
            self.assertFalse(session.billing_has_started)
        self.assertEqual(booked.billing_state, "upcoming")
        with freeze_time("2026-11-30 14:59:59"):
            booked.invalidate_recordset(["billing_attendance_status", "billing_state"])
            self.assertEqual(booked.billing_attendance_status, "scheduled")
        with freeze_time("2026-11-30 15:00:00"):
            booked.invalidate_recordset(
                ["billing_attendance_status", "billing_has_started", "billing_state"]
            )
            self.assertEqual(booked.billing_attendance_status, "attended")
            self.assertTrue(booked.billing_has_started)
            self.assertEqual(booked.billing_state, "uninvoiced")
            self.assertEqual(booked.billing_amount, 150.0, "billed as attended, in full")
            self.assertFalse(booked.billing_attendance, "nothing was written")

    @freeze_time("2026-11-27 12:00:00")
    def test_what_staff_record_is_the_attendance_before_and_after(self):
        cancelled_ahead = self._create_session(
            self.client_jane, "2026-11-30 15:00:00", billing_attendance="cancelled"
        )
        no_show = self._create_session(
            self.client_jane, "2026-11-20 15:00:00", billing_attendance="no_show"
        )
        self.assertEqual(cancelled_ahead.billing_attendance_status, "cancelled")
        self.assertEqual(no_show.billing_attendance_status, "no_show")
        with freeze_time("2026-12-15 12:00:00"):
            (cancelled_ahead | no_show).invalidate_recordset()
            self.assertEqual(cancelled_ahead.billing_attendance_status, "cancelled")
            self.assertEqual(cancelled_ahead.billing_state, "not_billable")
            self.assertEqual(no_show.billing_attendance_status, "no_show")

    @freeze_time("2026-11-27 12:00:00")
    def test_a_copied_session_is_booked_without_attendance(self):
        no_show = self._create_session(
            self.client_jane, "2026-11-20 15:00:00", billing_attendance="no_show"
        )
        next_week = no_show.copy(
            {"start": datetime(2026, 12, 4, 15, 0), "stop": datetime(2026, 12, 4, 15, 53)}
        )
        self.assertFalse(next_week.billing_attendance)
        self.assertEqual(next_week.billing_attendance_status, "scheduled")

    @freeze_time("2026-11-27 12:00:00")
    def test_search_by_attendance_status_matches_the_computed_status(self):
        sessions = (
            self._create_session(self.client_jane, "2026-11-30 15:00:00")
            | self._create_session(self.client_jane, "2026-11-20 15:00:00")
            | self._create_session(
                self.client_jane, "2026-11-21 15:00:00", billing_attendance="attended"
            )
            | self._create_session(
                self.client_jane, "2026-11-30 16:00:00", billing_attendance="cancelled"
            )
            | self._create_session(
                self.client_jane, "2026-11-22 15:00:00", billing_attendance="no_show"
            )
        )
        Event = self.env["calendar.event"]
        mine = [("id", "in", sessions.ids)]
        expected = {
            "scheduled": sessions[0],
            "attended": sessions[1] | sessions[2],
            "cancelled": sessions[3],
            "no_show": sessions[4],
            "late_cancel": Event,
        }
        for status, records in expected.items():
            found = Event.search([*mine, ("billing_attendance_status", "=", status)])
            self.assertEqual(found, records, status)
            found = Event.search([*mine, ("billing_attendance_status", "!=", status)])
            self.assertEqual(found, sessions - records, status)
            for session in records:
                self.assertEqual(session.billing_attendance_status, status)
        self.assertEqual(
            Event.search([*mine, ("billing_attendance_status", "in", ["scheduled", "no_show"])]),
            sessions[0] | sessions[4],
        )

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
class TestSessionInvitations(PracticeBillingCase):
    def test_a_session_sends_no_calendar_invitation_other_meetings_do(self):
        """Odoo's invitation and cancellation emails name the session's title and service
        (health information): calendar's own switch for them is off for sessions."""
        session = self._create_session(self.client_jane, "2030-01-07 15:00:00")
        meeting = self.env["calendar.event"].create(
            {"name": "Supervision", "start": "2030-01-08 15:00:00", "stop": "2030-01-08 16:00:00"}
        )
        self.assertTrue(session._skip_send_mail_status_update())
        self.assertFalse(meeting._skip_send_mail_status_update())


@tagged("-at_install", "post_install")
class TestAttendanceMigration(PracticeBillingCase):
    """Databases of 18.0.1.1.0 held "Attended" on every session, the ones to come included."""

    def _migrate(self, now):
        path = Path(__file__).parent.parent / "migrations" / "18.0.1.2.0" / "post-attendance.py"
        spec = importlib.util.spec_from_file_location("post_attendance_18_0_1_2_0", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        self.env.flush_all()
        with freeze_time(now):
            migration.migrate(self.env.cr, "18.0.1.1.0")
        self.env.invalidate_all()

    def test_sessions_to_come_lose_the_old_default_and_nothing_billed_changes(self):
        old_default = {"billing_attendance": "attended"}
        happened = self._create_session(self.client_marcus, "2026-11-02 15:00:00", **old_default)
        billed = self._create_session(self.client_jane, "2026-11-09 15:00:00", **old_default)
        with freeze_time("2026-11-27 12:00:00"):
            self.client_jane.action_billing_invoice_now()
        billed_ahead = self._create_session(self.client_jane, "2026-12-20 15:00:00", **old_default)
        line = self.init_invoice("out_invoice", partner=self.client_jane, amounts=[150.0])
        billed_ahead.billing_invoice_line_id = line.invoice_line_ids
        to_come = self._create_session(self.client_jane, "2026-12-02 15:00:00", **old_default)
        cancelled = self._create_session(
            self.client_jane, "2026-12-03 15:00:00", billing_attendance="cancelled"
        )
        self._migrate("2026-11-28 12:00:00")
        self.assertFalse(to_come.billing_attendance)
        self.assertEqual(cancelled.billing_attendance, "cancelled")
        for session in happened | billed | billed_ahead:
            self.assertEqual(session.billing_attendance, "attended", session.start)
        self.assertEqual(billed.billing_state, "invoiced")


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

    def test_receptionist_books_a_session_from_the_calendar(self):
        client = self._create_client("Tour Client", company_id=self.company.id)
        furniture = self.env["product.product"].create(
            {"name": "Furniture Assembly", "type": "service", "list_price": 50.0}
        )
        self._admin_works_here()
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_schedule",
            "practice_billing_receptionist_tour",
            login="admin",
        )
        session = self.env["calendar.event"].search([("billing_client_id", "=", client.id)])
        self.assertEqual(len(session), 1)
        # The database's demo practice offers its own 90837 too: either is the practice's.
        self.assertEqual(session.billing_product_id.billing_cpt_code, "90837")
        self.assertNotEqual(session.billing_product_id, furniture)
        self.assertEqual(session.billing_fee, 150.0)
        self.assertIn(client, session.partner_ids, "the client attends their session")

        self.assertEqual(session.billing_company_id, self.company)
