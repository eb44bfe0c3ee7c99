import io
import zipfile
from datetime import datetime

from odoo.tests import tagged

from .common import PracticeHttpCase


@tagged("-at_install", "post_install")
class TestBillingDocuments(PracticeHttpCase):
    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self.jane = self._record_insurance(
            self._client_with_sessions("Jane Doe", "jane@example.com", "manual")
        )
        self.marcus = self._client_with_sessions("Marcus Webb", "marcus@example.com", "manual")
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.Document = self.env["practice.billing.document"]
        self.mine = [("company_id", "=", self.company.id)]

    def test_one_list_of_every_document(self):
        documents = self.Document.search(self.mine)
        kinds = sorted(documents.mapped("document_type"))
        self.assertEqual(kinds, ["invoice", "invoice", "statement", "statement", "superbill"])
        superbills = self.Document.search([*self.mine, ("document_type", "=", "superbill")])
        self.assertEqual(superbills.partner_id, self.jane)
        action = superbills.action_open()
        self.assertEqual(action["res_model"], "practice.superbill")
        self.assertTrue(all(d.delivery_state == "manual" for d in documents))
        invoices = self.Document.search([*self.mine, ("document_type", "=", "invoice")])
        self.assertEqual(set(invoices.mapped("amount")), {300.0})
        self.assertTrue(all(invoices.mapped("is_unpaid")))

    def test_filter_by_clinician(self):
        other = self.env["res.users"].create(
            {
                "name": "Sam Ortiz",
                "login": "sam",
                "company_id": self.company.id,
                "company_ids": [(6, 0, self.company.ids)],
            }
        )
        self.assertEqual(
            self.Document.search([*self.mine, ("clinician_id", "=", self.clinician.id)])
            .mapped("document_type")
            .count("invoice"),
            2,
        )
        self.assertFalse(self.Document.search([*self.mine, ("clinician_id", "=", other.id)]))
        by_name = self.Document.search([*self.mine, ("clinician_id", "ilike", "Maya")])
        self.assertEqual(set(by_name.mapped("document_type")), {"invoice", "superbill"})
        self.assertEqual(by_name[0].clinician_id, self.clinician)

    def test_merged_pdf_in_the_order_shown(self):
        documents = self.Document.search(self.mine, order="document_type desc, name")
        pdf = documents._get_merged_pdf()
        self.assertTrue(pdf.startswith(b"%PDF"))
        text, _fonts = self._pdf_text(pdf, "billing-documents.pdf")
        positions = []
        for document in documents:
            marker = {"superbill": "Superbill", "statement": "Statement of account"}.get(
                document.document_type, document.name
            )
            position = text.find(marker, positions[-1] + 1 if positions else 0)
            self.assertGreaterEqual(position, 0, f"{document.name} missing or out of order")
            positions.append(position)
        self.assertEqual(positions, sorted(positions))
        action = documents.action_export_pdf()
        self.assertIn("/web/content/", action["url"])

    def test_zip_has_one_named_pdf_per_document(self):
        documents = self.Document.search([*self.mine, ("document_type", "=", "invoice")])
        archive = zipfile.ZipFile(io.BytesIO(documents._get_zip()))
        names = sorted(archive.namelist())
        expected = sorted(d._zip_name() for d in documents)
        self.assertEqual(names, expected)
        self.assertTrue(all(n.startswith("invoice-INV-") for n in names), names)
        self.assertTrue(any(n.endswith("-Jane-Doe.pdf") for n in names), names)
        for name in names:
            self.assertTrue(archive.read(name).startswith(b"%PDF"))

    def test_issued_superbill_reuses_its_frozen_pdf(self):
        superbill_doc = self.Document.search([*self.mine, ("document_type", "=", "superbill")])
        superbill = self.env["practice.superbill"].browse(superbill_doc.res_id)
        stored = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("practice_billing.action_report_superbill", superbill.ids)[0]
        )
        self.assertEqual(superbill_doc._frozen_pdf(), stored)
        [(_doc, pdf)] = superbill_doc._render_pdfs(merged=True)
        self.assertEqual(pdf, stored)

    def test_mark_delivered_and_send(self):
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        documents.action_mark_delivered()
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        self.assertEqual(set(documents.mapped("delivery_state")), {"sent"})
        self.marcus.billing_delivery_method = "manual"
        documents.action_send()
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        self.assertEqual(set(documents.mapped("delivery_state")), {"manual"})


@tagged("-at_install", "post_install")
class TestBillingDocumentsTour(PracticeHttpCase):
    def test_staff_export_last_months_superbills(self):
        self._record_provider_identifiers()
        for name in ("Jane Doe", "Marcus Webb"):
            address = f"{name.split()[0].lower()}@example.com"
            self._record_insurance(self._client_with_sessions(name, address, "manual"))
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.assertEqual(
            self.env["practice.superbill"].search_count(
                [("company_id", "=", self.company.id), ("state", "=", "issued")]
            ),
            2,
        )
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_documents",
            "practice_billing_documents_tour",
            login="admin",
        )
        # What the button does with those two: one PDF with both superbills, nothing else.
        documents = self.env["practice.billing.document"].search(
            [("company_id", "=", self.company.id), ("document_type", "=", "superbill")]
        )
        text, _fonts = self._pdf_text(documents._get_merged_pdf(), "tour-export.pdf")
        self.assertEqual(text.count("Submit this document to your insurance company"), 2)
