import base64
import re

from odoo import api, fields, models
from odoo.tools import format_date

# A line's label as the billing run writes it for a session: "2026-11-02 — Psychotherapy".
ISO_DATED_LABEL = re.compile(r"(?P<day>\d{4}-\d{2}-\d{2}) — (?P<label>.*)", re.DOTALL)


class ReportAccountReportInvoice(models.AbstractModel):
    """Override of `account`'s invoice report values (the PDF, the portal's invoice page and
    the invoice with payments, which inherits it): what the practice's invoice prints about
    each session it bills and how to pay it online. Read by
    reports/report_invoice.xml."""

    _inherit = "report.account.report_invoice"

    @api.model
    def _get_report_values(self, docids, data=None):
        """Override of `account`: also ``billing_line_details`` (see _billing_line_details)
        and ``billing_pay_online`` ({invoice id: {"url", "qr"}}, only for invoices the client
        can pay online now)."""
        values = super()._get_report_values(docids, data=data)
        invoices = values["docs"]
        values["billing_line_details"] = self._billing_line_details(invoices)
        values["billing_pay_online"] = {
            invoice.id: pay for invoice in invoices if (pay := self._billing_pay_online(invoice))
        }
        return values

    @api.model
    def _billing_line_details(self, invoices):
        """{invoice line id: {"day", "label", "cpt", "modifiers", "clinician"}} for the lines
        of a session, dated: the date (a date, which the template formats as the rest of the
        document) and the line's label without the date it starts with (the billing run
        writes it there in ISO format); for a line that bills a session, its CPT code,
        modifiers and clinician with credentials too. A line copied from a session's line
        (a credit note's) is dated the same way, from its label.

        Read under sudo: the invoice was checked for the requesting user before printing
        (models/ir_actions_report.py), and its client, a portal user, reads no sessions.
        """
        details = {}
        lines = invoices.sudo().invoice_line_ids
        for line in lines.filtered(lambda move_line: move_line.display_type == "product"):
            if line.billing_session_id:
                details[line.id] = self._billing_session_line_details(line)
            elif dated := ISO_DATED_LABEL.match(line.name or ""):
                details[line.id] = {
                    "day": fields.Date.to_date(dated["day"]),
                    "label": dated["label"],
                    "cpt": "",
                    "modifiers": "",
                    "clinician": "",
                }
        return details

    @api.model
    def _billing_session_line_details(self, line):
        """The details of ``line``, which bills a session (see _billing_line_details)."""
        session = line.billing_session_id
        company = session.billing_company_id or line.company_id
        day = company._billing_local_date(session.start)
        clinician = session.user_id
        return {
            "day": day,
            "label": self._billing_label_without_day(line, day),
            "cpt": session.billing_product_id.billing_cpt_code or "",
            "modifiers": session.billing_cpt_modifiers or "",
            "clinician": ", ".join(
                part for part in (clinician.name, clinician.billing_credentials) if part
            ),
        }

    @api.model
    def _billing_label_without_day(self, line, day):
        """The line's label without the session's date it starts with ("2026-11-02 — ",
        as the billing run writes it, or in the client's date format); a label staff rewrote
        without it stays whole."""
        label = line.name or line.product_id.name or ""
        lang = line.move_id.partner_id.lang
        for written in (str(day), format_date(line.env, day, lang_code=lang)):
            if label.startswith(f"{written} — "):
                return label[len(f"{written} — ") :]
        return label

    @api.model
    def _billing_pay_online(self, invoice):
        """{"url", "qr"} of the page where the client pays ``invoice`` online (Odoo's portal
        page of the invoice, with its access token, and a QR code of it), or None when it
        cannot be paid online now: not due, paid, a payment pending, or no payment provider
        of the practice is available to this client in this currency."""
        invoice_sudo = invoice.sudo()
        if not invoice_sudo._has_to_be_paid():
            return None
        providers = (
            self.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                invoice_sudo.company_id.id,
                invoice_sudo.partner_id.id,
                invoice_sudo.amount_residual,
                currency_id=invoice_sudo.currency_id.id,
            )
        )
        # The client pays, not the staff member printing: providers they do not see (not
        # published) do not count.
        if not providers.filtered("is_published"):
            return None
        url = invoice_sudo.get_base_url() + invoice_sudo.get_portal_url()
        qr = self.env["ir.actions.report"].barcode("QR", url, width=120, height=120)
        return {"url": url, "qr": f"data:image/png;base64,{base64.b64encode(qr).decode()}"}
