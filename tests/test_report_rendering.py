import io
from contextlib import contextmanager
from datetime import date, datetime
from unittest.mock import patch

from psycopg2 import OperationalError
from psycopg2.errors import SerializationFailure
from reportlab.pdfgen import canvas

from odoo import Command
from odoo.tests import tagged

from odoo.addons.base.models.assetsbundle import AssetsBundle
from odoo.addons.base.models.ir_actions_report import IrActionsReport as BaseReport
from odoo.addons.practice_billing.models import ir_actions_report_batch
from odoo.addons.practice_billing.models.ir_actions_report_batch import (
    wkhtmltopdf_has_patched_qt,
)
from odoo.addons.practice_billing.models.ir_actions_report_styles import ASSET_STYLESHEET

from .common import PracticeHttpCase
from .pdf import kept_pdf, wkhtmltopdf_runs

INVOICES = "account.account_invoices"  # account's report: the rendering is not billing's
# account's "Original Bills": its own override of the rendering returns each bill's original PDF.
ORIGINAL_BILLS = "account.action_account_original_vendor_bill"
CLIENT_LIST = "practice_billing.test_client_list"
STATEMENTS = "practice_billing.action_report_statement"
PRACTICE_STREET = "12 Elm Street"  # the practice's address (PracticeHttpCase)


