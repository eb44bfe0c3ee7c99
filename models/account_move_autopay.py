from odoo import fields, models

AUTOPAY_STATES = [
    ("scheduled", "Scheduled"),
    ("charged", "Charged"),
    ("failed", "Failed"),
    ("held", "Held"),
    ("skipped", "Skipped"),
]


class AccountMove(models.Model):
    """AutoPay (#13) on the invoice: whether and when the client's saved card pays it."""

    _inherit = "account.move"

    billing_autopay_state = fields.Selection(
        AUTOPAY_STATES,
        string="AutoPay",
        copy=False,
        index="btree_not_null",
        help="Scheduled: the card will be charged on the AutoPay date. Charged: paid by the "
        "card. Failed: declined (retried up to the practice's maximum). Held: staff hold it "
        "(disputed, insurance pending). Skipped: not charged, the reason says why.",
    )
    billing_autopay_date = fields.Date(
        string="AutoPay Date", copy=False, help="When the saved card will be charged."
    )
    billing_autopay_hold = fields.Boolean(
        string="AutoPay Hold",
        copy=False,
        tracking=True,
        help="Never charged automatically while held (disputed, insurance pending).",
    )
    billing_autopay_attempts = fields.Integer(string="AutoPay Attempts", copy=False, readonly=True)
    billing_autopay_reason = fields.Char(
        string="AutoPay Note",
        copy=False,
        readonly=True,
        help="Why the invoice was not charged, or the provider's answer to the last attempt.",
    )
