from datetime import date, datetime, time
from unittest.mock import patch

from dateutil.relativedelta import relativedelta
from lxml import html
from werkzeug.urls import url_encode

from odoo import Command
from odoo.tests import new_test_user, tagged
from odoo.tools.translate import CodeTranslations

from odoo.addons.practice_billing.controllers.portal import PracticeBillingPortal

from .common import PracticeHttpCase


class PortalClientCase(PracticeHttpCase):
    """Jane and Marcus, portal clients of the practice, each with an issued superbill of
    last month (one session each)."""

    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self.jane_user = self._portal_client("jane_portal", "Jane Doe")
        self.marcus_user = self._portal_client("marcus_portal", "Marcus Webb")
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        Superbill = self.env["practice.superbill"]
        self.jane_superbill = Superbill.search([("partner_id", "=", self.jane_user.partner_id.id)])
        self.marcus_superbill = Superbill.search(
            [("partner_id", "=", self.marcus_user.partner_id.id)]
        )
        self.assertEqual(self.jane_superbill.state, "issued", self.jane_superbill.missing_info)

    def _portal_client(self, login, name):
        user = new_test_user(
            self.env,
            login=login,
            name=name,
            groups="base.group_portal",
            company_id=self.company.id,
            email=f"{login}@example.com",
        )
        client = user.partner_id
        client.billing_delivery_method = "manual"
        self._record_insurance(client, member_id=f"M-{login}")
        self._add_sessions(client, weeks=(0,))
        return user

    def _invoiced_sessions(self, client, days):
        """Sessions of ``client`` on ``days``, billed by a staff run: on no superbill yet."""
        Session = self.env["calendar.event"].with_context(no_mail_to_attendees=True)
        sessions = Session.create(
            [
                {
                    "name": f"{client.name} session",
                    "start": datetime.combine(day, time(15)),
                    "stop": datetime.combine(day, time(15, 53)),
                    "user_id": self.clinician.id,
                    "partner_ids": [Command.set(client.ids)],
                    "billing_product_id": self.service.id,
                    "billing_company_id": self.company.id,
                }
                for day in days
            ]
        )
        self.env["practice.billing.run"].create(
            {
                "company_id": self.company.id,
                "trigger": "manual",
                "cutoff": datetime.now(),
                "invoice_date": date.today(),
            }
        )._execute()
        self.assertEqual(set(sessions.mapped("billing_state")), {"invoiced"})
        return sessions

    def _csrf(self):
        page = self.url_open("/my/superbills")
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        return page.text[start : page.text.index('"', start)]


@tagged("-at_install", "post_install")
class TestClientPortal(PortalClientCase):
    def test_client_reads_and_downloads_their_superbill(self):
        self.authenticate("jane_portal", "jane_portal")
        listing = self.url_open("/my/superbills")
        self.assertEqual(listing.status_code, 200)
        self.assertIn(f"/my/superbills/{self.jane_superbill.id}", listing.text)
        self.assertNotIn(f"/my/superbills/{self.marcus_superbill.id}", listing.text)
        page = self.url_open(f"/my/superbills/{self.jane_superbill.id}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Download PDF", page.text)
        for clinical in ("F41.1", "anxiety"):
            self.assertNotIn(clinical, page.text, "no diagnosis on portal pages")
        pdf = self.url_open(
            f"/my/superbills/{self.jane_superbill.id}?report_type=pdf&download=true"
        )
        self.assertEqual(pdf.status_code, 200)
        # Odoo serves the report's HTML instead of a PDF in test mode; the download is real.
        self.assertIn("attachment", pdf.headers["Content-Disposition"])
        self.assertIn(".pdf", pdf.headers["Content-Disposition"])
        self.assertIn(b"Submit this document to your insurance company", pdf.content)
        statements = self.url_open("/my/statements")
        self.assertEqual(statements.status_code, 200)

    def test_another_clients_documents_are_not_found(self):
        self.authenticate("jane_portal", "jane_portal")
        for url in (
            f"/my/superbills/{self.marcus_superbill.id}",
            f"/my/superbills/{self.marcus_superbill.id}?report_type=pdf&download=true",
        ):
            response = self.url_open(url)
            self.assertEqual(response.status_code, 404, url)
        statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.marcus_user.partner_id.id)]
        )
        self.assertEqual(self.url_open(f"/my/statements/{statement.id}").status_code, 404)
        # Diagnoses are not readable through anything a portal user can reach.
        line = self.jane_superbill.line_ids[:1].with_user(self.jane_user)
        self.assertEqual(line.cpt_code, "90837")
        self.assertNotIn("diagnosis_ids", line.fields_get())

    def test_portal_tour(self):
        self.start_tour(
            f"/my?other={self.marcus_superbill.id}",
            "practice_billing_portal_tour",
            login="jane_portal",
        )


