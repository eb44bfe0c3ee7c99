from datetime import datetime
from unittest.mock import patch

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
