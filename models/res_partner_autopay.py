from odoo import fields, models

STAFF = "base.group_user"


class ResPartner(models.Model):
    """AutoPay (#13): a client's saved card pays their posted invoices, with consent."""

    _inherit = "res.partner"

    billing_autopay = fields.Boolean(
        string="AutoPay",
        copy=False,
        help="Enrolled: posted invoices are charged to the saved card once the notice has run "
        "out. Only with a recorded consent.",
        groups=STAFF,
    )
    billing_autopay_token_id = fields.Many2one(
        "payment.token",
        string="AutoPay Card",
        copy=False,
        domain="[('partner_id', '=', id)]",
        help="The saved card AutoPay charges.",
        groups=STAFF,
    )
    billing_autopay_limit = fields.Monetary(
        string="AutoPay Limit",
        currency_field="billing_autopay_currency_id",
        copy=False,
        help="The most one charge may take; 0 means no limit. Invoices above it are not "
        "charged, and the client and staff are told why.",
        groups=STAFF,
    )
    billing_autopay_currency_id = fields.Many2one(
        "res.currency", compute="_compute_billing_autopay_currency_id", groups=STAFF
    )
    billing_autopay_hsa = fields.Boolean(
        string="HSA/FSA Card",
        copy=False,
        help="The card is a health savings or flexible spending card: it is never charged for "
        "late cancellation or no-show fees.",
        groups=STAFF,
    )
    billing_autopay_paused = fields.Boolean(
        string="AutoPay Paused",
        copy=False,
        help="Nothing is charged while paused (by staff, or after repeated declines).",
        groups=STAFF,
    )
    billing_autopay_pause_reason = fields.Char(string="Pause Reason", copy=False, groups=STAFF)
    billing_autopay_consent_id = fields.Many2one(
        "practice.autopay.consent",
        string="AutoPay Consent",
        copy=False,
        help="The authorization in force.",
        groups=STAFF,
    )
    billing_autopay_consent_ids = fields.One2many(
        "practice.autopay.consent", "partner_id", string="AutoPay Consents", groups=STAFF
    )

    def _compute_billing_autopay_currency_id(self):
        for partner in self:
            partner.billing_autopay_currency_id = (
                partner.company_id.currency_id or self.env.company.currency_id
            )
