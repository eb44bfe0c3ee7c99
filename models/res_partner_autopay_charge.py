# Temporary until h/enroll lands: the enrollment helper owns these two methods (in
# models/res_partner_autopay.py); the charging calls them by these names. Delete this file
# when merging h/enroll.
from odoo import models


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _billing_autopay_active(self):
        """The partners of ``self`` AutoPay may charge: enrolled, not paused, with a card."""
        return self.filtered(
            lambda partner: (
                partner.sudo().billing_autopay
                and not partner.sudo().billing_autopay_paused
                and partner.sudo().billing_autopay_token_id.active
            )
        )

    def _billing_autopay_pause(self, reason):
        """Stop charging these clients' cards until staff or the client resume AutoPay."""
        self.sudo().write({"billing_autopay_paused": True, "billing_autopay_pause_reason": reason})
