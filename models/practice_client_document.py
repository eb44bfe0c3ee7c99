import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


class PracticeClientDocument(models.AbstractModel):
    """A document the practice issues to one client besides the invoice: the shape superbills
    and statements share.

    It gives a client, a practice and its currency, a number from the practice's own
    sequence, printing, delivery by the client's method (practice.billing.delivery.mixin),
    the chatter and a page in the client portal. A document model sets:

    - ``_billing_report``: XML id of the report that prints it;
    - ``_billing_portal_path``: its portal pages ("/my/superbills"; /<id> is the document);
    - ``_billing_number_prefix``: the start of its numbers ("SB" makes SB/2026/00001);
    - ``_billing_email_template()`` / ``_billing_portal_template()``: its emails;

    and may override ``_billing_sessions()`` (the sessions it documents) and
    ``_billing_documents_of_sessions()`` (the reverse, for Billing Documents' clinician filter).
    """

    _name = "practice.client.document"
    _description = "Client Billing Document"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "portal.mixin",
        "practice.billing.delivery.mixin",
    ]
    _billing_portal_path = None
    _billing_number_prefix = None

    name = fields.Char(string="Number", readonly=True, copy=False, index="trigram")
    partner_id = fields.Many2one(
        "res.partner", string="Client", required=True, index=True, tracking=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(related="company_id.currency_id")

    @api.model_create_multi
    def create(self, vals_list):
        """Each document gets the next number of its practice's sequence."""
        for vals in vals_list:
            if not vals.get("name"):
                company = self.env["res.company"].browse(vals.get("company_id")) or self.env.company
                vals["name"] = self._billing_next_number(company)
        return super().create(vals_list)

    @api.depends("name", "partner_id")
    def _compute_display_name(self):
        # Staff's to-dos and the chatter name the client, not only a number.
        for document in self:
            document.display_name = " · ".join(
                part for part in (document.name, document.partner_id.name) if part
            )

    # ------------------------------------------------------------------ numbering
    @api.model
    def _billing_next_number(self, company):
        return self._billing_sequence(company).next_by_id()

    @api.model
    def _billing_sequence(self, company):
        """The practice's sequence of this kind of document, made on its first use (a
        practice added later numbers from 1, apart from the others)."""
        Sequence = self.env["ir.sequence"].sudo()
        # Two first documents of a practice at once (the run and a portal request) make one
        # sequence, not two that both start at 1: the second waits for the first's commit.
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{self._name}/{company.id}"]
        )
        sequence = Sequence.search(
            [("code", "=", self._name), ("company_id", "=", company.id)], order="id", limit=1
        )
        return sequence or Sequence.create(
            {
                "name": f"{self._description} ({company.name})",
                "code": self._name,
                "company_id": company.id,
                "prefix": f"{self._billing_number_prefix}/%(range_year)s/",
                "padding": 5,
                "use_date_range": True,
            }
        )

    # ------------------------------------------------------------------ printing
    def _get_report_base_filename(self):
        """Override of `portal`: the file name of the PDF (downloads, attachments, exports)."""
        self.ensure_one()
        client = "".join(ch if ch.isalnum() else "-" for ch in self.partner_id.name or "")
        number = (self.name or str(self.id)).replace("/", "-")
        return f"{self._description}-{number}-{client}".strip("-")

    def action_print(self):
        return self.env.ref(self._billing_report).report_action(self)

    def _freeze_pdfs(self):
        """Print these issued documents now, together (one wkhtmltopdf process): their
        report keeps each PDF (attachment_use), so what the client, the insurer and staff
        get is fixed at issue, and a portal download or an export serves it without
        printing again.

        Printing never blocks issuing: if it fails, each PDF is kept at its first print."""
        if not self:
            return
        try:
            with self.env.cr.savepoint():
                # A document already printed keeps its PDF: the report reuses it.
                self.env["ir.actions.report"]._render_pdf_each(self._billing_report, self.ids)
        except Exception as error:  # printing never blocks issuing
            _logger.warning("%s %s issued but not printed yet: %s", self._name, self.ids, error)

    def _billing_check_printable(self):
        """Raise AccessError if the requesting user, who may read these documents, may not
        print them (called by every report path after the read check, see
        ir_actions_report._billing_check_access). Every readable document prints by
        default; a kind of document may refuse some (superbills: a client's request)."""

    # ------------------------------------------------------------------ portal
    def _compute_access_url(self):
        """Override of `portal`: the document's page in the client portal."""
        for document in self:
            document.access_url = f"{self._billing_portal_path}/{document.id}"

    # ------------------------------------------------------------------ sessions
    def _billing_sessions(self):
        """The sessions this document bills or documents (none for a statement)."""
        return self.env["calendar.event"]

    @api.model
    def _billing_documents_of_sessions(self, sessions):
        """The documents of this kind that bill or document ``sessions``."""
        return self.browse()
