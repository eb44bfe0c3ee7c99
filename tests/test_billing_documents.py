import io
import zipfile
from datetime import date, datetime, timedelta

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import PracticeHttpCase
from .pdf import kept_pdf, wkhtmltopdf_runs


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

    def _exported(self, action):
        """The file a download action points at (/web/content/<id>?download=true)."""
        attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
        return self.env["ir.attachment"].browse(attachment_id)

    def test_export_files_are_cleaned_up_after_a_day(self):
        documents = self.Document.search([*self.mine, ("document_type", "=", "statement")])
        old = self._exported(documents.action_download_zip())
        new = self._exported(documents.action_download_zip())
        self.assertTrue(old.raw.startswith(b"PK"))
        self.env.cr.execute(
            "UPDATE ir_attachment SET create_date = now() - interval '2 days' WHERE id = %s",
            [old.id],
        )
        old.invalidate_recordset()
        self.Document._gc_exports()
        self.assertFalse(old.exists())
        self.assertTrue(new.exists())

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

    def test_issued_superbill_pdf_frozen_at_issue_and_exported_as_is(self):
        superbill_doc = self.Document.search([*self.mine, ("document_type", "=", "superbill")])
        superbill = self.env["practice.superbill"].browse(superbill_doc.res_id)
        frozen = kept_pdf(superbill)
        self.assertTrue(frozen, "printed when issued, though delivered by hand")
        self.jane.billing_insurance_member_id = "CHANGED-AFTER-ISSUE"
        [(_doc, exported)] = superbill_doc._render_pdfs()
        self.assertEqual(exported, frozen.raw, "what staff export is what was issued")

    def test_statement_pdf_kept_at_issue_and_exported_as_is(self):
        statement_doc = self._document(self.jane, "statement")
        statement = self.env["practice.statement"].browse(statement_doc.res_id)
        kept = kept_pdf(statement)
        self.assertTrue(kept, "printed when issued, though delivered by hand")
        with wkhtmltopdf_runs(self.env) as processes:
            [(_doc, exported)] = statement_doc._render_pdfs()
        self.assertEqual(exported, kept.raw, "what staff export is what was issued")
        self.assertFalse(processes, "nothing printed again")

    def test_one_wkhtmltopdf_per_kind_split_per_document(self):
        documents = self.Document.search(
            [*self.mine, ("document_type", "in", ("invoice", "statement"))]
        )
        # Statements issued before they kept their PDF (or not printed at issue) print now.
        for document in documents.filtered(lambda d: d.document_type == "statement"):
            kept_pdf(self.env["practice.statement"].browse(document.res_id)).unlink()
        with wkhtmltopdf_runs(self.env) as processes:
            rendered = documents._render_pdfs()
        self.assertEqual(len(processes), 2, f"one per kind, not one per document: {processes}")
        invoices = documents.filtered(lambda d: d.document_type == "invoice")
        for document, pdf in rendered:
            text, _fonts = self._pdf_text(pdf, f"split-{document.id}.pdf")
            other = self.marcus if document.partner_id == self.jane else self.jane
            self.assertIn(document.partner_id.name, text)
            self.assertNotIn(other.name, text, f"{document.name} holds another document")
            if document.document_type == "invoice":
                self.assertIn(document.name, text)
                self.assertNotIn((invoices - document).name, text)

    def test_sent_invoice_pdf_is_reused(self):
        invoice_doc = self._document(self.jane, "invoice")
        invoice = self.env["account.move"].browse(invoice_doc.res_id)
        sent = self.env["ir.attachment"].create(
            {
                "name": f"{invoice.name}.pdf",
                "raw": b"%PDF-1.4 as sent",
                "res_model": "account.move",
                "res_id": invoice.id,
                "res_field": "invoice_pdf_report_file",
            }
        )
        invoice.invalidate_recordset(["invoice_pdf_report_id"])
        self.assertEqual(invoice.invoice_pdf_report_id, sent)
        [(_doc, pdf)] = invoice_doc._render_pdfs()
        self.assertEqual(pdf, b"%PDF-1.4 as sent")

    def test_mark_delivered_and_send(self):
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        documents.action_mark_delivered()
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        self.assertEqual(set(documents.mapped("delivery_state")), {"sent"})
        self.marcus.billing_delivery_method = "manual"
        documents.action_send()
        documents = self.Document.search([*self.mine, ("partner_id", "=", self.marcus.id)])
        self.assertEqual(set(documents.mapped("delivery_state")), {"manual"})

    def _document(self, client, kind):
        return self.Document.search(
            [*self.mine, ("partner_id", "=", client.id), ("document_type", "=", kind)]
        )

    def test_dashboard_adds_up_what_its_filters_show(self):
        jane_invoice = self.env["account.move"].browse(self._document(self.jane, "invoice").res_id)
        jane_invoice.invoice_date_due = date.today() - timedelta(days=40)
        self._add_sessions(self.marcus, weeks=(14,))  # entered after the run: not billed yet
        figures = self.Document.retrieve_dashboard()
        self.assertEqual(figures["currency_id"], self.company.currency_id.id)
        self.assertEqual((figures["uninvoiced"], figures["uninvoiced_count"]), (150.0, 1))
        self.assertEqual(
            (figures["invoiced_this_month"], figures["invoiced_this_month_count"]), (600.0, 2)
        )
        self.assertEqual((figures["past_due"], figures["past_due_count"]), (300.0, 1))
        past_due = self.Document.search([*self.mine, ("is_past_due", "=", True)])
        self.assertEqual(past_due.res_id, jane_invoice.id)
        # Two invoices, two statements and Jane's superbill wait for staff to deliver them.
        self.assertEqual(figures["not_delivered_count"], 5)
        self._document(self.marcus, "invoice").action_mark_delivered()
        self.assertEqual(self.Document.retrieve_dashboard()["not_delivered_count"], 4)

    def test_invoiced_this_month_nets_credit_notes(self):
        invoice = self.env["account.move"].browse(self._document(self.marcus, "invoice").res_id)
        reversal = invoice._reverse_moves([{"invoice_date": invoice.invoice_date}])
        reversal.invoice_line_ids = [Command.delete(reversal.invoice_line_ids[0].id)]  # one
        reversal.action_post()
        figures = self.Document.retrieve_dashboard()
        self.assertEqual(
            (figures["invoiced_this_month"], figures["invoiced_this_month_count"]), (450.0, 3)
        )

    def test_staff_of_another_practice_see_none_of_these(self):
        other = self.env["res.company"].create({"name": "Lakeside Counseling"})
        lakeside, riverside = (
            self.Document.with_user(
                new_test_user(
                    self.env,
                    login=login,
                    groups="practice_billing.group_billing_manager",
                    company_id=company.id,
                    company_ids=[Command.set(company.ids)],
                )
            ).with_context(allowed_company_ids=company.ids)
            for login, company in (("lakeside", other), ("riverside", self.company))
        )
        self.assertFalse(lakeside.search([]))
        figures = lakeside.retrieve_dashboard()
        self.assertEqual(figures["invoiced_this_month"], 0.0)
        self.assertEqual(figures["not_delivered_count"], 0)
        self.assertEqual(len(riverside.search([])), 5)


