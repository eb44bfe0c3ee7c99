import json
from datetime import datetime
from urllib.parse import urlencode

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from . import test_portal
from .common import PracticeHttpCase
from .pdf import kept_pdf

SUPERBILL = "practice_billing.report_superbill"
STATEMENT = "practice_billing.report_statement"
INVOICE = "account.report_invoice"
# Over HTTP in test mode Odoo answers HTML instead of a PDF unless asked to really render.
FORCE_RENDERING = json.dumps({"force_report_rendering": True})


@tagged("-at_install", "post_install")
class TestReportAccess(PracticeHttpCase):
    """A report URL may name any records: it answers only those the requesting user may read.

    Two clients with issued (hence kept) superbills, statements and invoices; each request
    mixes what the user may see with what they may not, on every report path.
    """

    _portal_client = test_portal.TestClientPortal._portal_client

    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self.jane_user = self._portal_client("jane_portal", "Jane Doe")
        self.marcus_user = self._portal_client("marcus_portal", "Marcus Webb")
        self.jane, self.marcus = self.jane_user.partner_id, self.marcus_user.partner_id
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.superbills = self._of_clients("practice.superbill")
        self.statements = self._of_clients("practice.statement")
        self.invoices = self._of_clients("account.move", [("move_type", "=", "out_invoice")])
        self.assertEqual(set(self.superbills.mapped("state")), {"issued"})
        self.assertTrue(all(kept_pdf(superbill) for superbill in self.superbills))

    def _of_clients(self, model, domain=()):
        """[Jane's, Marcus's] record of ``model``, one each."""
        records = [
            self.env[model].search([*domain, ("partner_id", "=", client.id)])
            for client in (self.jane, self.marcus)
        ]
        self.assertEqual([len(record) for record in records], [1, 1], model)
        return records[0] | records[1]

    @staticmethod
    def _secrets(*clients):
        return [secret for c in clients for secret in (c.name, c.billing_insurance_member_id)]

    def _responses(self, report_name, records):
        """{path kind: response} of /report/pdf, /report/download and /report/html."""
        path = f"/report/pdf/{report_name}/{','.join(map(str, records.ids))}"
        download = {"data": json.dumps([path, "qweb-pdf"]), "context": FORCE_RENDERING}
        return {
            "pdf": self.url_open(f"{path}?{urlencode({'context': FORCE_RENDERING})}"),
            "download": self.url_open(f"/report/download?{urlencode(download)}"),
            "html": self.url_open(path.replace("/report/pdf/", "/report/html/")),
        }

    def _text(self, response, name):
        if response.content.startswith(b"%PDF"):
            return self._pdf_text(response.content, name)[0]
        return response.text

    def _assert_refused(self, report_name, records, secrets):
        for kind, response in self._responses(report_name, records).items():
            label = f"{report_name} {records.ids} by {kind}"
            text = self._text(response, f"refused-{kind}.pdf")
            self.assertFalse(response.content.startswith(b"%PDF"), label)
            if kind == "download":
                # Odoo's download route answers its errors as JSON, with status 200.
                self.assertIn("Odoo Server Error", text, label)
            else:
                self.assertNotEqual(response.status_code, 200, label)
            for secret in secrets:
                self.assertNotIn(secret, text, label)

    def _assert_printed(self, report_name, records, expected, kinds=("pdf", "download", "html")):
        for kind, response in self._responses(report_name, records).items():
            if kind not in kinds:
                continue
            label = f"{report_name} {records.ids} by {kind}"
            self.assertEqual(response.status_code, 200, label)
            if kind != "html":
                self.assertTrue(response.content.startswith(b"%PDF"), label)
            text = self._text(response, f"printed-{kind}.pdf")
            for value in expected:
                self.assertIn(value, text, label)

    # ------------------------------------------------------------------ A. report access
    def test_client_gets_nothing_of_another_client(self):
        self.authenticate("jane_portal", "jane_portal")
        self._assert_refused(SUPERBILL, self.superbills, self._secrets(self.marcus))
        self._assert_refused(STATEMENT, self.statements, self._secrets(self.marcus))
        # Their own superbill still prints, from the PDF kept at issue (its HTML is not
        # theirs to render: it reads the diagnosis pointers; the portal renders it as
        # superuser after its own check).
        own = self.superbills.filtered(lambda s: s.partner_id == self.jane)
        self._assert_printed(SUPERBILL, own, self._secrets(self.jane), kinds=("pdf", "download"))

    def test_employee_without_billing_rights_gets_nothing(self):
        new_test_user(self.env, login="front_desk", groups="base.group_user")
        self.authenticate("front_desk", "front_desk")
        secrets = self._secrets(self.jane, self.marcus)
        self._assert_refused(SUPERBILL, self.superbills, secrets)
        self._assert_refused(STATEMENT, self.statements, secrets)

    def test_billing_user_gets_no_superbill_but_prints_statements_and_invoices(self):
        new_test_user(self.env, login="biller", groups="practice_billing.group_billing_user")
        self.authenticate("biller", "biller")
        self._assert_refused(SUPERBILL, self.superbills, self._secrets(self.jane, self.marcus))
        names = [self.jane.name, self.marcus.name]
        self._assert_printed(STATEMENT, self.statements, names)
        self._assert_printed(INVOICE, self.invoices, [*names, *self.invoices.mapped("name")])

    def test_staff_of_another_practice_get_nothing(self):
        lakeside = self.env["res.company"].create({"name": "Lakeside Counseling"})
        new_test_user(
            self.env,
            login="lakeside_manager",
            groups="practice_billing.group_billing_manager",
            company_id=lakeside.id,
            company_ids=[Command.set(lakeside.ids)],
        )
        self.authenticate("lakeside_manager", "lakeside_manager")
        secrets = self._secrets(self.jane, self.marcus)
        self._assert_refused(SUPERBILL, self.superbills, secrets)
        self._assert_refused(STATEMENT, self.statements, secrets)
        self._assert_refused(INVOICE, self.invoices, secrets)

    def test_exports_render_only_what_the_user_may_read(self):
        """Billing Documents' exports and freezing render through _render_pdf_each."""
        Report = self.env["ir.actions.report"].with_user(self.jane_user)
        with self.assertRaises(AccessError):
            Report._render_pdf_each("practice_billing.action_report_superbill", self.superbills.ids)
        # The billing run, as superuser, keeps rendering them.
        pdfs = (
            self.env["ir.actions.report"]
            .sudo()
            ._render_pdf_each("practice_billing.action_report_superbill", self.superbills.ids)
        )
        self.assertEqual(sorted(pdfs), sorted(self.superbills.ids))

    def test_other_reports_are_left_to_odoo(self):
        """Odoo prints a report of a record the user cannot open when its template reads
        nothing of it (web's test_report_session_cookie, in ./dev.sh test-odoo): the rule
        guards the practice's documents, invoices and reports that serve kept PDFs only."""
        Report = self.env["ir.actions.report"]
        for guarded in (SUPERBILL, STATEMENT, INVOICE):
            self.assertTrue(Report._billing_guards_report(Report._get_report(guarded)), guarded)
        card = Report.create(
            {"name": "Card", "model": "res.partner", "report_name": "base.contact_name"}
        )
        self.assertFalse(Report._billing_guards_report(card))
        card.write({"attachment": "'card.pdf'", "attachment_use": True})
        self.assertTrue(Report._billing_guards_report(card), "kept PDFs are served unread")
