from odoo import api, fields, models

BILLING_MANAGER = "practice_billing.group_billing_manager"


class PracticeAutopayEnroll(models.TransientModel):
    """Enroll with signed form: staff record a client's signed AutoPay authorization for one
    of the client's saved cards (billing managers)."""

    _name = "practice.autopay.enroll"
    _description = "Enroll in AutoPay"

    partner_id = fields.Many2one("res.partner", string="Client", required=True, readonly=True)
    available_token_ids = fields.Many2many(
        "payment.token", compute="_compute_available_token_ids", string="Saved Cards"
    )
    token_id = fields.Many2one(
        "payment.token",
        string="Card",
        required=True,
        domain="[('id', 'in', available_token_ids)]",
        help="A card the client saved (paying an invoice online, or in their portal).",
    )
    signed_form = fields.Binary(required=True, help="The authorization the client signed.")
    signed_form_name = fields.Char(string="File Name")
    currency_id = fields.Many2one(related="partner_id.billing_autopay_currency_id")
    limit = fields.Monetary(
        string="Limit per Charge", help="The most one charge may take; 0 means no limit."
    )
    hsa = fields.Boolean(
        string="HSA/FSA Card", help="Never charged for late cancellation or no-show fees."
    )
    terms_version = fields.Integer(
        string="Authorization Version", compute="_compute_terms", help="The version recorded."
    )
    terms = fields.Html(string="Authorization Text", compute="_compute_terms")

    @api.depends("partner_id")
    def _compute_available_token_ids(self):
        for wizard in self:
            wizard.available_token_ids = (
                wizard.partner_id._billing_autopay_cards() if wizard.partner_id else False
            )

    @api.depends("partner_id")
    def _compute_terms(self):
        for wizard in self:
            practice = wizard.partner_id._billing_autopay_practice() if wizard.partner_id else None
            wizard.terms_version = practice.billing_autopay_terms_version if practice else 0
            wizard.terms = practice._billing_autopay_terms() if practice else False

    def action_enroll(self):
        """Record the staff consent with the signed form and enroll the client."""
        self.ensure_one()
        self.partner_id._billing_autopay_check_role(
            BILLING_MANAGER, self.env._("enroll clients in")
        )
        self.partner_id._billing_autopay_enroll(
            self.token_id,
            "staff",
            limit=self.limit,
            hsa=self.hsa,
            signed_form=self.signed_form
            and (self.signed_form_name or self.env._("Signed form"), self.signed_form),
        )
        return {"type": "ir.actions.act_window_close"}
