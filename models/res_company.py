import re
from datetime import datetime, time

import pytz
from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.misc import babel_locale_parse, format_datetime, get_lang, posix_to_ldml

from .npi import check_npi

PLACES_OF_SERVICE = [
    ("11", "11 - Office"),
    ("02", "02 - Telehealth (not in the client's home)"),
    ("10", "10 - Telehealth in the client's home"),
]
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
    billing_reminder_interval_days = fields.Integer(
        string="Days Between Reminders",
        default=7,
        help="A client is reminded at most once in this many days.",
    )
    billing_reminder_max = fields.Integer(
        string="Reminders per Invoice",
        default=4,
        help="An invoice is part of at most this many reminders.",
    )
    billing_late_cancel_percent = fields.Float(
        string="Late Cancellation Fee (%)",
        default=100.0,
        help="Share of the session fee billed for a late cancellation; 0 means not billed.",
    )
    billing_no_show_percent = fields.Float(
        string="No-show Fee (%)",
        default=100.0,
        help="Share of the session fee billed for a no-show; 0 means not billed.",
    )
    billing_review_invoices = fields.Boolean(
        string="Review Invoices Before Sending",
        help="Keep the invoices of automatic runs in draft for staff to check and post.",
    )
    billing_npi = fields.Char(
        string="Practice NPI",
        help="The group (type 2) National Provider Identifier printed on superbills.",
    )
    billing_tax_id = fields.Char(
        string="Tax ID (EIN)", help="Employer Identification Number, e.g. 12-3456789."
    )
    billing_payment_term_id = fields.Many2one(
        "account.payment.term",
        string="Default Payment Terms",
        check_company=True,
        help="Terms of the invoices of clients who have none of their own; without any, an "
        "invoice is due on its date.",
    )
    billing_responsible_user_id = fields.Many2one(
        "res.users",
        string="Billing Responsible",
        domain=[("share", "=", False)],
        help="Who gets the billing activities (failed billing, incomplete superbills, "
        "client requests, reminders to make by hand) of clients without a salesperson.",
    )
    billing_default_pos_code = fields.Selection(
        PLACES_OF_SERVICE,
        string="Default Place of Service",
        default="11",
        required=True,
        help="Place of service of new sessions (CMS place-of-service codes).",
    )
    billing_invoice_grouping = fields.Selection(
        [("family", "One invoice per responsible party"), ("client", "One invoice per client")],
        string="Invoices for Families",
        default="family",
        required=True,
        help="A responsible party who pays for several clients (a parent of two children) "
        "gets one invoice per period covering all of them, or one invoice per client.",
    )
    # AutoPay (#13): the monthly invoice paid by the client's saved card.
    billing_autopay_enabled = fields.Boolean(
        string="AutoPay",
        help="Charge enrolled clients' saved cards for their posted invoices.",
    )
    billing_autopay_notice_days = fields.Integer(
        string="AutoPay Notice (days)",
        default=3,
        help="Clients are emailed this many days before their card is charged.",
    )
    billing_autopay_max_attempts = fields.Integer(
        string="AutoPay Attempts",
        default=3,
        help="A declined charge is retried on the following days up to this many attempts; "
        "then AutoPay pauses for the client.",
    )
    billing_autopay_terms = fields.Html(
        string="AutoPay Authorization",
        translate=True,
        help="The text a client accepts when enrolling in AutoPay.",
    )
    billing_autopay_terms_version = fields.Integer(
        string="AutoPay Authorization Version",
        default=1,
        readonly=True,
        help="Raised each time the authorization text changes; consents record the version.",
    )
    billing_last_cutoff = fields.Datetime(
        string="Last Billing Cutoff",
        readonly=True,
        copy=False,
        help="Sessions that started before this moment were billed by the last scheduled run.",
    )

    _sql_constraints = [
        (
            "billing_fee_percent_range",
            "CHECK(billing_late_cancel_percent BETWEEN 0 AND 100 "
            "AND billing_no_show_percent BETWEEN 0 AND 100)",
            "Late cancellation and no-show fees are a percentage between 0 and 100.",
        ),
    ]

    @api.constrains(
        "billing_past_due_days", "billing_reminder_interval_days", "billing_reminder_max"
    )
    def _check_billing_reminders(self):
        for company in self:
            if company.billing_past_due_days < 0:
                raise ValidationError(
                    self.env._(
                        "%(company)s: the days past due before a reminder cannot be negative "
                        "(%(days)s). Use 0 to remind as soon as an invoice is past due.",
                        company=company.name,
                        days=company.billing_past_due_days,
                    )
                )
            if company.billing_reminder_interval_days < 1 or company.billing_reminder_max < 1:
                raise ValidationError(
                    self.env._(
                        "%(company)s: reminders need at least 1 day between them and at least "
                        "1 reminder per invoice. To stop reminders, turn Past-Due Reminders off.",
                        company=company.name,
                    )
                )

    @api.constrains("billing_npi")
    def _check_billing_npi(self):
        check_npi(self, "billing_npi", lambda company: company.name)

    @api.constrains("billing_tax_id")
    def _check_billing_tax_id(self):
        for company in self.filtered("billing_tax_id"):
            if not re.fullmatch(r"\d{2}-?\d{7}", company.billing_tax_id):
                raise ValidationError(
                    self.env._(
                        "The Tax ID %(ein)s of %(company)s is not an EIN: write nine digits, "
                        "as 12-3456789.",
                        ein=company.billing_tax_id,
                        company=company.name,
                    )
                )

    # ------------------------------------------------------------------ practice clock
    def _billing_tz(self):
        """The practice's time zone: its company contact's, else UTC."""
        self.ensure_one()
        return pytz.timezone(self.partner_id.tz or "UTC")

    def _billing_local_midnight(self, local_day):
        """UTC (naive, as Odoo stores it) of 00:00 on ``local_day`` in the practice."""
        local = self._billing_tz().localize(datetime.combine(local_day, time.min))
        return local.astimezone(pytz.utc).replace(tzinfo=None)

    def _billing_local_date(self, utc_dt):
        """The practice's calendar date at the UTC moment ``utc_dt``."""
        return pytz.utc.localize(utc_dt).astimezone(self._billing_tz()).date()

    def _billing_format_datetime(self, utc_dt, lang_code=None, with_zone=False):
        """The UTC moment ``utc_dt`` (naive, as Odoo stores it) as the practice reads it:
        in its time zone (the one its billing periods follow, see _billing_tz), in the
        language's date and time formats (``lang_code``, else the context's), to the minute,
        followed by the zone's abbreviation ("12/01/2026 00:00 EST") ``with_zone``.
        Every time billing writes for people goes through here; empty for no moment."""
        self.ensure_one()
        if not utc_dt:
            return ""
        lang = get_lang(self.env, lang_code)
        # Seconds mean nothing for a session or a run: "10:00", never "10:00:00".
        time_format = re.sub(r"[:.]?%S", "", lang.time_format)
        pattern = posix_to_ldml(f"{lang.date_format} {time_format}", babel_locale_parse(lang.code))
        zone = self._billing_tz()
        text = format_datetime(
            self.env, utc_dt, tz=zone.zone, dt_format=pattern, lang_code=lang.code
        )
        if not with_zone:
            return text
        return f"{text} {pytz.utc.localize(utc_dt).astimezone(zone).strftime('%Z')}"

    def _billing_period_start(self, utc_now, upcoming=False):
        """Local date of the latest billing boundary at ``utc_now`` (or of the next one).

        Monthly practices bill on the 1st, daily ones every day; sessions that started
        before 00:00 local on that date are due.
        """
        self.ensure_one()
        today = self._billing_local_date(utc_now)
        if self.billing_invoice_schedule == "daily":
            return today + relativedelta(days=1) if upcoming else today
        first = today.replace(day=1)
        return first + relativedelta(months=1) if upcoming else first
