from odoo import fields, models


class PracticeAutopayConsent(models.Model):
    """A client's authorization to charge a saved card: who, when, which text, which card.

    Kept forever: ending AutoPay records when and by whom, and never deletes the consent or
    the payments made under it.
    """

    _name = "practice.autopay.consent"
    _description = "AutoPay Consent"
    _order = "accepted_on desc, id desc"

    partner_id = fields.Many2one(
        "res.partner", string="Client", required=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    token_id = fields.Many2one("payment.token", string="Card", ondelete="restrict")
    terms_version = fields.Integer(string="Authorization Version", required=True)
    terms = fields.Html(string="Authorization Text", sanitize=True, readonly=True)
    accepted_on = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)
    accepted_by_id = fields.Many2one(
        "res.users", string="Recorded By", default=lambda self: self.env.user, readonly=True
    )
    source = fields.Selection(
        [("portal", "Client portal"), ("staff", "Staff, with a signed form")],
        required=True,
    )
    attachment_id = fields.Many2one(
        "ir.attachment", string="Signed Form", help="The signed authorization staff received."
    )
    ended_on = fields.Datetime(readonly=True)
    ended_by_id = fields.Many2one("res.users", string="Ended By", readonly=True)
    active = fields.Boolean(default=True)
