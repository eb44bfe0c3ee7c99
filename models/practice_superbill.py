import logging
from collections import OrderedDict
from datetime import timedelta
from string import ascii_uppercase
from urllib.parse import urlencode

from dateutil.relativedelta import relativedelta

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_date

_logger = logging.getLogger(__name__)

SUPERBILL_STATES = [("draft", "Draft"), ("issued", "Issued"), ("cancelled", "Cancelled")]
# What a client may ask for in the portal: a period of at most this many months, starting
# at most this many years ago and ending today at the latest.
REQUEST_MAX_MONTHS = 12
REQUEST_YEARS_BACK = 2


class PracticeSuperbill(models.Model):
    """What a client sends their insurer to be reimbursed for a month of sessions."""

    _name = "practice.superbill"
    _inherit = "practice.client.document"
    _description = "Superbill"
    _billing_report = "practice_billing.action_report_superbill"
    _billing_portal_path = "/my/superbills"
    _billing_number_prefix = "SB"
    _order = "date_start desc, id desc"

    date_start = fields.Date(string="From", required=True)
    date_end = fields.Date(string="To", required=True)
    date_issued = fields.Date(
        string="Issue Date", readonly=True, copy=False, help="When the superbill was issued."
    )
    line_ids = fields.One2many("practice.superbill.line", "superbill_id", string="Services")
    amount_total = fields.Monetary(string="Total Charged", compute="_compute_amounts", store=True)
    amount_paid = fields.Monetary(string="Total Paid", compute="_compute_amounts", store=True)
    state = fields.Selection(
        SUPERBILL_STATES, default="draft", required=True, tracking=True, index=True
    )
    replaces_id = fields.Many2one(
        "practice.superbill",
        readonly=True,
        copy=False,
        help="The superbill this corrected version replaces.",
    )
    missing_info = fields.Text(
        string="Missing Before Issue",
        readonly=True,
        help="What an insurer needs that the practice has not recorded yet.",
    )
    requested_by_client = fields.Boolean(
        string="Requested by Client",
        readonly=True,
        copy=False,
        help="The client asked for this superbill in the client portal.",
    )
    # The insured (CMS-1500 boxes 4 and 6), read from the client at each check before
    # issue, like the lines: an issued superbill keeps what it printed.
    subscriber_id = fields.Many2one(
        "res.partner",
        string="Policy Holder",
        readonly=True,
        copy=False,
        help="The insured printed on the superbill: the client's policy holder, else their "
        "responsible party (who pays), else the client. Read from the client's Billing tab "
        "when the superbill is checked before issue.",
    )
    subscriber_relationship = fields.Selection(
        selection="_selection_subscriber_relationship",
        string="Relationship to Insured",
        readonly=True,
        copy=False,
        help="The client's relationship to the policy holder, as printed: Self when the client "
        "holds the policy; otherwise the relationship recorded on the client (Spouse, Child "
        "or Other). A superbill whose policy holder is someone else while Self is recorded "
        "waits in draft until staff record the right relationship: an insurer rejects a "
        "claim whose relationship does not match its policy.",
    )

    _sql_constraints = [
        (
            "period_after_start",
            "CHECK(date_end >= date_start)",
            "A superbill's period ends on or after its first day.",
        ),
    ]

    def init(self):
        # One live superbill per client and period: re-runs never make a second one.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS practice_superbill_one_per_period
                ON practice_superbill (partner_id, company_id, date_start, date_end)
             WHERE state != 'cancelled'
            """
        )
        # Superbills never have an access token (see _portal_ensure_token): void those
        # made by earlier versions, so no link sent before opens one.
        self.env.cr.execute(
            "UPDATE practice_superbill SET access_token = NULL WHERE access_token IS NOT NULL"
        )

    @api.model
    def _selection_subscriber_relationship(self):
        return self.env["res.partner"]._fields["billing_insured_relationship"].selection

    @api.depends("line_ids.charge", "line_ids.amount_paid")
    def _compute_amounts(self):
        for superbill in self:
            superbill.amount_total = sum(superbill.line_ids.mapped("charge"))
            superbill.amount_paid = sum(superbill.line_ids.mapped("amount_paid"))

    def _billing_email_template(self):
        return "practice_billing.mail_template_superbill_email"

    def _billing_portal_template(self):
        return "practice_billing.mail_template_superbill_portal"

    def _billing_recipient(self):
        """Override of the delivery mixin: a superbill stays its patient's (their name,
        diagnoses and sessions) and goes to whoever receives the client's documents: their
        responsible party (a parent, a spouse), else the client."""
        self.ensure_one()
        return self.partner_id.sudo().billing_responsible_id.with_env(self.env) or self.partner_id

    @api.model
    def _billing_deliverable_domain(self):
        return [("state", "=", "issued")]

    # ------------------------------------------------------------------ portal access
    # A superbill shows diagnoses, a date of birth and a member ID. It opens for its client,
    # logged in (record rules), and for staff; never through an access token, a signed
    # chatter link or a signup link, so no forwarded or old email can stand in for a login.
    def _portal_ensure_token(self):
        """Override of `portal`: superbills never get an access token. Returns False."""
        return False

    def get_portal_url(
        self, suffix=None, report_type=None, download=None, query_string=None, anchor=None
    ):
        """Override of `portal`: the address of the superbill's page, without a token."""
        self.ensure_one()
        params = {"report_type": report_type, "download": "true" if download else None}
        query = "&".join(
            part
            for part in (
                urlencode({key: value for key, value in params.items() if value}),
                (query_string or "").lstrip("&"),
            )
            if part
        )
        return "".join(
            (
                self.access_url,
                suffix or "",
                f"?{query}" if query else "",
                f"#{anchor}" if anchor else "",
            )
        )

    def _get_share_url(self, redirect=False, signup_partner=False, pid=None, share_token=True):
        """Override of `portal`: a shared superbill link is its bare address (or /mail/view
        with ``redirect``): no access token, no signup token (which lets its holder set the
        client's password), no chatter signature."""
        return super()._get_share_url(redirect=redirect, share_token=False)

    @api.model
    def _get_thread_with_access(self, thread_id, mode="read", **kwargs):
        """Override of `portal`: only the user's own rights open a superbill's chatter (and
        the PDFs posted on it), never a token or a signed link."""
        for key in ("token", "hash", "pid"):
            kwargs.pop(key, None)
        return super()._get_thread_with_access(thread_id, mode, **kwargs)

    def _billing_check_printable(self):
        """Override of practice.client.document: a client prints their issued superbills
        only. One they requested is a draft staff have not checked yet (their portal list
        shows it as "Requested"): never a document to send an insurer."""
        if self.env.su or not self.env.user.share:
            return
        if any(state != "issued" for state in self.mapped("state")):
            raise AccessError(
                self.env._(
                    "This superbill is not issued yet: the practice will check it and issue "
                    "it, then you can download it."
                )
            )

    def _notify_get_recipients_groups(self, message, model_description, msg_vals=None):
        """Override of `portal`: no "View" button with the client's access token and signup
        token in emails; a client with a portal account gets the plain link of the portal
        group, which asks them to log in."""
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        return [group for group in groups if group[0] != "portal_customer"]

    # ------------------------------------------------------------------ sessions
    def _billing_sessions(self):
        """Override of practice.client.document: the sessions on the superbill's lines."""
        return self.line_ids.session_id

    @api.model
    def _billing_documents_of_sessions(self, sessions):
        """Override of practice.client.document."""
        lines = self.env["practice.superbill.line"].search([("session_id", "in", sessions.ids)])
        return lines.superbill_id

    # ------------------------------------------------------------------ generation
    @api.model
    def _clients_to_issue(self, company):
        """The practice's clients who seek reimbursement: those who get a superbill each
        month (_generate leaves out those without billed sessions)."""
        return self.env["res.partner"]._billing_clients(company).filtered("billing_needs_superbill")

    @api.model
    def _issue(self, clients, date_start, date_end, company):
        """The period's superbills of ``clients`` (empty: every client who needs them),
        made, checked and, those issued, delivered (the run on the 1st, Generate)."""
        clients = clients or self._clients_to_issue(company)
        superbills = self._generate(clients, date_start, date_end, company)
        superbills._deliver_issued()
        return superbills

    @api.model
    def _generate(self, clients, date_start, date_end, company=None):
        """Create and pre-flight one superbill per client for the period, unless one exists.

        Returns the superbills created (issued when complete, draft otherwise).
        """
        company = company or self.env.company
        live = self._find_live(clients, company, date_start, date_end).partner_id
        sessions = self._billable_sessions(clients - live, company, date_start, date_end)
        superbills = self.create(
            [
                self._values_for_sessions(client, company, date_start, date_end, client_sessions)
                for client, client_sessions in sessions.grouped("billing_client_id").items()
            ]
        )
        superbills._preflight_and_issue()
        return superbills

    @api.model
    def _create_for_sessions(self, client, company, date_start, date_end, sessions, **values):
        """A draft superbill of the period with one line per session."""
        return self.create(
            self._values_for_sessions(client, company, date_start, date_end, sessions, **values)
        )

    @api.model
    def _values_for_sessions(self, client, company, date_start, date_end, sessions, **values):
        return {
            "partner_id": client.id,
            "company_id": company.id,
            "date_start": date_start,
            "date_end": date_end,
            "line_ids": [Command.create({"session_id": s.id}) for s in sessions],
            **values,
        }

    def _deliver_issued(self):
        """Deliver the issued ones: nothing incomplete is ever sent."""
        issued = self.filtered(lambda s: s.state == "issued")
        issued._freeze_pdfs()
        issued._billing_deliver()

    @api.model
    def _find_live(self, clients, company, date_start, date_end):
        """The superbills of the period not cancelled, for ``clients``."""
        return self.search(
            [
                ("partner_id", "in", clients.ids),
                ("company_id", "=", company.id),
                ("date_start", "=", date_start),
                ("date_end", "=", date_end),
                ("state", "!=", "cancelled"),
            ]
        )

    @api.model
    def _billable_sessions(self, clients, company, date_start, date_end):
        """Attended, invoiced sessions of ``clients`` in the period (local dates) that are on
        no live superbill: never missed-session fees, never a session claimed twice."""
        start = company._billing_local_midnight(date_start)
        end = company._billing_local_midnight(date_end + timedelta(days=1))
        return (
            self.env["calendar.event"]
            .sudo()
            .search(
                [
                    ("billing_client_id", "in", clients.ids),
                    ("billing_company_id", "=", company.id),
                    # Invoiced with nothing recorded: billed as attended.
                    ("billing_attendance", "in", ("attended", False)),
                    ("billing_state", "=", "invoiced"),
                    ("start", ">=", start),
                    ("start", "<", end),
                    ("id", "not in", self.env["practice.superbill.line"]._claimed_sessions()),
                ],
                order="start, id",
            )
        )

    # ------------------------------------------------------------------ client requests
    @api.model
    def _request_from_portal(self, client, date_from, date_to):
        """A client asks for a superbill of ``date_from``-``date_to`` (strings from the
        portal form): a draft for staff to check and issue, with the client's billed
        sessions that are on no other superbill, and a to-do for staff.

        While the client has an open request (a draft they asked for that staff have not
        issued), it is widened to the new period: repeated asks never pile up drafts or
        to-dos. Raises UserError, worded for the client. Returns the requested superbill."""
        company = client.company_id or self.env.company
        date_from, date_to = self._request_period(date_from, date_to, company)
        open_request = self._open_request(client, company)
        if open_request:
            return open_request._extend_request(date_from, date_to)
        self._check_period_free(client, company, date_from, date_to)
        sessions = self._billable_sessions(client, company, date_from, date_to)
        if not sessions:
            raise UserError(self._no_sessions_message(client, date_from, date_to))
        superbill = self._create_for_sessions(
            client, company, date_from, date_to, sessions, requested_by_client=True
        )
        client._billing_schedule_activity(
            superbill,
            self.env._("Client requested a superbill"),
            self.env._("Check it and use “Check and Issue”."),
            company,
        )
        return superbill

    @api.model
    def _request_period(self, date_from, date_to, company):
        """The dates of a client's request, or a UserError saying which periods they may ask
        for (at most REQUEST_MAX_MONTHS months, within the last REQUEST_YEARS_BACK years)."""
        try:
            start, end = fields.Date.to_date(date_from), fields.Date.to_date(date_to)
        except (TypeError, ValueError):
            start = end = None
        if not start or not end:
            raise UserError(
                self.env._("Choose the first and the last day of the period with the calendar.")
            )
        today = company._billing_local_date(fields.Datetime.now())
        earliest = today - relativedelta(years=REQUEST_YEARS_BACK)
        if not earliest <= start <= end <= today or self._too_long(start, end):
            raise UserError(
                self.env._(
                    "Choose a period of at most %(months)s months, from %(earliest)s at the "
                    "earliest to today (%(today)s) at the latest, starting on or before the "
                    "day it ends.",
                    months=REQUEST_MAX_MONTHS,
                    earliest=format_date(self.env, earliest),
                    today=format_date(self.env, today),
                )
            )
        return start, end

    @api.model
    def _too_long(self, start, end):
        return end >= start + relativedelta(months=REQUEST_MAX_MONTHS)

    @api.model
    def _open_request(self, client, company):
        """The client's request that staff have not issued yet, if any."""
        return self.search(
            [
                ("partner_id", "=", client.id),
                ("company_id", "=", company.id),
                ("requested_by_client", "=", True),
                ("state", "=", "draft"),
            ],
            order="id",
            limit=1,
        )

    def _extend_request(self, date_from, date_to):
        """Widen this open request to also cover ``date_from``-``date_to``, with the
        client's sessions of the wider period that are on no superbill. Returns self."""
        self.ensure_one()
        start, end = min(self.date_start, date_from), max(self.date_end, date_to)
        if self._too_long(start, end):
            raise UserError(
                self.env._(
                    "The practice is preparing the superbill you asked for, from %(start)s to "
                    "%(end)s. A superbill covers at most %(months)s months: once it is issued, "
                    "ask for the rest.",
                    start=format_date(self.env, self.date_start),
                    end=format_date(self.env, self.date_end),
                    months=REQUEST_MAX_MONTHS,
                )
            )
        if (start, end) != (self.date_start, self.date_end):
            self._check_period_free(self.partner_id, self.company_id, start, end)
        sessions = self._billable_sessions(self.partner_id, self.company_id, start, end)
        if (start, end) == (self.date_start, self.date_end) and not sessions:
            return self
        self.write(
            {
                "date_start": start,
                "date_end": end,
                "line_ids": [Command.create({"session_id": s.id}) for s in sessions],
            }
        )
        self._message_log(
            body=self.env._(
                "The client asked again: the request now covers %(start)s to %(end)s.",
                start=format_date(self.env, start),
                end=format_date(self.env, end),
            )
        )
        return self

    @api.model
    def _check_period_free(self, client, company, start, end):
        """Raise if the client has a live superbill of exactly this period (one per period)."""
        if self._find_live(client, company, start, end):
            raise UserError(
                self.env._(
                    "A superbill from %(start)s to %(end)s exists already: issued, or being "
                    "prepared by the practice. If a session is missing from it, please contact "
                    "the practice.",
                    start=format_date(self.env, start),
                    end=format_date(self.env, end),
                )
            )

    @api.model
    def _no_sessions_message(self, client, start, end):
        """Why a request of ``start``-``end`` finds nothing to put on a superbill."""
        on_superbills = self.env["practice.superbill.line"].search_count(
            [
                ("superbill_id.partner_id", "=", client.id),
                ("superbill_state", "!=", "cancelled"),
                ("date", ">=", start),
                ("date", "<=", end),
            ],
            limit=1,
        )
        dates = {"start": format_date(self.env, start), "end": format_date(self.env, end)}
        if on_superbills:
            return self.env._(
                "Your sessions from %(start)s to %(end)s are already on a superbill: issued, "
                "or being prepared by the practice.",
                **dates,
            )
        return self.env._(
            "You have no billed sessions from %(start)s to %(end)s. A session can go on a "
            "superbill once it has been invoiced.",
            **dates,
        )

    # ------------------------------------------------------------------ pre-flight
    def _preflight_and_issue(self):
        """Issue complete superbills; leave the others in draft, saying what is missing.

        A draft is checked against the data as it is now: its lines are read again from
        their sessions and the client's diagnoses (staff may have completed them)."""
        drafts = self.filtered(lambda s: s.state == "draft")
        drafts.line_ids._refresh_from_sessions()
        drafts._refresh_subscriber()
        for superbill in self:
            missing = superbill._missing_information()
            if missing:
                superbill.missing_info = "\n".join(missing)
                superbill._ask_staff_to_complete(missing)
            else:
                superbill.write(
                    {
                        "state": "issued",
                        "missing_info": False,
                        "date_issued": superbill.company_id._billing_local_date(
                            fields.Datetime.now()
                        ),
                    }
                )

    def _refresh_subscriber(self):
        """Read the policy holder and the client's relationship to them from the client as
        recorded now (see subscriber_id, subscriber_relationship)."""
        for superbill in self:
            client = superbill.partner_id.sudo()
            subscriber = self._subscriber_of(client)
            superbill.write(
                {
                    "subscriber_id": subscriber.id,
                    "subscriber_relationship": (
                        "self" if subscriber == client else client.billing_insured_relationship
                    ),
                }
            )

    @api.model
    def _subscriber_of(self, client):
        """The policy holder of ``client`` (read with sudo by the caller): the one recorded,
        else the responsible party (who pays), else the client."""
        return client.billing_subscriber_id or client.billing_responsible_id or client

    def _missing_subscriber_information(self, client):
        """What is wrong with the insured of this superbill, one sentence or none: a client
        whose policy holder is someone else is not "Self", and one recorded as a spouse,
        child or other of the insured needs the insured recorded."""
        holder, relationship = self.subscriber_id, client.billing_insured_relationship
        if holder and holder != client and relationship in ("self", False):
            return self.env._(
                "%(client)s's relationship to the policy holder %(holder)s (Spouse, Child or "
                "Other, on the client's Billing tab; Self is recorded).",
                client=client.name,
                holder=holder.name,
            )
        if holder == client and relationship not in ("self", False):
            return self.env._(
                "The policy holder of %(client)s, who is recorded as not insured themselves "
                "(their relationship to the insured is not Self): record the policy holder or "
                "the responsible party, or choose Self.",
                client=client.name,
            )
        return None

    def _missing_information(self):
        """Everything an insurer needs that is not recorded, one sentence each."""
        self.ensure_one()
        company, client = self.company_id, self.partner_id.sudo()
        missing = []
        if not company.billing_npi:
            missing.append(self.env._("The practice's NPI (Settings > Practice Billing)."))
        if not company.billing_tax_id:
            missing.append(self.env._("The practice's Tax ID (Settings > Practice Billing)."))
        for clinician in self.line_ids.session_id.user_id:
            if not clinician.billing_npi:
                missing.append(self.env._("The NPI of clinician %(name)s.", name=clinician.name))
        if not client.billing_birthdate:
            missing.append(self.env._("%(client)s's date of birth.", client=client.name))
        if not client.billing_insurance_payer:
            missing.append(self.env._("%(client)s's insurance company.", client=client.name))
        if not client.billing_insurance_member_id:
            missing.append(self.env._("%(client)s's insurance member ID.", client=client.name))
        if subscriber_problem := self._missing_subscriber_information(client):
            missing.append(subscriber_problem)
        for line in self.line_ids:
            if not line.cpt_code:
                missing.append(
                    self.env._(
                        "A CPT code for the service “%(service)s”.", service=line.service_name
                    )
                )
            if not line.diagnosis_ids:
                missing.append(
                    self.env._(
                        "A diagnosis of %(client)s dated on or before %(day)s.",
                        client=client.name,
                        day=line.date,
                    )
                )
        return list(OrderedDict.fromkeys(missing))

    def _ask_staff_to_complete(self, missing):
        self.partner_id._billing_schedule_activity(
            self, self.env._("Complete the superbill"), missing, self.company_id
        )

    def action_new_version(self):
        """Correct an issued superbill: cancel it and make a new version from current data."""
        self.ensure_one()
        self.state = "cancelled"
        self.flush_recordset(["state"])  # free the period for the new version (unique index)
        new = self._create_for_sessions(
            self.partner_id,
            self.company_id,
            self.date_start,
            self.date_end,
            self.line_ids.session_id,
            replaces_id=self.id,
        )
        new._preflight_and_issue()
        new._deliver_issued()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": new.id,
            "view_mode": "form",
        }

    def action_preflight(self):
        """Staff completed the data: check again, issue and deliver if nothing is missing."""
        drafts = self.filtered(lambda s: s.state == "draft")
        drafts._preflight_and_issue()
        drafts._deliver_issued()

    # ------------------------------------------------------------------ diagnoses
    def _diagnoses(self):
        """The diagnoses printed on the superbill, lettered A, B, … in order of first use."""
        self.ensure_one()
        ordered = self.env["practice.client.diagnosis"].sudo()
        # Read for a report the requesting user may print (ir.actions.report checked it):
        # a client's lines hide their diagnoses from the client's own rights.
        for line in self.sudo().line_ids.sorted("date"):
            ordered |= line.diagnosis_ids
        return OrderedDict(zip(ascii_uppercase, ordered, strict=False))