@tagged("-at_install", "post_install")
class TestBillingFigures(PracticeHttpCase):
    """The graph and pivot views of Billing Documents: invoiced per month, paid or not, what
    each client owes by age. Figures are read with read_group, under the same rules as the
    list."""

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
        self.jane_invoice, self.marcus_invoice = (
            self.env["account.move"].search(
                [("partner_id", "=", client.id), ("move_type", "=", "out_invoice")]
            )
            for client in (self.jane, self.marcus)
        )
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.marcus_invoice.ids
        ).create({"amount": 100.0})._create_payments()

    def _figures(self, groupby, measures, Document=None):
        """{group values: measure values} of read_group on Billing Documents, as
        ``Document``'s user (default: the test's)."""
        Document = self.Document if Document is None else Document
        groups = Document.read_group(self.mine, measures, groupby, lazy=False)
        return {
            tuple(group[field] for field in groupby): tuple(
                group[measure.split(":")[0]] for measure in measures
            )
            for group in groups
        }

    def test_invoiced_per_month_paid_or_not(self):
        measures = ["amount_invoiced:sum", "amount_paid:sum", "amount_due:sum"]
        month = self.jane_invoice.invoice_date.strftime("%B %Y")
        by_month = self._figures(["date:month"], measures)
        self.assertEqual(by_month.pop((month,)), (600.0, 100.0, 500.0))
        # Last month holds the superbill of its sessions: nothing invoiced, paid or due.
        self.assertEqual(set(by_month.values()), {(0.0, 0.0, 0.0)})
        by_status = self._figures(["payment_status"], ["amount_invoiced:sum"])
        self.assertEqual(
            by_status,
            {("unpaid",): (300.0,), ("partial",): (300.0,), (False,): (0.0,)},
            "statements and the superbill add nothing to what was invoiced",
        )
        everything = self._figures([], ["amount:sum"])[()][0]
        self.assertGreater(everything, 600.0, "the list's own amount column counts them all")

    def test_what_each_client_owes_by_age(self):
        self.jane_invoice.invoice_date_due = date.today() - timedelta(days=40)
        figures = self._figures(["partner_id", "aging_bucket"], ["amount_due:sum"])
        owed = {
            (partner[1], bucket): amount
            for (partner, bucket), (amount,) in figures.items()
            if amount
        }
        self.assertEqual(owed, {("Jane Doe", "31_60"): 300.0, ("Marcus Webb", "current"): 200.0})

    def test_aging_buckets_are_the_statements(self):
        expected = {0: "current", 1: "1_30", 30: "1_30", 31: "31_60", 60: "31_60", 61: "61_90"}
        expected |= {90: "61_90", 91: "90_plus", 400: "90_plus"}
        document = self._document(self.jane_invoice)
        for days, bucket in expected.items():
            self.jane_invoice.invoice_date_due = date.today() - timedelta(days=days)
            self.jane_invoice.flush_recordset()
            document.invalidate_recordset()
            self.assertEqual(document.aging_bucket, bucket, f"{days} days past due")
        self.assertEqual(self._document(self.marcus_invoice).payment_status, "partial")
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.jane_invoice.ids
        ).create({})._create_payments()
        document.invalidate_recordset()
        self.assertEqual(document.aging_bucket, "nothing_due")
        self.assertEqual((document.payment_status, document.amount_due), ("paid", 0.0))

    def _document(self, move):
        return self.Document.search([("res_model", "=", "account.move"), ("res_id", "=", move.id)])

    def test_figures_follow_the_list_rules(self):
        def staff(login, groups, company):
            user = new_test_user(
                self.env,
                login=login,
                groups=groups,
                company_id=company.id,
                company_ids=[Command.set(company.ids)],
            )
            return self.Document.with_user(user).with_context(allowed_company_ids=company.ids)

        employee = staff("clinician_only", "base.group_user", self.company)
        with self.assertRaises(AccessError):
            employee.read_group([], ["amount_due:sum"], ["partner_id"])
        portal = staff("portal_client", "base.group_portal", self.company)
        with self.assertRaises(AccessError):
            portal.read_group([], ["amount_due:sum"], ["partner_id"])

        lakeside = self.env["res.company"].create({"name": "Lakeside Counseling"})
        other = staff("lakeside", "practice_billing.group_billing_manager", lakeside)
        self.assertFalse(other.read_group([], ["amount:sum"], ["partner_id"]))
        self.assertFalse(other.read_group(self.mine, ["amount:sum"], ["partner_id"]))

        front_desk = staff("front_desk", "practice_billing.group_billing_user", self.company)
        manager = staff("manager", "practice_billing.group_billing_manager", self.company)
        kinds = self._figures(["document_type"], ["amount:sum"], front_desk)
        self.assertEqual(set(kinds), {("invoice",), ("statement",)}, "no superbills")
        self.assertIn(("superbill",), self._figures(["document_type"], ["amount:sum"], manager))
        self.assertEqual(
            self._figures(["partner_id"], ["amount_due:sum"], front_desk),
            self._figures(["partner_id"], ["amount_due:sum"], manager),
        )

    def test_graph_and_pivot_views_open(self):
        action = self.env.ref("practice_billing.action_billing_documents")
        self.assertEqual(action.view_mode, "list,graph,pivot")
        views = self.Document.get_views([(False, "graph"), (False, "pivot")])["views"]
        self.assertIn('field name="amount_invoiced"', views["graph"]["arch"])
        self.assertIn('field name="aging_bucket"', views["pivot"]["arch"])

    def test_analysis_charts_invoices_only(self):
        analysis = self.env.ref("practice_billing.action_billing_analysis")
        self.assertEqual(analysis.view_mode, "graph,pivot,list")
        domain = [*self.mine, *safe_eval(analysis.domain)]
        groups = self.Document.read_group(domain, ["amount:sum"], ["document_type", "date:month"])
        self.assertEqual([group["document_type"] for group in groups], ["invoice"])
        self.assertEqual(groups[0]["amount"], 600.0)
        by_age = self.Document.read_group(domain, ["amount_due:sum"], ["aging_bucket"])
        self.assertEqual(
            {group["aging_bucket"]: group["amount_due"] for group in by_age},
            {"current": 500.0},
        )


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
        self._admin_works_here()
        exports_before = self._exports()
        self.start_tour(
            "/odoo/action-practice_billing.action_billing_documents",
            "practice_billing_documents_tour",
            login="admin",
        )
        # The click made one PDF with both superbills, nothing else.
        export = self._exports() - exports_before
        self.assertEqual(len(export), 1)
        self.assertEqual(export.create_uid, self.env.ref("base.user_admin"))
        text, _fonts = self._pdf_text(export.raw, "tour-export.pdf")
        self.assertEqual(text.count("Submit this document to your insurance company"), 2)
        self.assertIn("Jane Doe", text)
        self.assertIn("Marcus Webb", text)
        self.assertNotIn("INV/", text)

    def _exports(self):
        return self.env["ir.attachment"].search(
            [
                ("res_model", "=", "practice.billing.document"),
                ("name", "=", "billing-documents.pdf"),
            ]
        )