@tagged("-at_install", "post_install")
class TestClientTour(PortalClientCase):
    def test_client_tour(self):
        """Jane, in Chromium: her statement's lines and running balance, then a superbill
        she requests for the month before last, listed as Requested."""
        jane = self.jane_user.partner_id
        month_before = date.today().replace(day=1) - relativedelta(months=2)
        month_end = month_before + relativedelta(months=1, days=-1)
        self._invoiced_sessions(jane, [month_before.replace(day=3)])
        # The statement of the run: last month's invoice, $150, and nothing paid.
        statement = self.env["practice.statement"].search([("partner_id", "=", jane.id)])
        self.assertEqual(statement.balance_end, 150.0)
        period = f"{month_before:%m/%d/%Y} to {month_end:%m/%d/%Y}"
        self.start_tour(
            f"/my?{url_encode({'from': month_before, 'to': month_end, 'period': period})}",
            "practice_billing_client_tour",
            login="jane_portal",
        )
        requested = self.env["practice.superbill"].search(
            [("partner_id", "=", jane.id), ("state", "=", "draft")]
        )
        self.assertTrue(requested.requested_by_client)
        self.assertEqual((requested.date_start, requested.date_end), (month_before, month_end))


@tagged("-at_install", "post_install")
class TestPortalInvoicePage(PortalClientCase):
    def test_the_practice_address_is_printed_once(self):
        """The invoice page shows the invoice in a frame (its HTML, with the layout's
        header): the practice's address once, in the header, never also in the body."""
        self.company.write({"street": "12 Elm Street", "city": "Portland", "zip": "97201"})
        invoice = self.env["account.move"].search(
            [("partner_id", "=", self.jane_user.partner_id.id), ("billing_run_id", "!=", False)]
        )
        self.authenticate("jane_portal", "jane_portal")
        page = self.url_open(f"/my/invoices/{invoice.id}")
        self.assertEqual(page.status_code, 200)
        [frame] = html.fromstring(page.text).xpath("//iframe[@id='invoice_html']/@src")
        shown = page.text + self.url_open(frame).content.decode()
        self.assertIn(invoice.name, shown)
        self.assertEqual(shown.count("12 Elm Street"), 1, "the practice's address once")


@tagged("-at_install", "post_install")
class TestPortalHome(PortalClientCase):
    """The home page's Superbills and Statements tiles, as Odoo's own."""

    def _tile(self, url):
        """The class and icon of the home page's tile leading to ``url``."""
        page = html.fromstring(self.url_open("/my").text)
        [tile] = page.xpath(f"//div[contains(@class, 'o_portal_index_card')][.//a[@href='{url}']]")
        return tile.get("class").split(), tile.xpath(".//img/@src")

    def test_tiles_have_icons(self):
        self.authenticate("jane_portal", "jane_portal")
        for url in ("/my/superbills", "/my/statements"):
            _classes, [icon] = self._tile(url)
            response = self.url_open(icon)
            self.assertEqual(response.status_code, 200, icon)
            self.assertEqual(response.headers["Content-Type"].split(";")[0], "image/svg+xml")

    def test_a_client_who_needs_superbills_finds_the_tile_before_the_first(self):
        priya_user = new_test_user(
            self.env,
            login="priya_portal",
            name="Priya Natarajan",
            groups="base.group_portal",
            company_id=self.company.id,
        )
        priya = self._record_insurance(priya_user.partner_id, member_id="M-priya")
        self.authenticate("priya_portal", "priya_portal")
        counters = {"counters": ["superbill_count"]}
        self.assertEqual(self.make_jsonrpc_request("/my/counters", counters)["superbill_count"], 0)
        classes, _icon = self._tile("/my/superbills")
        self.assertNotIn("d-none", classes, "shown: the request form is behind it")
        self.assertIn("Request a superbill", self.url_open("/my/superbills").text)
        # A client who does not need superbills, or a practice that does not issue them:
        # the tile waits for a superbill (Odoo's counters show it then).
        priya.billing_needs_superbill = False
        self.assertIn("d-none", self._tile("/my/superbills")[0])
        priya.billing_needs_superbill = True
        self.company.billing_auto_superbill = False
        self.assertIn("d-none", self._tile("/my/superbills")[0])

    def test_breadcrumbs_name_the_page(self):
        self.authenticate("jane_portal", "jane_portal")
        for url, crumbs in (
            ("/my/superbills", ["Superbills"]),
            (f"/my/superbills/{self.jane_superbill.id}", ["Superbills", self.jane_superbill.name]),
        ):
            page = html.fromstring(self.url_open(url).text)
            items = page.xpath("//ol[contains(@class, 'o_portal_submenu')]/li")
            self.assertEqual(
                [" ".join(item.text_content().split()) for item in items[1:]], crumbs, url
            )
        listing = html.fromstring(self.url_open("/my/superbills").text)
        [number] = listing.xpath(f"//a[@href='/my/superbills/{self.jane_superbill.id}']/text()")
        self.assertEqual(number, self.jane_superbill.name, "the list names superbills by number")


