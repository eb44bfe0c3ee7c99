from odoo import api, fields, models

# A CMS-1500 service line points at no more than four diagnoses.
MAX_POINTERS = 4


class PracticeSuperbillLine(models.Model):
    """One attended, billed session on a superbill, as the insurer reads it."""

    _name = "practice.superbill.line"
    _description = "Superbill Service Line"
    _order = "superbill_id, date, id"

    superbill_id = fields.Many2one(
        "practice.superbill", required=True, ondelete="cascade", index=True
    )
    currency_id = fields.Many2one(related="superbill_id.currency_id")
    session_id = fields.Many2one("calendar.event", required=True, index=True)
    # Copied from the session when the line is made: an issued superbill does not move.
    date = fields.Date(string="Date of Service", compute="_compute_from_session", store=True)
    service_name = fields.Char(string="Service", compute="_compute_from_session", store=True)
    pos_code = fields.Char(string="POS", compute="_compute_from_session", store=True)
    cpt_code = fields.Char(string="CPT", compute="_compute_from_session", store=True)
    modifiers = fields.Char(compute="_compute_from_session", store=True)
    units = fields.Integer(default=1)
    charge = fields.Monetary(compute="_compute_from_session", store=True)
    amount_paid = fields.Monetary(string="Paid", compute="_compute_from_session", store=True)
    diagnosis_ids = fields.Many2many(
        "practice.client.diagnosis",
        compute="_compute_from_session",
        store=True,
        groups="practice_billing.group_billing_manager",
    )
    diagnosis_pointers = fields.Char(compute="_compute_pointers")

    @api.depends("session_id")
    def _compute_from_session(self):
        for line in self:
            session = line.session_id.sudo()
            company = session.billing_company_id
            invoice_line = session.billing_invoice_line_id
            line.date = company._billing_local_date(session.start)
            line.service_name = session.billing_product_id.name
            line.pos_code = session.billing_pos_code
            line.cpt_code = session.billing_product_id.billing_cpt_code
            line.modifiers = session.billing_cpt_modifiers
            line.charge = invoice_line.price_total
            line.amount_paid = line._paid_share(invoice_line)
            diagnoses = session.billing_client_id._billing_diagnoses_on(line.date)
            line.sudo().diagnosis_ids = diagnoses[:MAX_POINTERS]

    @staticmethod
    def _paid_share(invoice_line):
        """What the client has paid of this line: its share of what the invoice received."""
        invoice = invoice_line.move_id
        if not invoice.amount_total:
            return 0.0
        paid_ratio = 1 - invoice.amount_residual / invoice.amount_total
        return invoice.currency_id.round(invoice_line.price_total * paid_ratio)

    @api.depends("superbill_id.line_ids", "session_id")
    def _compute_pointers(self):
        for superbill in self.superbill_id:
            letters = {diag: letter for letter, diag in superbill._diagnoses().items()}
            for line in self.filtered(lambda ln, sb=superbill: ln.superbill_id == sb):
                line.diagnosis_pointers = "".join(
                    letters[d] for d in line.sudo().diagnosis_ids if d in letters
                )
