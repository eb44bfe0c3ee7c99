from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    billing_auto_invoice = fields.Boolean(related="company_id.billing_auto_invoice", readonly=False)
    billing_invoice_schedule = fields.Selection(
        related="company_id.billing_invoice_schedule", readonly=False
    )
    billing_auto_superbill = fields.Boolean(
        related="company_id.billing_auto_superbill", readonly=False
    )
    billing_auto_statement = fields.Boolean(
        related="company_id.billing_auto_statement", readonly=False
    )
    billing_default_delivery_method = fields.Selection(
        related="company_id.billing_default_delivery_method", readonly=False
    )
    billing_past_due_reminder = fields.Boolean(
        related="company_id.billing_past_due_reminder", readonly=False
    )
    billing_past_due_days = fields.Integer(
        related="company_id.billing_past_due_days", readonly=False
    )
    billing_late_cancel_percent = fields.Float(
        related="company_id.billing_late_cancel_percent", readonly=False
    )
    billing_no_show_percent = fields.Float(
        related="company_id.billing_no_show_percent", readonly=False
    )
    billing_review_invoices = fields.Boolean(
        related="company_id.billing_review_invoices", readonly=False
    )
    billing_reminder_interval_days = fields.Integer(
        related="company_id.billing_reminder_interval_days", readonly=False
    )
    billing_reminder_max = fields.Integer(related="company_id.billing_reminder_max", readonly=False)
    billing_npi = fields.Char(related="company_id.billing_npi", readonly=False)
    billing_tax_id = fields.Char(related="company_id.billing_tax_id", readonly=False)
    billing_default_pos_code = fields.Selection(
        related="company_id.billing_default_pos_code", readonly=False
    )
    billing_payment_term_id = fields.Many2one(
        related="company_id.billing_payment_term_id", readonly=False
    )
    billing_responsible_user_id = fields.Many2one(
        related="company_id.billing_responsible_user_id", readonly=False
    )
    # The practice's clock: billing periods start at midnight in this time zone.
    billing_practice_tz = fields.Selection(
        related="company_id.partner_id.tz", string="Practice Time Zone", readonly=False
    )
    billing_invoice_grouping = fields.Selection(
        related="company_id.billing_invoice_grouping", readonly=False
    )
    billing_autopay_enabled = fields.Boolean(
        related="company_id.billing_autopay_enabled", readonly=False
    )
    billing_autopay_notice_days = fields.Integer(
        related="company_id.billing_autopay_notice_days", readonly=False
    )
    billing_autopay_max_attempts = fields.Integer(
        related="company_id.billing_autopay_max_attempts", readonly=False
    )
    billing_autopay_terms = fields.Html(related="company_id.billing_autopay_terms", readonly=False)
    billing_autopay_terms_version = fields.Integer(
        related="company_id.billing_autopay_terms_version"
    )