@tagged("-at_install", "post_install")
class TestReportRendering(PracticeHttpCase):
    """Any report of the database, printed with the wkhtmltopdf of this machine (Debian's,
    one document per process, no header): several records in one process, split back per
    record; styles inside the HTML; the invoice's practice block only where the header is
    lost."""

    def setUp(self):
        super().setUp()
        self.Report = self.env["ir.actions.report"].with_context(force_report_rendering=True)
        self.invoices = self._post_invoices("Ann Lee", "Bo Park", "Cy Diaz")

    def _post_invoices(self, *names):
        """A posted invoice of account (no billing run) for each client named."""
        clients = self.env["res.partner"].create([{"name": name} for name in names])
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": client.id,
                    "invoice_line_ids": [
                        Command.create({"product_id": self.service.id, "price_unit": 150.0})
                    ],
                }
                for client in clients
            ]
        )
        invoices.action_post()
        return invoices

    def _bills_with_originals(self, *suppliers):
        """A posted vendor bill of each supplier named, its original PDF (as the supplier
        sent it, one page saying "Original bill of <supplier>") attached as its main
        attachment."""
        partners = self.env["res.partner"].create([{"name": name} for name in suppliers])
        bills = self.env["account.move"].create(
            [
                {
                    "move_type": "in_invoice",
                    "partner_id": partner.id,
                    "invoice_date": date.today(),
                    "invoice_line_ids": [Command.create({"name": "Rent", "price_unit": 80.0})],
                }
                for partner in partners
            ]
        )
        bills.action_post()
        for bill in bills:
            bill.message_main_attachment_id = self.env["ir.attachment"].create(
                {
                    "name": f"{bill.partner_id.name}.pdf",
                    "raw": self._original_pdf(f"Original bill of {bill.partner_id.name}"),
                    "mimetype": "application/pdf",
                    "res_model": "account.move",
                    "res_id": bill.id,
                }
            )
        return bills

    @staticmethod
    def _bannered_original(bill):
        """What account's "Original Bills" prints of ``bill`` (its number on a banner,
        then its original), as _banner_text reads it."""
        return "".join(f"{bill.name} Original bill of {bill.partner_id.name}".split())

    def _banner_text(self, pdf, name):
        """The PDF's text without white space: account's banner is set at 45 degrees, which
        pdftotext reads as broken lines."""
        text, _fonts = self._pdf_text(pdf, name)
        return "".join(text.split())

    @staticmethod
    def _original_pdf(text):
        """A one-page PDF holding ``text`` (as real text)."""
        stream = io.BytesIO()
        page = canvas.Canvas(stream)
        page.drawString(72, 720, text)
        page.save()
        return stream.getvalue()

    def _assert_only(self, text, invoice, label):
        """``text`` prints ``invoice`` and no other invoice of the setUp."""
        self.assertIn(invoice.name, text, label)
        self.assertIn(invoice.partner_id.name, text, label)
        for other in self.invoices - invoice:
            self.assertNotIn(other.name, text, f"{label} holds {other.name}")
            self.assertNotIn(other.partner_id.name, text, f"{label} holds {other.name}")

    # ------------------------------------------------------------------ override order
    def test_access_check_wraps_the_rendering_pieces(self):
        """Billing's access check runs before anything is read or reused: its overrides are
        the outermost, the batch and style pieces run inside them (models/__init__.py)."""
        modules = [cls.__module__ for cls in type(self.env["ir.actions.report"]).__mro__]
        package = "odoo.addons.practice_billing.models"
        access = modules.index(f"{package}.ir_actions_report")
        for piece in ("ir_actions_report_batch", "ir_actions_report_styles"):
            self.assertLess(access, modules.index(f"{package}.{piece}"), piece)

    # ------------------------------------------------------------------ A. several records
    def test_another_addons_report_in_batch_one_process_one_pdf_per_record(self):
        with wkhtmltopdf_runs(self.env) as runs:
            pdfs = self.Report._render_pdf_each(INVOICES, self.invoices.ids)
        self.assertEqual(len(runs), 1, f"one wkhtmltopdf for three invoices: {runs}")
        self.assertEqual(list(pdfs), self.invoices.ids)
        for invoice in self.invoices:
            self.assertTrue(pdfs[invoice.id].startswith(b"%PDF"))
            text, _fonts = self._pdf_text(pdfs[invoice.id], f"batch-{invoice.id}.pdf")
            self._assert_only(text, invoice, invoice.name)
        # Print (all in one PDF), in the order asked for.
        ordered = self.invoices[::-1]
        with wkhtmltopdf_runs(self.env) as runs:
            pdf, _kind = self.Report._render_qweb_pdf(INVOICES, ordered.ids)
        self.assertEqual(len(runs), 1, f"one wkhtmltopdf for three invoices: {runs}")
        text, _fonts = self._pdf_text(pdf, "batch-print.pdf")
        positions = [text.find(invoice.name) for invoice in ordered]
        self.assertNotIn(-1, positions)
        self.assertEqual(positions, sorted(positions))

    @contextmanager
    def _template_renders(self, report_ref):
        """Collect the records of each rendering of the report's QWeb template inside the
        block (counted in `base`'s _render_template, below every override)."""
        template = self.env.ref(report_ref).report_name
        render_template = BaseReport._render_template
        renders = []

        def counted(report, name, values=None):
            if name == template:
                renders.append(list(values["doc_ids"]))
            return render_template(report, name, values)

        with patch.object(BaseReport, "_render_template", counted):
            yield renders

    def test_printed_together_each_template_rendered_once(self):
        """The records printed together are rendered once, together: going alone through
        the rest of the rendering afterwards renders no record's template again, nor the
        layout around it (that HTML would only be thrown away), and each still gets its own
        PDF."""
        prepare_html = BaseReport._prepare_html
        laid_out = []

        def counted(report, html, report_model=False):
            laid_out.append(report_model)
            return prepare_html(report, html, report_model=report_model)

        with (
            self._template_renders(INVOICES) as renders,
            wkhtmltopdf_runs(self.env) as runs,
            patch.object(BaseReport, "_prepare_html", counted),
        ):
            pdfs = self.Report._render_pdf_each(INVOICES, self.invoices.ids)
        self.assertEqual(renders, [self.invoices.ids], "one rendering for the three")
        self.assertEqual(laid_out, ["account.move"], "the layout once, for the one document")
        self.assertEqual(len(runs), 1, f"one wkhtmltopdf for three invoices: {runs}")
        self.assertEqual(list(pdfs), self.invoices.ids)
        for invoice in self.invoices:
            text, _fonts = self._pdf_text(pdfs[invoice.id], f"once-{invoice.id}.pdf")
            self._assert_only(text, invoice, invoice.name)

    def test_printed_together_once_and_kept_per_record(self):
        """A report that keeps its PDFs (statements, attachment_use): printed together and
        rendered once, each record's PDF is kept on its own, and is its own."""
        self.company.billing_auto_statement = True
        clients = [
            self._client_with_sessions(name, f"{name.split()[0].lower()}@example.com", "manual")
            for name in ("Jane Doe", "Marcus Reed", "Lena Ortiz")
        ]
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        statements = self.env["practice.statement"].search(
            [("partner_id", "in", [client.id for client in clients])], order="id"
        )
        self.assertEqual(len(statements), 3)
        for statement in statements:  # kept when issued: printed again only without
            kept_pdf(statement).unlink()
        with self._template_renders(STATEMENTS) as renders, wkhtmltopdf_runs(self.env) as runs:
            pdfs = self.Report._render_pdf_each(STATEMENTS, statements.ids)
        self.assertEqual(renders, [statements.ids], "one rendering for the three")
        self.assertEqual(len(runs), 1, f"one wkhtmltopdf for three statements: {runs}")
        for statement in statements:
            kept = kept_pdf(statement)
            self.assertTrue(kept, f"{statement.partner_id.name}'s statement kept")
            self.assertEqual(kept.raw, pdfs[statement.id])
            text, _fonts = self._pdf_text(kept.raw, f"kept-{statement.id}.pdf")
            self.assertIn(statement.partner_id.name, text)
            for other in statements - statement:
                self.assertNotIn(other.partner_id.name, text, f"{other.partner_id.name}")

    def test_original_bills_of_several_bills_print_each_original(self):
        """account prints "Original Bills" in its own override of the rendering, which sits
        below the batch: printed together, each bill still gives its original, bannered
        with its number, in the order asked for (never a blank page per bill)."""
        bills = self._bills_with_originals("Northwind Supplies", "Summit Rentals")[::-1]
        pdf, _kind = self.Report._render_qweb_pdf(ORIGINAL_BILLS, bills.ids)
        text = self._banner_text(pdf, "original-bills.pdf")
        starts = [text.find(self._bannered_original(bill)) for bill in bills]
        self.assertNotIn(-1, starts, f"a bill's original is missing: {text!r}")
        self.assertEqual(starts, sorted(starts), "in the order asked for")
        pdfs = self.Report._render_pdf_each(ORIGINAL_BILLS, bills.ids)
        self.assertEqual(list(pdfs), bills.ids)
        for bill, other in zip(bills, bills[::-1], strict=True):
            text = self._banner_text(pdfs[bill.id], f"original-{bill.id}.pdf")
            self.assertIn(self._bannered_original(bill), text)
            self.assertNotIn(self._bannered_original(other), text)

    def test_original_bills_with_a_bill_without_its_original_as_odoo_prints_them(self):
        """Odoo leaves a bill without an original out of a print of several (it refuses it
        alone): printed together, the others still come out."""
        with_original = self._bills_with_originals("Northwind Supplies")
        without = self._bills_with_originals("Summit Rentals")
        without.message_main_attachment_id.unlink()
        pdf, _kind = self.Report._render_qweb_pdf(ORIGINAL_BILLS, (without | with_original).ids)
        text = self._banner_text(pdf, "original-bills-one-missing.pdf")
        self.assertIn(self._bannered_original(with_original), text)

    def test_a_printed_part_stands_in_only_for_its_own_record(self):
        """A record's part of a print together replaces wkhtmltopdf only for that record's
        one document of that report: anything else printed meanwhile is printed."""
        first, second = self.invoices[:2]
        html = self.Report._render_qweb_html(INVOICES, first.ids, data={"report_type": "pdf"})[0]
        bodies = self.env.ref(INVOICES)._prepare_html(html, report_model="account.move")[0]
        alone = self.Report._render_batch_with_printed(INVOICES, first.id, b"%PDF first")
        self.assertEqual(alone._render_batch_printed_pdf(bodies, INVOICES), b"%PDF first")
        another = self.Report._render_batch_with_printed(INVOICES, second.id, b"%PDF second")
        self.assertIsNone(another._render_batch_printed_pdf(bodies, INVOICES), "another record")
        without_payment = "account.account_invoices_without_payment"
        self.assertIsNone(alone._render_batch_printed_pdf(bodies, without_payment), "report")
        self.assertIsNone(alone._render_batch_printed_pdf(bodies * 2, INVOICES), "two bodies")
        self.assertIsNone(self.Report._render_batch_printed_pdf(bodies, INVOICES), "not printed")

    def test_one_record_alone(self):
        invoice = self.invoices[1]
        with wkhtmltopdf_runs(self.env) as runs:
            pdfs = self.Report._render_pdf_each(INVOICES, invoice.ids)
        self.assertEqual(len(runs), 1)
        self.assertEqual(list(pdfs), invoice.ids)
        text, _fonts = self._pdf_text(pdfs[invoice.id], "alone.pdf")
        self._assert_only(text, invoice, "alone")

    def test_no_split_without_every_marker(self):
        """If the PDF does not show where each record starts, nothing is guessed."""
        ids = self.invoices[:2].ids
        pdf, markers = self.Report._render_batch_as_one_document(INVOICES, ids)
        self.assertEqual(len(self.Report._render_batch_split_pdf(pdf, markers)), 2)
        self.assertIsNone(
            self.Report._render_batch_split_pdf(pdf, [*markers, "https://elsewhere/#x"])
        )
        self.assertIsNone(self.Report._render_batch_split_pdf(pdf, markers[::-1]), "out of order")

    def test_a_link_in_a_document_cannot_move_where_the_next_record_starts(self):
        """A document's own HTML (terms staff type on an invoice) may hold links: one to the
        next record's page, where the print cut the PDF before, must not make a record's
        PDF start on the page of another (kept PDFs would keep the wrong pages)."""
        first, second = self.invoices[:2]
        # The second invoice's page, as anyone can write it.
        forged = (
            f"{second.get_base_url()}{second.access_url}#report-record-account.move-{second.id}"
        )
        filler = "".join(f"<p>Term {n} of this agreement.</p>" for n in range(120))
        first.narration = f'{filler}<p><a href="{forged}">Last term of {first.name}</a></p>'
        pdfs = self.Report._render_pdf_each(INVOICES, self.invoices.ids)
        first_text, _fonts = self._pdf_text(pdfs[first.id], "forged-first.pdf")
        second_text, _fonts = self._pdf_text(pdfs[second.id], "forged-second.pdf")
        self.assertIn(f"Last term of {first.name}", first_text)
        self.assertNotIn("Term 119 of this agreement", second_text)
        self._assert_only(second_text, second, second.name)

    def test_a_report_without_one_article_per_record_prints_one_by_one(self):
        """Another addon's report may not mark its records: nothing breaks, nothing mixes."""
        self.env["ir.ui.view"].create(
            {
                "name": "Client list",
                "type": "qweb",
                "key": CLIENT_LIST,
                "arch": f"""<t t-name="{CLIENT_LIST}">
                    <t t-call="web.html_container"><div class="article o_pb_real_text">
                        <p t-foreach="docs" t-as="o">Client: <t t-out="o.name"/></p>
                    </div></t></t>""",
            }
        )
        self.env["ir.actions.report"].create(
            {
                "name": "Client list",
                "model": "res.partner",
                "report_type": "qweb-pdf",
                "report_name": CLIENT_LIST,
            }
        )
        clients = self.invoices[:2].partner_id
        self.assertEqual(
            self.Report._render_batch_as_one_document(CLIENT_LIST, clients.ids), (None, None)
        )
        with wkhtmltopdf_runs(self.env) as runs:
            pdf, _kind = self.Report._render_qweb_pdf(CLIENT_LIST, clients.ids)
        if not wkhtmltopdf_has_patched_qt():
            self.assertEqual(len(runs), 2, "one by one")
        text, _fonts = self._pdf_text(pdf, "client-list.pdf")
        self.assertEqual(text.count("Client: "), 2)
        self.assertLess(text.index(clients[0].name), text.index(clients[1].name))

    # ------------------------------------------------------------------ B. styles
    def _handed_to_wkhtmltopdf(self, report_ref, res_ids):
        """The PDF, and the HTML documents (bodies, header, footer) `base` wrote for
        wkhtmltopdf (measured below every override; the call goes through)."""
        run_wkhtmltopdf = BaseReport._run_wkhtmltopdf
        documents = []

        def measured(report, bodies, **kwargs):
            documents.extend([*bodies, kwargs.get("header") or "", kwargs.get("footer") or ""])
            return run_wkhtmltopdf(report, bodies, **kwargs)

        with patch.object(BaseReport, "_run_wkhtmltopdf", measured):
            pdf, _kind = self.Report._render_qweb_pdf(report_ref, res_ids)
        return pdf, documents

    def test_styles_travel_inside_the_document(self):
        """wkhtmltopdf needs nothing from the server: the report's CSS is in the HTML."""
        html = self.Report._render_qweb_html(INVOICES, self.invoices.ids)[0].decode()
        self.assertIn('href="/web/assets/', html)
        served, documents = self._handed_to_wkhtmltopdf(INVOICES, self.invoices.ids)
        self.assertTrue(documents)
        for document in documents:
            self.assertFalse(ASSET_STYLESHEET.search(document), "a stylesheet link is left")
            self.assertNotIn('href="/web/assets/', document)
        # The addon's own report styles (real-text fonts) are among those inlined.
        self.assertIn('.article[data-oe-model="account.move"]', documents[0])
        # With a report URL nobody answers, the PDF comes out the same, styles and all.
        served_text, _fonts = self._pdf_text(served, "styles-served.pdf")
        self.env["ir.config_parameter"].set_param("report.url", "http://127.0.0.1:9")
        offline = self.Report._render_qweb_pdf(INVOICES, self.invoices.ids)[0]
        offline_text, _fonts = self._pdf_text(offline, "styles-offline.pdf")
        self.assertEqual(offline_text, served_text)
        self._assert_looks_printed(self._rasterize("styles-offline.pdf"))

    def _forget_report_styles(self):
        """As on a new database or after an upgrade: no report style bundle is stored yet."""
        self.env["ir.attachment"].sudo().search(
            [("url", "=like", "/web/assets/%"), ("name", "=like", "web.report_assets%")]
        ).unlink()

    def _print_invoices(self):
        return self.Report._render_qweb_pdf(INVOICES, self.invoices.ids)[0]

    def _styled(self, pdf, name):
        """A styled first page (the report's CSS was inlined)."""
        text, _fonts = self._pdf_text(pdf, name)
        self.assertIn(self.invoices[0].partner_id.name, text)
        self._assert_looks_printed(self._rasterize(name))

    def test_first_print_stores_no_style_bundle_in_the_printing_transaction(self):
        self._forget_report_styles()
        Attachment = type(self.env["ir.attachment"])
        create = Attachment.create
        created = []

        def spy(attachments, vals_list):
            records = create(attachments, vals_list)
            created.extend((records.env.cr, url) for url in records.mapped("url") if url)
            return records

        with patch.object(Attachment, "create", spy):
            pdf = self._print_invoices()
        self._styled(pdf, "first-print.pdf")
        in_printing = [url for cr, url in created if cr is self.env.cr]
        self.assertFalse(in_printing, "the printing transaction wrote a style bundle")
        # Under tests a transaction of its own is a savepoint of the test's: it shows here.
        stored = [url for cr, url in created if cr is not self.env.cr]
        self.assertTrue(stored, "the bundle is stored, by a transaction of its own")

    def test_print_survives_a_concurrent_build_of_the_style_bundle(self):
        """Another request building the same bundle makes the build fail with a
        serialization failure: the build is retried, the print never fails for it."""
        self._forget_report_styles()
        css = AssetsBundle.css
        clashes = []

        def clash_once(bundle):
            if not clashes:
                clashes.append(bundle.name)
                raise SerializationFailure("could not serialize access due to concurrent update")
            return css(bundle)

        with patch.object(AssetsBundle, "css", clash_once):
            pdf = self._print_invoices()
        self.assertTrue(clashes)
        self._styled(pdf, "concurrent-build.pdf")

    def test_styles_when_no_transaction_can_store_them(self):
        """Compiled for this print only; if they do not compile, the <link> stays."""
        self._forget_report_styles()
        unavailable = OperationalError("connection pool exhausted")
        with patch.object(AssetsBundle, "css", side_effect=unavailable):
            pdf = self._print_invoices()
            self._styled(pdf, "compiled-here.pdf")
            html = self.Report._render_qweb_html(INVOICES, self.invoices.ids)[0]
            with patch.object(AssetsBundle, "preprocess_css", side_effect=unavailable):
                inlined = self.Report._inline_report_stylesheets(html.decode())
        self.assertFalse(
            self.env["ir.attachment"].search([("name", "=like", "web.report_assets%")])
        )
        self.assertTrue(ASSET_STYLESHEET.search(inlined), "the <link> stays as it was")

    # ------------------------------------------------------------------ C. invoice header
    def _billing_invoice(self):
        """An invoice of the billing run: the kind whose body may repeat the practice."""
        client = self._client_with_sessions("Jane Doe", "jane@example.com", "manual")
        self.env["practice.billing.run"]._run_due_period(self.company, datetime.now())
        invoice = self._invoices_of(client)
        self.assertEqual(len(invoice), 1)
        self.assertTrue(invoice.billing_run_id)
        return invoice

    def _invoices_of(self, client):
        return self.env["account.move"].search(
            [("partner_id", "=", client.id), ("move_type", "=", "out_invoice")]
        )

    def _pdf_html(self, invoice, patched_qt):
        """The HTML a PDF of ``invoice`` is made from, with or without patched Qt."""
        probe = patch.object(
            ir_actions_report_batch, "wkhtmltopdf_has_patched_qt", return_value=patched_qt
        )
        with probe:
            return self.Report._render_qweb_html(
                INVOICES, invoice.ids, data={"report_type": "pdf"}
            )[0].decode()

    def test_practice_block_only_where_the_header_is_lost(self):
        invoice = self._billing_invoice()
        lost = self._pdf_html(invoice, patched_qt=False)
        self.assertTrue("o_pb_practice" in lost, "a PDF without its header has the block")
        printed = self._pdf_html(invoice, patched_qt=True)
        self.assertFalse("o_pb_practice" in printed, "a PDF with its header has no block")
        # The portal's invoice page (HTML, with the layout's header): the address once.
        page = self.url_open(invoice.get_portal_url(report_type="html"))
        self.assertEqual(page.status_code, 200)
        self.assertTrue(invoice.name in page.text, "the invoice page")
        self.assertFalse("o_pb_practice" in page.text, "the HTML page has no block")
        self.assertEqual(page.text.count(PRACTICE_STREET), 1, "the practice's address once")

    def test_practice_address_once_in_the_pdf_of_this_wkhtmltopdf(self):
        if wkhtmltopdf_has_patched_qt():
            self.skipTest("this wkhtmltopdf prints the header: the body has no practice block")
        invoice = self._billing_invoice()
        pdf = self.Report._render_qweb_pdf(INVOICES, invoice.ids)[0]
        text, _fonts = self._pdf_text(pdf, "invoice-practice.pdf")
        self.assertIn("Riverside Therapy", text)
        self.assertEqual(text.count(PRACTICE_STREET), 1, "the practice's address once")
