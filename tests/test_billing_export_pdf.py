import io
import subprocess
from datetime import datetime

from freezegun import freeze_time
from reportlab.pdfgen import canvas

from odoo.tests import tagged

from odoo.addons.practice_billing.tools.pdf_pages import number_pages

from .common import PracticeHttpCase
from .pdf import ARTIFACTS


@tagged("-at_install", "post_install")
class TestBillingExportPdf(PracticeHttpCase):
    """Billing Documents exported as one PDF: "Page 3 of 40" on every page (wkhtmltopdf's
    footers are lost here) and, when asked, a cover page listing the documents and the
    page where each starts."""

    def setUp(self):
        super().setUp()
        self.company.partner_id.tz = "America/New_York"
        self._record_provider_identifiers()
        self._record_insurance(self._client_with_sessions("Jane Doe", "jane@example.com", "manual"))
        self._client_with_sessions("Marcus Webb", "marcus@example.com", "manual")
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        self.documents = self.env["practice.billing.document"].search(
            [("company_id", "=", self.company.id)], order="document_type, name"
        )
        # Two invoices, two statements and a superbill.
        self.assertEqual(len(self.documents), 5)

    def _pages(self, pdf, name):
        """The text of each page of ``pdf`` (kept in test-artifacts/), white space collapsed."""
        self._pdf_text(pdf, name)
        count = int(
            next(
                line.split()[-1]
                for line in subprocess.run(
                    ["pdfinfo", str(ARTIFACTS / name)], capture_output=True, text=True, check=True
                ).stdout.splitlines()
                if line.startswith("Pages:")
            )
        )
        return [
            " ".join(
                subprocess.run(
                    ["pdftotext", "-f", str(n), "-l", str(n), str(ARTIFACTS / name), "-"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.replace("\xa0", " ")
                .split()
            )
            for n in range(1, count + 1)
        ]

    @staticmethod
    def _marker(document):
        """What the first page of a document's PDF says about it."""
        return {
            "superbill": f"Superbill {document.name}",
            "statement": f"Statement of account {document.name}",
        }.get(document.document_type, document.name)

    def test_every_page_numbered_and_no_cover_unless_asked(self):
        pages = self._pages(self.documents._get_merged_pdf(), "export-numbered.pdf")
        self.assertGreaterEqual(len(pages), len(self.documents))
        for number, text in enumerate(pages, start=1):
            self.assertIn(f"Page {number} of {len(pages)}", text)
        self.assertNotIn("Billing documents", pages[0], "no cover page when not asked")
        self.assertIn(self._marker(self.documents[0]), pages[0])

    def test_cover_lists_each_document_and_the_page_where_it_starts(self):
        with freeze_time("2026-11-02 15:04:05"):
            pdf = self.documents.with_context(billing_export_cover=True)._get_merged_pdf()
        pages = self._pages(pdf, "export-cover.pdf")
        cover = pages[0]
        self.assertIn("Billing documents", cover)
        self.assertIn(f"5 documents, {len(pages)} pages", cover)
        # The practice's time, without seconds (15:04:05 UTC is 10:04 in New York).
        self.assertIn("Exported 11/02/2026 10:04 by", cover)
        self.assertNotIn("10:04:05", cover)
        self.assertIn(f"Page 1 of {len(pages)}", cover)
        for document in self.documents:
            row = cover[cover.index(document.name) :]
            self.assertIn(document.partner_id.name, row[:80])
            start = int(row.split(f"$ {document.amount:,.2f}", 1)[1].split()[0])
            self.assertIn(self._marker(document), pages[start - 1], f"{document.name} starts")
            self.assertIn(f"Page {start} of {len(pages)}", pages[start - 1])

    def test_a_cover_of_several_pages_counts_its_own_pages(self):
        """An export of many documents has a longer cover: the documents start after it."""
        one_page = self._one_page_pdf()
        invoice = self.documents.filtered(lambda d: d.document_type == "invoice")[0]
        many = [(invoice, one_page)] * 60
        Export = self.env["practice.billing.export"]
        cover = Export._cover_pdf(many)
        pages = self._pages(cover, "export-long-cover.pdf")
        self.assertGreater(len(pages), 1, "60 documents do not fit on one page")
        listed = " ".join(pages).split(invoice.name)[1:]
        starts = [int(row.split(f"$ {invoice.amount:,.2f}", 1)[1].split()[0]) for row in listed]
        self.assertEqual(starts, list(range(len(pages) + 1, len(pages) + 61)))
        merged = self._pages(Export._merged_pdf(many, cover=True), "export-long.pdf")
        self.assertEqual(len(merged), len(pages) + 60)
        self.assertIn(f"Page {len(merged)} of {len(merged)}", merged[-1])

    @staticmethod
    def _one_page_pdf():
        stream = io.BytesIO()
        page = canvas.Canvas(stream)
        page.drawString(72, 720, "A document")
        page.save()
        return stream.getvalue()

    def test_page_numbers_in_a_script_the_standard_font_cannot_write(self):
        """A language written in another script gets the numbers alone ("2 / 3"), never a
        failed export or unreadable signs."""
        pdf = number_pages(
            [self._one_page_pdf()] * 3, lambda page, total: f"Стр. {page} из {total}"
        )
        pages = self._pages(pdf, "export-cyrillic.pdf")
        self.assertTrue("".join(pages[1].split()).endswith("Adocument2/3"), pages[1])