@tagged("-at_install", "post_install")
class TestClientPortalHooks(PortalClientCase):
    """The portal's lists are built from methods an addon overrides, as `account`'s are."""

    def test_sortings_are_labelled_in_the_clients_language(self):
        self.authenticate("jane_portal", "jane_portal")
        for url in ("/my/superbills", "/my/statements"):
            page = self.url_open(url).text
            self.assertIn("Newest", page, url)
            self.assertIn(f"{url}?sortby=oldest", page.replace("&amp;", "&"), url)
        # A French translation of the addon's code terms reaches the labels.
        self.env["res.lang"]._activate_lang("fr_FR")
        self.jane_user.lang = "fr_FR"
        french = {"Newest": "Plus récents", "Oldest": "Plus anciens"}
        load = CodeTranslations.get_python_translations

        def translations(code_translations, module_name, lang):
            terms = load(code_translations, module_name, lang)
            if (module_name, lang) == ("practice_billing", "fr_FR"):
                return {**terms, **french}
            return terms

        self.authenticate("jane_portal", "jane_portal")
        with patch.object(CodeTranslations, "get_python_translations", translations):
            for url in ("/my/superbills", "/my/statements"):
                page = self.url_open(url).text
                self.assertIn("Plus récents", page, url)
                self.assertIn("Plus anciens", page, url)
                self.assertNotIn("Newest", page, url)

    def test_counters_and_override_points(self):
        portal = PracticeBillingPortal()
        self.assertEqual(portal._prepare_superbills_domain(), [("state", "=", "issued")])
        self.assertEqual(portal._prepare_statements_domain(), [])
        self.authenticate("jane_portal", "jane_portal")
        counters = {"counters": ["superbill_count", "statement_count"]}
        self.assertEqual(
            self.make_jsonrpc_request("/my/counters", counters),
            {"superbill_count": 1, "statement_count": 1},
        )
        superbill_url = f"/my/superbills/{self.jane_superbill.id}"
        # An addon that narrows the superbills shown narrows the counter, list and page.
        narrowed = [("state", "=", "issued"), ("id", "!=", self.jane_superbill.id)]
        with patch.object(
            PracticeBillingPortal, "_prepare_superbills_domain", return_value=narrowed
        ):
            self.assertEqual(
                self.make_jsonrpc_request("/my/counters", counters)["superbill_count"], 0
            )
            self.assertNotIn(superbill_url, self.url_open("/my/superbills").text)
            self.assertEqual(self.url_open(superbill_url).status_code, 404)
        self.assertIn(superbill_url, self.url_open("/my/superbills").text)


@tagged("-at_install", "post_install")
class TestClientChoosesDelivery(PortalClientCase):
    """ "My Account" lets a client choose email or the portal, and nothing else."""

    def _save_my_account(self, **changes):
        self.authenticate("jane_portal", "jane_portal")
        page = self.url_open("/my/account")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        # What the browser submits: the form's fields as shown, the first option of the
        # "Receive invoices" menu selected when none matches the client's method.
        data = {
            "name": "Jane Doe",
            "email": "jane@example.com",
            "phone": "555-0100",
            "street": "7 Oak Lane",
            "city": "Salem",
            "country_id": str(self.env.ref("base.us").id),
            "state_id": str(self.env.ref("base.state_us_39").id),
            "zipcode": "97301",
            "invoice_sending_method": page.text.split('name="invoice_sending_method"')[1]
            .split('value="')[1]
            .split('"')[0],
            "csrf_token": csrf,
            **changes,
        }
        return self.url_open("/my/account", data=data)

    def _method(self):
        jane = self.jane_user.partner_id.with_company(self.company)
        jane.invalidate_recordset()
        return jane.billing_delivery_method

    def test_saving_an_address_keeps_the_portal(self):
        self.jane_user.partner_id.with_company(self.company).billing_delivery_method = "portal"
        self._save_my_account()
        self.assertEqual(self._method(), "portal")

    def test_a_client_may_switch_between_email_and_the_portal(self):
        self.jane_user.partner_id.with_company(self.company).billing_delivery_method = "portal"
        self._save_my_account(invoice_sending_method="email")
        self.assertEqual(self._method(), "email")

    def test_a_client_cannot_choose_what_staff_decide(self):
        self.jane_user.partner_id.with_company(self.company).billing_delivery_method = "portal"
        response = self._save_my_account(invoice_sending_method="manual", city="Eugene")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._method(), "portal", "not saved")
        self.assertEqual(self.jane_user.partner_id.city, "Eugene", "the rest is saved")
