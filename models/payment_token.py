from odoo import models


class PaymentToken(models.Model):
    _inherit = "payment.token"

    def _handle_archiving(self):
        """Override of `payment` to pause AutoPay of the clients whose card this was when it is
        removed (the client's "Payment methods" page, staff, the provider), so staff see why
        nothing is charged and the client can enroll another card."""
        result = super()._handle_archiving()
        clients = (
            self.env["res.partner"]
            .sudo()
            .search([("billing_autopay", "=", True), ("billing_autopay_token_id", "in", self.ids)])
        )
        clients._billing_autopay_pause(self.env._("the card was removed"))
        return result
