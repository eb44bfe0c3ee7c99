import re

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression

from .res_company import PLACES_OF_SERVICE
from .res_partner import STAFF

BILLING_STATES = [
    ("not_billable", "Not billable"),
    ("upcoming", "Upcoming"),
    ("uninvoiced", "Uninvoiced"),
    ("invoiced", "Invoiced"),
]
ATTENDANCE = [
    ("attended", "Attended"),
    ("late_cancel", "Late cancellation"),
    ("no_show", "No-show"),
    ("cancelled", "Cancelled"),
]
# Invoice states in which a session counts as billed; a cancelled invoice frees it.
BILLED_INVOICE_STATES = ("draft", "posted")
# Missed sessions billed at a share of the fee, and the company setting that holds it.
MISSED_FEE_PERCENT = {
    "late_cancel": "billing_late_cancel_percent",
    "no_show": "billing_no_show_percent",
}
# The practice's clients, as offered on a session: people (a child filed under a parent
# included), neither companies nor a company's contacts (Odoo's demo customers are both), nor
# the practice's own staff.
CLIENT_DOMAIN = [
    ("is_company", "=", False),
    "|",
    ("parent_id", "=", False),
    ("parent_id.is_company", "=", False),
    ("user_ids", "not any", [("share", "=", False)]),
]
# The practice's services: what a session delivers and an insurer reads, by its CPT code.
SERVICE_DOMAIN = [("type", "=", "service"), ("billing_cpt_code", "!=", False)]
# What an invoice line says it bills; changing any of these on a billed session is refused.
BILLED_FIELDS = (
    "billing_client_id",
    "billing_product_id",
    "billing_fee",
    "billing_attendance",
    "billing_company_id",
    "start",
    "stop",
    "recurrence_id",
    # Archiving (staff, or a recurrence edit) would hide a billed session.
    "active",
)


