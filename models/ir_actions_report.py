"""Billing's privacy rule for every report: only records the requesting user may read.

The report rendering pieces (ir_actions_report_batch, ir_actions_report_styles) are loaded
before this file (see models/__init__.py), so these overrides are the outermost: the access
check runs before any of them reads a record or reuses a kept PDF.
"""

from odoo import api, models


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    def _billing_check_access(self, report_ref, res_ids):
        """Raise AccessError unless the requesting user may read every record to print, for
        the reports this rule guards (see _billing_guards_report), and may print it (the
        practice's documents: _billing_check_printable).

        Checked in the caller's environment before anything of the records is read or
        reused: a value read under sudo() stays in the ORM cache, and Odoo then serves it to
        the user without any check. A caller that is superuser (crons, the billing run, the
        portal's _show_report after its own check) passes.
        """
        if not res_ids:
            return
        report = self._get_report(report_ref)
        if not self._billing_guards_report(report):
            return
        ids = [res_ids] if isinstance(res_ids, int) else list(res_ids)
        records = self.env[report.model].browse(ids)
        records.check_access("read")
        if isinstance(records, self.pool["practice.client.document"]):
            records._billing_check_printable()

    @api.model
    def _billing_guards_report(self, report):
        """Whether printing ``report`` needs read access to every record: the practice's
        documents and invoices (health and billing information, read partly under sudo), and
        any report that keeps its PDFs (Odoo serves a kept PDF without reading the record).
        Other reports are left to Odoo, whose templates read records as the requesting user
        (a report may legitimately print what the user cannot open)."""
        billing_models = {"account.move"} | {
            name for name in self.env if name.startswith("practice.")
        }
        return report.model in billing_models or bool(report.attachment_use)

    @api.model
    def _render_qweb_html(self, report_ref, docids, data=None):
        """Override of `base`: only records the requesting user may read (/report/html)."""
        self._billing_check_access(report_ref, docids)
        return super()._render_qweb_html(report_ref, docids, data=data)

    @api.model
    def _render_qweb_text(self, report_ref, docids, data=None):
        """Override of `base`: only records the requesting user may read (/report/text)."""
        self._billing_check_access(report_ref, docids)
        return super()._render_qweb_text(report_ref, docids, data=data)

    def _render_qweb_pdf_prepare_streams(self, report_ref, data, res_ids=None):
        """Override of `base` (private): only records the requesting user may read.

        Every PDF path (/report/pdf, /report/download, Print, _render_pdf_each) comes here:
        the requesting user's access is checked first, before any kept PDF is looked up or
        anything is rendered.
        """
        self._billing_check_access(report_ref, res_ids)
        return super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=res_ids)
