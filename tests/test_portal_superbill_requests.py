from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import psycopg2
from dateutil.relativedelta import relativedelta
from lxml import html

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .test_portal import PortalClientCase


@tagged("-at_install", "post_install")
class TestPortalSuperbillRequests(PortalClientCase):
    """Jane asks for superbills in the portal. Last month's session (the 2nd) is on her
    issued superbill; she has three more invoiced sessions on no superbill: the 3rd and the
    10th of the month before, and the 20th of last month."""

    def setUp(self):
        super().setUp()
        self.jane = self.jane_user.partner_id
        self.boss = new_test_user(
            self.env,
            login="billing_boss",
            groups="practice_billing.group_billing_manager",
            company_id=self.company.id,
        )
        today = date.today()
        self.last_month = today.replace(day=1) - relativedelta(months=1)
        self.month_before = self.last_month - relativedelta(months=1)
        self.claimed = self.jane_superbill.line_ids.session_id
        self.free = self._invoiced_sessions(
            self.jane,
            [
                self.month_before.replace(day=3),
                self.month_before.replace(day=10),
                self.last_month.replace(day=20),
            ],
        )
        self.authenticate("jane_portal", "jane_portal")

    def _request(self, date_from, date_to):
        return self.url_open(
            "/my/superbills/request",
            data={"date_from": str(date_from), "date_to": str(date_to), "csrf_token": self._csrf()},
        )

    def _superbills(self):
        return self.env["practice.superbill"].search([("partner_id", "=", self.jane.id)])

    def _requests(self):
        return self._superbills().filtered(lambda s: s.state == "draft")

    def _month_end(self, first):
        return first + relativedelta(months=1, days=-1)

    def test_client_requests_a_superbill(self):
        response = self._request(self.month_before, self._month_end(self.month_before))
        self.assertEqual(response.status_code, 200)
        self.assertIn("the practice will check your superbill", response.text)
        requested = self._requests()
        self.assertEqual(len(requested), 1)
        self.assertTrue(requested.requested_by_client)
        self.assertEqual(requested.line_ids.session_id, self.free[:2])
        [activity] = requested.activity_ids
        self.assertEqual(activity.summary, "Client requested a superbill")
        staff = self.jane._billing_responsible_user(self.company)
        self.assertTrue(staff)
        self.assertEqual(activity.user_id, staff, "a staff member of the practice, not the client")
        self.assertFalse(activity.user_id.share)

    def test_unreadable_dates_are_explained_on_the_page(self):
        before = self._superbills()
        for date_from, date_to in (
            ("2026-13-45", "2026-12-01"),
            ("abc", "abc"),
            ("9999-01-01", "9999-12-31"),
            ("", str(date.today())),
        ):
            response = self._request(date_from, date_to)
            self.assertEqual(response.status_code, 200, (date_from, date_to))
            self.assertIn("alert-warning", response.text, (date_from, date_to))
            self.assertIn("Choose", response.text, (date_from, date_to))
        self.assertEqual(self._superbills(), before)

    def test_the_period_is_bounded(self):
        before = self._superbills()
        today = date.today()
        for date_from, date_to in (
            ("1900-01-01", "2100-12-31"),
            (today - relativedelta(years=3), today - relativedelta(years=3, days=-20)),
            (self.month_before - relativedelta(months=12), self._month_end(self.month_before)),
            (self.last_month, today + timedelta(days=10)),
            (self._month_end(self.month_before), self.month_before),
        ):
            response = self._request(date_from, date_to)
            self.assertEqual(response.status_code, 200, (date_from, date_to))
            self.assertIn("at most 12 months", response.text, (date_from, date_to))
        self.assertEqual(self._superbills(), before)
        self.assertEqual(self.claimed.ids, self._live_lines(self.claimed).session_id.ids)

    def _live_lines(self, sessions):
        return self.env["practice.superbill.line"].search(
            [("session_id", "in", sessions.ids), ("superbill_id.state", "!=", "cancelled")]
        )

    def test_a_session_is_on_one_live_superbill_only(self):
        # Only last month's 2nd in the period: it is on the issued superbill already.
        response = self._request(self.last_month, self.last_month + timedelta(days=5))
        self.assertIn("already on a superbill", response.text)
        self.assertFalse(self._requests())
        # A wider period gets the free sessions, never the claimed one a second time.
        self._request(self.month_before, self._month_end(self.last_month))
        self.assertEqual(self._requests().line_ids.session_id, self.free)
        self.assertEqual(len(self._live_lines(self.claimed | self.free)), 4)
        # The monthly run's generation skips sessions already claimed.
        Superbill = self.env["practice.superbill"]
        generated = Superbill._generate(
            self.jane, self.month_before, self._month_end(self.last_month), self.company
        )
        self.assertFalse(generated)
        # Nothing puts a claimed session on a second live superbill: the model says why...
        with self.assertRaisesRegex(ValidationError, "already on"), self.env.cr.savepoint():
            Superbill._create_for_sessions(
                self.jane, self.company, date.today(), date.today(), self.claimed
            )
        # ... and the database refuses it even behind the ORM's back.
        line = self._live_lines(self.claimed)
        with (
            self.assertRaises(psycopg2.errors.UniqueViolation),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.env.cr.execute(
                "INSERT INTO practice_superbill_line (superbill_id, session_id, superbill_state)"
                " VALUES (%s, %s, 'draft')",
                (self._requests().id, line.session_id.id),
            )
        # A correction cancels the old version first: the session moves to the new one.
        new = Superbill.browse(self.jane_superbill.action_new_version()["res_id"])
        self.assertEqual(self._live_lines(self.claimed).superbill_id, new)

    def test_repeated_requests_collapse_into_one_open_request(self):
        month_end = self._month_end(self.month_before)
        for day in range(5):
            response = self._request(self.month_before + timedelta(days=day), month_end)
            self.assertEqual(response.status_code, 200)
        requested = self._requests()
        self.assertEqual(len(requested), 1)
        self.assertEqual((requested.date_start, requested.date_end), (self.month_before, month_end))
        self.assertEqual(len(requested.activity_ids), 1)
        # A wider request extends the open one: its period and the sessions it adds.
        self._request(self.last_month, self._month_end(self.last_month) - timedelta(days=1))
        self.assertEqual(self._requests(), requested)
        self.assertEqual(requested.date_start, self.month_before)
        self.assertEqual(requested.line_ids.session_id, self.free)
        self.assertEqual(len(requested.activity_ids), 1)
        # A hundred more asks change nothing.
        Superbill = self.env["practice.superbill"].sudo()
        for day in range(100):
            Superbill._request_from_portal(
                self.jane, self.month_before + timedelta(days=day % 28), month_end
            )
        self.assertEqual(self._requests(), requested)
        self.assertEqual(len(requested.activity_ids), 1)

    def test_page_shows_no_text_taken_from_the_address(self):
        page = self.url_open("/my/superbills?request_error=Call+555-0100+to+verify+your+card")
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("Call 555-0100", page.text)
        self.assertNotIn("alert-warning", page.text)

    def test_request_redirects_to_the_list(self):
        response = self.url_open(
            "/my/superbills/request",
            data={
                "date_from": str(self.month_before),
                "date_to": str(self._month_end(self.month_before)),
                "csrf_token": self._csrf(),
            },
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        location = urlparse(response.headers["Location"])
        self.assertEqual(location.path, "/my/superbills")
        self.assertEqual(parse_qs(location.query), {"requested": ["1"]})

    def _record_pager(self, superbill):
        """The previous and next links on ``superbill``'s page ('#' for none), or None."""
        page = self.url_open(f"/my/superbills/{superbill.id}")
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("access_token", page.text)
        links = html.fromstring(page.text).xpath(
            "//div[contains(concat(' ', @class, ' '), ' record_pager ')]/a/@href"
        )
        return tuple(links) or None

    def test_previous_and_next_superbill_from_the_list(self):
        self._request(self.month_before, self._month_end(self.month_before))
        older = self._requests()
        older.action_preflight()
        self.assertEqual(older.state, "issued", older.missing_info)
        newer = self.jane_superbill
        self.assertIsNone(self._record_pager(newer), "no list seen yet")
        self.url_open("/my/superbills")
        self.assertEqual(self._record_pager(newer), ("#", f"/my/superbills/{older.id}"))
        self.assertEqual(self._record_pager(older), (f"/my/superbills/{newer.id}", "#"))
        self.url_open("/my/superbills?sortby=oldest")
        self.assertEqual(self._record_pager(newer), (f"/my/superbills/{older.id}", "#"))
        # A superbill replaced since the list was seen is not served, history or not.
        replacement = self.env["practice.superbill"].browse(older.action_new_version()["res_id"])
        self.assertEqual(self.url_open(f"/my/superbills/{older.id}").status_code, 404)
        self.assertEqual(self._record_pager(replacement), None)

    # ------------------------------------------------------------------ listed as Requested
    # A request shows in the client's list as "Requested", with its period, until staff
    # issue it; it is the client's only, and no document until then.
    def _requested_rows(self):
        page = html.fromstring(self.url_open("/my/superbills").text)
        rows = page.xpath("//tr[contains(@class, 'o_pb_superbill_requested')]")
        return [(" ".join(row.text_content().split()), row.xpath(".//a")) for row in rows]

    def _period(self, superbill):
        return f"{superbill.date_start:%m/%d/%Y} to {superbill.date_end:%m/%d/%Y}"

    def _counter(self):
        counters = {"counters": ["superbill_count"]}
        return self.make_jsonrpc_request("/my/counters", counters)["superbill_count"]

    def test_a_request_is_listed_as_requested_until_staff_issue_it(self):
        self.assertEqual(self._requested_rows(), [])
        self._request(self.month_before, self._month_end(self.month_before))
        requested = self._requests()
        [(text, links)] = self._requested_rows()
        self.assertIn(requested.name, text)
        self.assertIn("Requested", text)
        self.assertIn(self._period(requested), text)
        self.assertEqual(links, [], "no page to open yet")
        self.assertEqual(self._counter(), 2, "the issued superbill and the request")
        # Asked again for a wider period: one request, its period widened.
        self._request(self.month_before, self._month_end(self.last_month))
        [(text, _links)] = self._requested_rows()
        self.assertIn(self._period(requested), text)
        self.assertEqual(requested.date_end, self._month_end(self.last_month))
        # Staff issue it: an issued superbill of the list, with its page.
        requested.action_preflight()
        self.assertEqual(requested.state, "issued", requested.missing_info)
        self.assertEqual(self._requested_rows(), [])
        self.assertIn(f"/my/superbills/{requested.id}", self.url_open("/my/superbills").text)
        # A request staff cancel leaves the list.
        self._invoiced_sessions(self.jane, [self.last_month.replace(day=25)])
        self._request(self.last_month.replace(day=25), self.last_month.replace(day=25))
        self.assertEqual(len(self._requested_rows()), 1)
        self._requests().state = "cancelled"
        self.assertEqual(self._requested_rows(), [])

    def _marcus_request(self):
        marcus = self.marcus_user.partner_id
        self._invoiced_sessions(marcus, [self.month_before.replace(day=4)])
        Superbill = self.env["practice.superbill"].sudo()
        request = Superbill._request_from_portal(
            marcus, str(self.month_before), str(self._month_end(self.month_before))
        )
        self.assertEqual((request.state, request.requested_by_client), ("draft", True))
        return request

    def _report_responses(self, superbill):
        path = f"/report/%s/practice_billing.report_superbill/{superbill.id}"
        return {kind: self.url_open(path % kind) for kind in ("pdf", "html")}

    def test_another_clients_request_is_refused(self):
        request = self._marcus_request()
        self.assertEqual(self._requested_rows(), [], "Jane sees none of Marcus's requests")
        self.assertEqual(self._counter(), 1)
        for url in (f"/my/superbills/{request.id}", f"{request.access_url}?report_type=pdf"):
            response = self.url_open(url)
            self.assertEqual(response.status_code, 404, url)
            self.assertNotIn("Marcus", response.text, url)
        for kind, response in self._report_responses(request).items():
            self.assertEqual(response.status_code, 403, kind)
            self.assertNotIn("Marcus", response.text, kind)
        # Nor through the ORM (the JSON-RPC a portal user may call).
        Superbill = self.env["practice.superbill"].with_user(self.jane_user)
        self.assertFalse(Superbill.search([("id", "=", request.id)]))
        with self.assertRaises(AccessError):
            Superbill.browse(request.id).read(["name", "date_start"])
        # Nor does a client of another practice.
        lakeside = self.env["res.company"].create({"name": "Lakeside Counseling"})
        new_test_user(
            self.env,
            login="lake_client",
            groups="base.group_portal",
            company_id=lakeside.id,
            company_ids=[Command.set(lakeside.ids)],
        )
        self.authenticate("lake_client", "lake_client")
        self.assertEqual(self._requested_rows(), [])
        self.assertEqual(self.url_open(request.access_url).status_code, 404)
        self.assertEqual(self._report_responses(request)["pdf"].status_code, 403)
        # Marcus sees his own, as Requested.
        self.authenticate("marcus_portal", "marcus_portal")
        [(text, _links)] = self._requested_rows()
        self.assertIn(request.name, text)

    def test_a_household_member_sees_none_of_the_parents_superbills(self):
        # Sam, a client filed under his mother Jane (a session's client may be "a child
        # filed under a parent"), has his own portal login. Jane is his commercial partner:
        # Odoo's child_of rule on it opened her superbills (her diagnoses, date of birth and
        # member ID) to him. A superbill is one person's: Sam's own, and Jane's only those of
        # the clients she pays for (being filed under her is not enough).
        sam_user = new_test_user(
            self.env,
            login="sam_portal",
            name="Sam Doe",
            groups="base.group_portal",
            company_id=self.company.id,
            email="sam@example.com",
        )
        sam = sam_user.partner_id
        sam.parent_id = self.jane
        self.assertEqual(sam.commercial_partner_id, self.jane)
        self._record_insurance(sam, member_id="M-sam")
        self._invoiced_sessions(sam, [self.month_before.replace(day=5)])
        self._request(self.month_before, self._month_end(self.month_before))
        jane_request = self._requests()
        sam_request = (
            self.env["practice.superbill"]
            .sudo()
            ._request_from_portal(
                sam, str(self.month_before), str(self._month_end(self.month_before))
            )
        )
        self.authenticate("sam_portal", "sam_portal")
        for superbill in self.jane_superbill | jane_request:
            for url in (
                superbill.access_url,
                f"{superbill.access_url}?report_type=pdf&download=true",
            ):
                self.assertEqual(self.url_open(url).status_code, 404, url)
            for kind, response in self._report_responses(superbill).items():
                self.assertEqual(response.status_code, 403, kind)
                self.assertNotIn("M-jane_portal", response.text, kind)
        listing = self.url_open("/my/superbills").text
        self.assertNotIn(self.jane_superbill.access_url, listing)
        self.assertNotIn(jane_request.name, listing)
        self.assertIn(sam_request.name, listing, "his own request")
        Superbill = self.env["practice.superbill"].with_user(sam_user)
        self.assertEqual(Superbill.search([]), sam_request)
        with self.assertRaises(AccessError):
            Superbill.browse(self.jane_superbill.id).read(["name"])
        Line = self.env["practice.superbill.line"].with_user(sam_user)
        self.assertFalse(Line.search([("superbill_id", "=", self.jane_superbill.id)]))
        # His request is his, never one for his mother's sessions.
        self._request(self.last_month, self._month_end(self.last_month))
        self.assertEqual(self._requests(), jane_request)
        self.assertEqual(jane_request.date_end, self._month_end(self.month_before), "as she asked")
        self.assertEqual(sam_request.date_end, self._month_end(self.last_month))
        # Jane sees Sam's superbills once she is the one who pays for him, not before.
        Jane = self.env["practice.superbill"].with_user(self.jane_user)
        self.assertNotIn(sam_request, Jane.search([]))
        sam.billing_responsible_id = self.jane
        self.assertIn(sam_request, Jane.search([]))

    def test_a_request_is_no_document_until_issued(self):
        self._request(self.month_before, self._month_end(self.month_before))
        requested = self._requests()
        self.assertEqual(self.url_open(requested.access_url).status_code, 404)
        for kind, response in self._report_responses(requested).items():
            self.assertEqual(response.status_code, 403, kind)
            self.assertNotIn("Submit this document", response.text, kind)
        mine = requested.with_user(self.jane_user)
        self.assertEqual(mine.read(["name"])[0]["name"], requested.name)
        self.assertFalse(mine.line_ids, "its sessions stay with staff until it is issued")
        Report = self.env["ir.actions.report"].with_user(self.jane_user)
        with self.assertRaises(AccessError):
            Report._render_pdf_each("practice_billing.action_report_superbill", requested.ids)

    def test_the_request_time_is_the_practices(self):
        self.company.partner_id.tz = "America/New_York"
        self.jane_user.tz = "Asia/Tokyo"
        self._request(self.month_before, self._month_end(self.month_before))
        requested = self._requests()
        self.env.cr.execute(
            "UPDATE practice_superbill SET create_date = '2026-01-15 18:30:45' WHERE id = %s",
            requested.ids,
        )
        requested.invalidate_recordset(["create_date"])
        [(text, _links)] = self._requested_rows()
        self.assertIn("01/15/2026 13:30", text, "New York's time, without seconds")
        self.assertNotIn(":45", text)