class CalendarEvent(models.Model):
    """A calendar event with a client and a service is a billable session."""

    _inherit = "calendar.event"
    # With the session -> line link single-valued, this makes the pairing one-to-one: a
    # session is billed by at most one line, and a line bills at most one session.
    _sql_constraints = [
        (
            "billing_invoice_line_unique",
            "unique(billing_invoice_line_id)",
            "An invoice line can bill only one session.",
        ),
    ]

    billing_company_id = fields.Many2one(
        "res.company",
        string="Practice",
        default=lambda self: self.env.company,
        index=True,
        groups=STAFF,
    )
    billing_currency_id = fields.Many2one(related="billing_company_id.currency_id", groups=STAFF)
    billing_client_id = fields.Many2one(
        "res.partner",
        string="Client",
        compute="_compute_billing_client_id",
        store=True,
        readonly=False,
        index="btree_not_null",
        domain=CLIENT_DOMAIN,
        help="The client billed for this session. Defaults to the one attendee who is not "
        "practice staff; the organizer is the clinician, never the client.",
        groups=STAFF,
    )
    billing_product_id = fields.Many2one(
        "product.product",
        string="Service",
        domain=SERVICE_DOMAIN,
        help="The service delivered: one of the practice's services, with its CPT code and "
        "standard fee (Billing > Configuration > Services).",
        groups=STAFF,
    )
    billing_fee = fields.Monetary(
        string="Fee",
        currency_field="billing_currency_id",
        compute="_compute_billing_fee",
        store=True,
        readonly=False,
        help="Defaults to the service's sales price; override it for this session only.",
        groups=STAFF,
    )
    # What staff recorded, empty until they record something: a session is scheduled until
    # it starts, then billed as attended unless staff record otherwise (see
    # _billing_attendance_at). Billing never waits for anyone to mark sessions attended.
    billing_attendance = fields.Selection(
        ATTENDANCE,
        string="Attendance",
        copy=False,
        help="Leave empty for a session that happens as booked: it is scheduled until it "
        "starts, then billed as attended. Record a late cancellation or no-show (billed at "
        "the practice's fee for them) or a cancellation (never billed).",
        groups=STAFF,
    )
    billing_attendance_status = fields.Selection(
        [("scheduled", "Scheduled"), *ATTENDANCE],
        string="Attendance Status",
        compute="_compute_billing_attendance_status",
        search="_search_billing_attendance_status",
        help="Evaluated now: what staff recorded, else Scheduled before the session starts "
        "and Attended from then on.",
        groups=STAFF,
    )
    # Which of the two empty-attendance placeholders the form shows (Scheduled / Attended).
    billing_has_started = fields.Boolean(compute="_compute_billing_attendance_status", groups=STAFF)
    billing_pos_code = fields.Selection(
        PLACES_OF_SERVICE,
        string="Place of Service",
        default=lambda self: self.env.company.billing_default_pos_code,
        groups=STAFF,
    )
    billing_cpt_modifiers = fields.Char(
        string="CPT Modifiers",
        help="Up to four two-character modifiers separated by spaces, e.g. 95 for telehealth.",
        groups=STAFF,
    )
    billing_invoice_line_id = fields.Many2one(
        "account.move.line",
        string="Invoice Line",
        copy=False,
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The invoice line that bills this session.",
        groups=STAFF,
    )
    billing_invoice_id = fields.Many2one(
        related="billing_invoice_line_id.move_id",
        string="Invoice",
        groups=STAFF,
    )
    # Stored so that billing_state can be searched without reading accounting records.
    billing_invoice_state = fields.Selection(
        related="billing_invoice_line_id.parent_state",
        store=True,
        string="Invoice Status",
        groups=STAFF,
    )
    billing_amount = fields.Monetary(
        string="Amount Billed",
        currency_field="billing_currency_id",
        compute="_compute_billing_amount",
        help="The fee, or the practice's late cancellation / no-show share of it.",
        groups=STAFF,
    )
    billing_state = fields.Selection(
        BILLING_STATES,
        string="Billing Status",
        compute="_compute_billing_state",
        search="_search_billing_state",
        help="Evaluated now: Upcoming sessions have not started; Uninvoiced ones have "
        "happened and wait for the next billing run; Invoiced ones are on a draft or "
        "posted invoice.",
        groups=STAFF,
    )

    # ------------------------------------------------------------------ computes
    def _skip_send_mail_status_update(self):
        """Override of `calendar`: a session never emails Odoo's invitation or cancellation
        to its attendees: its title and invitation name the service (health information)
        and reach the client outside the practice's own channels."""
        return bool(self.billing_product_id) or super()._skip_send_mail_status_update()

    def _billing_client_candidates(self):
        """Attendees who can be the billed client: everyone but staff and the organizer."""
        self.ensure_one()
        staff = self.partner_ids.sudo().filtered(
            lambda p: p.user_ids.filtered(lambda u: not u.share)
        )
        return self.partner_ids - staff - self.user_id.partner_id

    @api.depends("partner_ids", "user_id")
    def _compute_billing_client_id(self):
        for event in self:
            client = event.billing_client_id
            # A billed session keeps its client; an explicit choice among attendees too.
            if not event.billing_invoice_line_id:
                candidates = event._billing_client_candidates()
                if client not in candidates and len(candidates) == 1:
                    client = candidates
            event.billing_client_id = client

    @api.depends("billing_product_id")
    def _compute_billing_fee(self):
        for event in self:
            if event.billing_product_id and not event.billing_invoice_line_id:
                event.billing_fee = event.billing_product_id.lst_price
            else:
                event.billing_fee = event.billing_fee

    @api.depends(
        "billing_client_id",
        "billing_product_id",
        "billing_fee",
        "billing_attendance",
        "billing_invoice_state",
        "start",
    )
    def _compute_billing_state(self):
        now = fields.Datetime.now()
        for event in self:
            if event.billing_invoice_state in BILLED_INVOICE_STATES:
                event.billing_state = "invoiced"
            elif not event._billing_is_billable():
                event.billing_state = "not_billable"
            elif event.start > now:
                event.billing_state = "upcoming"
            else:
                event.billing_state = "uninvoiced"

    @api.depends("billing_attendance", "start")
    def _compute_billing_attendance_status(self):
        now = fields.Datetime.now()
        for event in self:
            event.billing_attendance_status = event._billing_attendance_at(now) or "scheduled"
            event.billing_has_started = bool(event.start and event.start <= now)

    def _billing_attendance_at(self, now):
        """The attendance this session is billed with at the UTC moment ``now``: what staff
        recorded, else "attended" once it has started; False for a session still to come
        with nothing recorded."""
        self.ensure_one()
        if self.billing_attendance:
            return self.billing_attendance
        return "attended" if self.start and self.start <= now else False

    def _search_billing_attendance_status(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(self.env._("Attendance status can only be compared with = or in."))
        values = {value} if isinstance(value, str) or not value else set(value)
        values.discard(False)
        if operator in ("!=", "not in"):
            statuses = self._fields["billing_attendance_status"].get_values(self.env)
            values = set(statuses) - values
        now = fields.Datetime.now()
        domains = []
        for status in sorted(values):
            if status == "scheduled":
                domains.append([("billing_attendance", "=", False), ("start", ">", now)])
            elif status == "attended":
                domains.append(
                    [
                        "|",
                        ("billing_attendance", "=", "attended"),
                        "&",
                        ("billing_attendance", "=", False),
                        ("start", "<=", now),
                    ]
                )
            else:
                domains.append([("billing_attendance", "=", status)])
        return expression.OR(domains) if domains else expression.FALSE_DOMAIN

    @api.depends("billing_fee", "billing_attendance", "billing_company_id")
    def _compute_billing_amount(self):
        for event in self:
            event.billing_amount = event.billing_currency_id.round(
                event.billing_fee * event._billing_fee_percent() / 100.0
            )

    def _billing_fee_percent(self):
        """Share of the fee billed for this attendance: 100, or the practice's missed fee.

        Nothing recorded counts as attended: a session is billed only once it has started
        (see _billing_state_domain), and then it is attended unless staff said otherwise."""
        self.ensure_one()
        if self.billing_attendance == "cancelled":
            return 0.0
        setting = MISSED_FEE_PERCENT.get(self.billing_attendance)
        company = self.billing_company_id or self.env.company
        return company.sudo()[setting] if setting else 100.0

    def _billing_is_billable(self):
        """Whether this session is to be billed at all (regardless of when)."""
        self.ensure_one()
        return bool(
            self.billing_client_id
            and self.billing_product_id
            and self.billing_fee > 0
            and self._billing_fee_percent() > 0
        )

    # ------------------------------------------------------------------ search
    @api.model
    def _billing_billable_domain(self):
        """Domain of sessions that are to be billed at all; mirrors _billing_is_billable."""
        domain = [
            ("billing_client_id", "!=", False),
            ("billing_product_id", "!=", False),
            ("billing_fee", ">", 0),
            # Nothing recorded (NULL) is billable: attended once the session has started.
            "|",
            ("billing_attendance", "=", False),
            ("billing_attendance", "!=", "cancelled"),
        ]
        # A practice that waives a missed-session fee (0 %) does not bill those sessions.
        for attendance, setting in MISSED_FEE_PERCENT.items():
            waiving = self.env["res.company"].sudo().search([(setting, "<=", 0)])
            if waiving:
                domain += [
                    "!",
                    "&",
                    ("billing_attendance", "=", attendance),
                    ("billing_company_id", "in", waiving.ids),
                ]
        return domain

    @api.model
    def _billing_not_invoiced_domain(self):
        """Sessions on no invoice, or only on cancelled ones."""
        return [
            "|",
            ("billing_invoice_state", "=", False),
            ("billing_invoice_state", "=", "cancel"),
        ]

    @api.model
    def _billing_state_domain(self, state, now=None):
        """Domain of the sessions whose billing_state is ``state`` at ``now``."""
        now = now or fields.Datetime.now()
        invoiced = [("billing_invoice_state", "in", BILLED_INVOICE_STATES)]
        not_invoiced = self._billing_not_invoiced_domain()
        billable = self._billing_billable_domain()
        domains = {
            "invoiced": invoiced,
            "not_billable": expression.AND(
                [not_invoiced, expression.distribute_not(["!", *expression.AND([billable])])]
            ),
            "upcoming": expression.AND([billable, not_invoiced, [("start", ">", now)]]),
            "uninvoiced": expression.AND([billable, not_invoiced, [("start", "<=", now)]]),
        }
        return domains[state]

    def _search_billing_state(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(self.env._("Billing status can only be compared with = or in."))
        values = {value} if isinstance(value, str) or not value else set(value)
        values.discard(False)
        if operator in ("!=", "not in"):
            values = {state for state, _label in BILLING_STATES} - values
        if not values:
            return expression.FALSE_DOMAIN
        return expression.OR([self._billing_state_domain(state) for state in sorted(values)])

    @api.onchange("billing_client_id")
    def _onchange_billing_client_id(self):
        """The client attends their session (so that adding another attendee later never
        changes who is billed) and names it, unless staff named it already."""
        client = self.billing_client_id
        if not client:
            return
        if client not in self.partner_ids:
            self.partner_ids |= client
        if not self.name:
            self.name = client.name

    @api.constrains("billing_product_id")
    def _check_billing_product_id(self):
        for session in self.filtered(
            lambda s: (
                s.billing_product_id
                and not s._billing_product_repeats_series()
                and not s.billing_product_id.filtered_domain(SERVICE_DOMAIN)
            )
        ):
            raise ValidationError(
                self.env._(
                    "“%(product)s” is not one of the practice's services (session “%(session)s” "
                    "on %(when)s). Choose a service with a CPT code, or give “%(product)s” its "
                    "CPT code on its product form (Invoicing > Customers > Products).",
                    product=session.billing_product_id.display_name,
                    session=session.name,
                    when=session._billing_display_start(),
                )
            )

    def _billing_product_repeats_series(self):
        """Whether this session's service is the one of its series' first session: Odoo
        makes a series' sessions again from that one when the series is moved, which
        chooses no service. A series booked before services needed a CPT code (or whose
        service lost it since) can then still be moved, by a clinician too."""
        self.ensure_one()
        first = self.recurrence_id.base_event_id
        return bool(first) and first != self and first.billing_product_id == self.billing_product_id

    @api.constrains("billing_fee")
    def _check_billing_fee(self):
        for session in self:
            if session.billing_fee < 0:
                raise ValidationError(
                    self.env._(
                        "The fee of the session “%(session)s” is negative (%(fee)s). Enter the "
                        "fee the client owes, or 0 for a session that is not billed; refunds "
                        "are credit notes on the client's invoice.",
                        session=session.name,
                        fee=session.billing_fee,
                    )
                )

    @api.constrains("billing_cpt_modifiers")
    def _check_billing_cpt_modifiers(self):
        for session in self.filtered("billing_cpt_modifiers"):
            modifiers = session.billing_cpt_modifiers.replace(",", " ").split()
            if len(modifiers) > 4 or not all(re.fullmatch(r"[0-9A-Z]{2}", m) for m in modifiers):
                raise ValidationError(
                    self.env._(
                        "“%(modifiers)s” on the session “%(session)s”: write up to four "
                        "two-character CPT modifiers separated by spaces, e.g. “95” or “95 GT”.",
                        modifiers=session.billing_cpt_modifiers,
                        session=session.name,
                    )
                )

    # ------------------------------------------------------------------ invoicing
    def _billing_display_start(self, lang_code=None):
        """When this session starts, as the practice reads it (its time zone, to the
        minute): the way billing names a session to staff."""
        self.ensure_one()
        company = self.billing_company_id or self.env.company
        return company._billing_format_datetime(self.start, lang_code)

    def _billing_invoice_line_name(self, with_client=False):
        """What the payer reads on the invoice line for this session; ``with_client`` adds
        the client's name, for an invoice that bills others' sessions too ("2026-11-02 —
        Psychotherapy, 53 min — Emma Doe")."""
        self.ensure_one()
        name = self._billing_session_line_name()
        if with_client:
            return f"{name} — {self.billing_client_id.name}"
        return name

    def _billing_session_line_name(self):
        """The session on an invoice line: its day and service (and a missed-session fee)."""
        self.ensure_one()
        company = self.billing_company_id or self.env.company
        day = company._billing_local_date(self.start)
        service = self.billing_product_id.name
        if self.billing_attendance in MISSED_FEE_PERCENT:
            # Not an f-string inside the call: the translation extractor would evaluate it.
            percent = f"{self._billing_fee_percent():g}"
            return self.env._(
                "%(day)s — %(label)s fee (%(percent)s%% of %(service)s)",
                day=day,
                label=dict(ATTENDANCE)[self.billing_attendance],
                percent=percent,
                service=service,
            )
        return f"{day} — {service}"

    def _billing_check_invoiceable(self):
        """Raise a UserError a practice manager can act on if a session cannot be invoiced."""
        for session in self:
            service = session.billing_product_id
            when = session._billing_display_start()
            client = session.billing_client_id.display_name
            if not service.active:
                raise UserError(
                    self.env._(
                        "The session on %(when)s for %(client)s uses the archived service "
                        "“%(service)s”. Restore the service or pick another one on the session.",
                        when=when,
                        client=client,
                        service=service.display_name,
                    )
                )
            accounts = service.product_tmpl_id.with_company(
                session.billing_company_id
            )._get_product_accounts()
            if not accounts["income"]:
                raise UserError(
                    self.env._(
                        "The service “%(service)s” (session on %(when)s for %(client)s) has no "
                        "income account. Set one on the service or its product category.",
                        service=service.display_name,
                        when=when,
                        client=client,
                    )
                )

    # ------------------------------------------------------------------ locks
    def _billing_billed(self):
        """Sessions of self that are on a draft or posted invoice."""
        return self.filtered(lambda e: e.sudo().billing_invoice_state in BILLED_INVOICE_STATES)

    def _billing_changed_fields(self, vals):
        """Names of BILLED_FIELDS that ``vals`` really changes on this session."""
        self.ensure_one()
        changed = []
        for name in BILLED_FIELDS:
            if name not in vals:
                continue
            field = self._fields[name]
            new = field.convert_to_record(field.convert_to_cache(vals[name], self), self)
            old = self[name]
            if name == "billing_attendance":
                # A billed session was billed as attended when nothing was recorded:
                # recording "attended" afterwards changes nothing the invoice says.
                new, old = new or "attended", old or "attended"
            if field.type == "monetary":
                if self.billing_currency_id.compare_amounts(new, old):
                    changed.append(name)
            elif new != old:
                changed.append(name)
        return changed

    def _billing_session_of(self, superbill):
        """Whether this session may be on ``superbill``: attended, invoiced, of its client
        in its practice."""
        self.ensure_one()
        return (
            self.billing_company_id == superbill.company_id
            and self.billing_client_id.commercial_partner_id
            == superbill.partner_id.commercial_partner_id
            # Billed with nothing recorded: billed as attended (see _billing_fee_percent).
            and self.billing_attendance in ("attended", False)
            and bool(self._billing_billed())
        )

    def _billing_check_not_billed(self, vals=None):
        """Refuse changes to what an invoice bills; ``vals=None`` means deletion."""
        for session in self._billing_billed():
            if vals is not None and not session._billing_changed_fields(vals):
                continue
            invoice = session.sudo().billing_invoice_id
            raise UserError(
                self.env._(
                    "The session on %(when)s for %(client)s is billed on %(invoice)s and cannot "
                    "be changed or deleted. Cancel that invoice (or remove its line) first.",
                    when=session._billing_display_start(),
                    client=session.billing_client_id.display_name,
                    invoice=invoice.name or invoice.display_name,
                )
            )

    def write(self, vals):
        """Override of `calendar` to keep billed sessions as their invoice bills them."""
        if any(name in vals for name in BILLED_FIELDS):
            self._billing_check_not_billed(vals)
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_billed(self):
        self._billing_check_not_billed()
