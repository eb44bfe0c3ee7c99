from odoo import fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    billing_session_ids = fields.One2many(
        "calendar.event",
        "billing_invoice_line_id",
        string="Sessions",
        help="The session this line bills (at most one, enforced by the database).",
    )
