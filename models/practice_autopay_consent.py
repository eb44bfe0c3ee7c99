from odoo import api, fields, models
from odoo.exceptions import AccessError


class PracticeAutopayConsent(models.Model):
    """A client's authorization to charge a saved card: who, when, which text, which card.

    Kept forever: ending AutoPay records when and by whom, and never deletes the consent or
    the payments made under it. It is evidence, so nobody edits it: enrollment records it,
    ending AutoPay closes it (res.partner's AutoPay methods), through sudo.
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
    ended_by_id = fields.Many2one("res.users", readonly=True)
    active = fields.Boolean(default=True)

    @api.depends("partner_id", "accepted_on")
    def _compute_display_name(self):
        for consent in self:
            consent.display_name = self.env._(
                "AutoPay consent of %(client)s, version %(version)s",
                client=consent.partner_id.display_name,
                version=consent.terms_version,
            )

    @api.model_create_multi
    def create(self, vals_list):
        """Override: consents are recorded by enrollment (portal or staff's wizard) only."""
        self._billing_check_evidence_change()
        return super().create(vals_list)

    def write(self, vals):
        """Override: a consent is evidence; only ending AutoPay changes it."""
        self._billing_check_evidence_change()
        return super().write(vals)

    def _billing_check_evidence_change(self):
        if not self.env.su:
            raise AccessError(
                self.env._(
                    "AutoPay consents are recorded by enrollment and closed by ending "
                    "AutoPay; they cannot be edited."
                )
            )

    def _billing_in_force(self):
        """Whether this consent still authorizes charges: recorded, not ended nor archived."""
        return bool(self) and all(consent.active and not consent.ended_on for consent in self)

    def _billing_end(self):
        """Close these consents now, by the current user. Already ended ones keep their date."""
        self.filtered(lambda consent: not consent.ended_on).sudo().write(
            {"ended_on": fields.Datetime.now(), "ended_by_id": self.env.user.id}
        )

    def _billing_attach_signed_form(self, name, data):
        """Keep the signed authorization staff received on this consent."""
        self.ensure_one()
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create({"name": name, "datas": data, "res_model": self._name, "res_id": self.id})
        )
        self.sudo().attachment_id = attachment
        return attachment
