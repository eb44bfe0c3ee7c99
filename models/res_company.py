from odoo import fields, models

DELIVERY_METHODS = [
    ("email", "Email"),
    ("portal", "Client portal"),
    ("manual", "Manual"),
]


class ResCompany(models.Model):
    _inherit = "res.company"

    billing_auto_invoice = fields.Boolean(
        string="Automatic Billing Document Generation: Invoices",
        help="Turn every client's uninvoiced sessions into one invoice on schedule.",
    )
    billing_invoice_schedule = fields.Selection(
        [("monthly", "On the first day of the month"), ("daily", "Every day")],
        string="Invoice Schedule",
        default="monthly",
        required=True,
    )
    billing_auto_superbill = fields.Boolean(
        string="Automatic Billing Document Generation: Superbills",
        help="Each month, issue a superbill to clients who seek insurance reimbursement.",
    )
    billing_auto_statement = fields.Boolean(
        string="Automatic Billing Document Generation: Statements",
        help="Each month, issue a statement of account to clients with activity or a balance.",
    )
    billing_default_delivery_method = fields.Selection(
        DELIVERY_METHODS,
        string="Default Delivery Method",
        default="email",
        required=True,
        help="How new clients receive their billing documents:\n"
        "- Email: the document is emailed with its PDF attached.\n"
        "- Client portal: the client gets an email notification and reads the document "
        "in the customer portal; nothing clinical is in the email.\n"
        "- Manual: nothing is sent; staff print or send the document themselves.\n"
        "Each client can override it.",
    )
    billing_past_due_reminder = fields.Boolean(
        string="Past-Due Reminders",
        default=True,
        help="Remind clients whose invoices are past due.",
    )
    billing_past_due_days = fields.Integer(
        string="Days Past Due",
        default=30,
        help="Remind a client once an invoice is more than this many days past its due date.",
    )
