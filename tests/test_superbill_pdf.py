import base64
import io
import subprocess
from datetime import datetime, timedelta

from PIL import Image

from odoo.tests import new_test_user, tagged
from odoo.tools import format_date

from .common import PracticeHttpCase
from .pdf import ARTIFACTS


@tagged("-at_install", "post_install")
class TestSuperbillPdf(PracticeHttpCase):
    """The superbill a client uploads to their insurer: complete, real text, frozen."""

    def setUp(self):
        super().setUp()
        self.company.write(
            {
                "billing_npi": "1245319599",
                "billing_tax_id": "12-3456789",
                "billing_auto_superbill": True,
            }
        )
        self.clinician.write(
            {
                "billing_npi": "1234567893",
                "billing_license_number": "LCSW-12345",
                "billing_credentials": "LCSW",
                "billing_taxonomy_code": "1041C0700X",
            }
        )
        self.client = self._client_with_sessions(
            "Jane Doe",
            "jane@example.com",
            "manual",
            billing_needs_superbill=True,
            billing_legal_name="Jane Q. Doe",
            billing_birthdate="1988-04-12",
            billing_insurance_payer="Aetna",
            billing_insurance_member_id="W123456789",
            street="7 Oak Lane",
            city="Salem",
        )
        self.env["practice.client.diagnosis"].create(
            {
                "partner_id": self.client.id,
                "code": "F41.1",
                "description": "Generalized anxiety disorder",
                "date_start": "2020-01-01",
            }
        )
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.superbill = self.env["practice.superbill"].search(
            [("partner_id", "=", self.client.id)]
        )

    def _render(self, superbill):
        return (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("practice_billing.action_report_superbill", superbill.ids)[0]
        )

    def test_pdf_holds_everything_an_insurer_needs_as_real_text(self):
        self.assertEqual(self.superbill.state, "issued", self.superbill.missing_info)
        pdf = self._render(self.superbill)
        self.assertTrue(pdf.startswith(b"%PDF"))
        text, fonts = self._pdf_text(pdf, "superbill.pdf")
        self._assert_looks_printed(self._rasterize("superbill.pdf"))
        for required in (
            "Riverside Therapy",
            "12 Elm Street",
            "503 555 0100",
            "NPI: 1245319599",
            "Tax ID: 12-3456789",
            "Maya Chen",
            "LCSW",
            "1234567893",
            "LCSW-12345",
            "Jane Q. Doe",
            "04/12/1988",
            "7 Oak Lane",
            "Aetna",
            "W123456789",
            "F41.1",
            "Generalized anxiety disorder",
            "90837",
            "Psychotherapy, 53 min",
            "taxonomy 1041C0700X",
            "Provider signature",
            "Submit this document to your insurance company",
            "$ 300.00",
            f"Superbill {self.superbill.name}",
            "Date issued",
        ):
            self.assertIn(required, text.replace("\xa0", " "), required)
        self.assertIn(format_date(self.env, self.superbill.date_issued), text)
        self.assertIn("DejaVu", fonts)

    def test_code_only_privacy_option(self):
        self.client.billing_superbill_diagnosis_detail = "code"
        # The issued superbill keeps its PDF; the option applies to those issued from now on.
        action = self.superbill.action_new_version()
        new = self.env["practice.superbill"].browse(action["res_id"])
        text, _fonts = self._pdf_text(self._render(new), "superbill-code-only.pdf")
        self.assertIn("F41.1", text)
        self.assertNotIn("anxiety", text)

    def test_issued_pdf_is_frozen_and_corrections_are_new_versions(self):
        first = self._render(self.superbill)
        attachment = self.env["ir.attachment"].search(
            [("res_model", "=", "practice.superbill"), ("res_id", "=", self.superbill.id)]
        )
        self.assertEqual(len(attachment), 1, "the issued PDF is stored")
        self.client.billing_insurance_member_id = "CHANGED-ID"
        again, _kind = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("practice_billing.action_report_superbill", self.superbill.ids)
        )
        self.assertEqual(again, first, "what the client sent never changes")
        action = self.superbill.action_new_version()
        new = self.env["practice.superbill"].browse(action["res_id"])
        self.assertEqual(self.superbill.state, "cancelled")
        self.assertEqual(new.replaces_id, self.superbill)
        text, _fonts = self._pdf_text(self._render(new), "superbill-v2.pdf")
        self.assertIn("CHANGED-ID", text)
        self.assertIn("replaces", text)

    def test_letterhead_logo_and_taxonomy_of_each_clinician(self):
        """The practice's logo heads the superbill (the layout's header is lost here), never
        Odoo's placeholder; each clinician's taxonomy code is printed."""
        self.superbill.line_ids.session_id.user_id.billing_taxonomy_code = "101YM0800X"
        action = self.superbill.action_new_version()  # the issued PDF is kept as it was
        superbill = self.env["practice.superbill"].browse(action["res_id"])
        text, _fonts = self._pdf_text(self._render(superbill), "superbill-no-logo.pdf")
        self.assertIn("taxonomy 101YM0800X", text)
        self.assertTrue(self.company.uses_default_logo)
        self.assertEqual(self._images("superbill-no-logo.pdf"), 0, "no placeholder logo")
        self.company.logo = self._logo()
        action = superbill.action_new_version()
        superbill = self.env["practice.superbill"].browse(action["res_id"])
        text, _fonts = self._pdf_text(self._render(superbill), "superbill-logo.pdf")
        self.assertEqual(self._images("superbill-logo.pdf"), 1, "the practice's logo")
        self.assertLess(text.index("Riverside Therapy"), text.index("Superbill"))

    @staticmethod
    def _logo():
        stream = io.BytesIO()
        Image.new("RGB", (240, 80), (38, 110, 120)).save(stream, "PNG")
        return base64.b64encode(stream.getvalue())

    @staticmethod
    def _images(name):
        """How many images a PDF kept in test-artifacts/ holds (pdfimages -list)."""
        listing = subprocess.run(
            ["pdfimages", "-list", str(ARTIFACTS / name)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return len(listing.splitlines()) - 2  # two lines of headers

    def test_rendering_npi_on_each_line_when_several_clinicians_saw_the_client(self):
        """An insurer reads which clinician rendered each service (CMS-1500 box 24J)."""
        sam = new_test_user(self.env, login="sam", name="Sam Ortiz", company_id=self.company.id)
        sam.write({"billing_npi": "1992999999", "billing_taxonomy_code": "103T00000X"})
        client = self._record_insurance(
            self._create_client("Lee Park", billing_delivery_method="manual")
        )
        self._add_sessions(client, weeks=(0,))
        day = (datetime.now().replace(day=1) - timedelta(days=1)).replace(day=9, hour=15)
        self._create_session(client, day, user_id=sam.id, billing_company_id=self.company.id)
        client.with_company(self.company).action_billing_invoice_now()
        last_month_end = datetime.now().date().replace(day=1) - timedelta(days=1)
        superbill = self.env["practice.superbill"]._generate(
            client, last_month_end.replace(day=1), last_month_end, self.company
        )
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        text, _fonts = self._pdf_text(self._render(superbill), "superbill-two-clinicians.pdf")
        rows = [line for line in text.splitlines() if "90837" in line]
        self.assertEqual(len(rows), 2, rows)
        self.assertIn("1234567893", rows[0], "Maya Chen's session")
        self.assertIn("1992999999", rows[1], "Sam Ortiz's session")
        self.assertIn("taxonomy 103T00000X", text)
