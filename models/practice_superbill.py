import logging
from collections import OrderedDict
from datetime import timedelta
from string import ascii_uppercase

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

SUPERBILL_STATES = [("draft", "Draft"), ("issued", "Issued"), ("cancelled", "Cancelled")]


class PracticeSuperbill(models.Model):
    """What a client sends their insurer to be reimbursed for a month of sessions."""

    _name = "practice.superbill"
    _billing_report = "practice_billing.action_report_superbill"
    _description = "Superbill"
    _inherit = [
        "mail.thread",
        "mail.activity.mixin",
        "portal.mixin",
        "practice.billing.delivery.mixin",
    ]
    _order = "date_start desc, id desc"

    name = fields.Char(compute="_compute_name", store=True)
    partner_id = fields.Many2one(
        "res.partner", string="Client", required=True, index=True, tracking=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    date_start = fields.Date(string="From", required=True)
    date_end = fields.Date(string="To", required=True)
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

    @api.depends("partner_id", "date_start", "date_end")
    def _compute_name(self):
        for superbill in self:
            superbill.name = self.env._(
                "Superbill %(client)s %(start)s to %(end)s",
                client=superbill.partner_id.name or "",
                start=superbill.date_start or "",
                end=superbill.date_end or "",
            )

    @api.depends("line_ids.charge", "line_ids.amount_paid")
    def _compute_amounts(self):
        for superbill in self:
            superbill.amount_total = sum(superbill.line_ids.mapped("charge"))
            superbill.amount_paid = sum(superbill.line_ids.mapped("amount_paid"))

    def _billing_email_template(self):
        return "practice_billing.mail_template_superbill_email"

    def _billing_portal_template(self):
        return "practice_billing.mail_template_superbill_portal"

    @api.model
    def _billing_deliverable_domain(self):
        return [("state", "=", "issued")]

    def _get_report_base_filename(self):
        """Used by the portal's PDF download (portal.mixin)."""
        self.ensure_one()
        return self.name

    def _compute_access_url(self):
        result = super()._compute_access_url()
        for superbill in self:
            superbill.access_url = f"/my/superbills/{superbill.id}"
        return result

    # ------------------------------------------------------------------ generation
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

    def _freeze_pdfs(self):
        """Print these issued superbills now, together: the report keeps each PDF, so what
        the client, the insurer and staff get is fixed at issue, whenever they print it.

        Printing never blocks issuing: if it fails, each PDF is kept at its first print."""
        if not self:
            return
        try:
            with self.env.cr.savepoint():
                # A superbill already printed keeps its PDF: the report reuses it.
                self.env["ir.actions.report"]._billing_render_each(self._billing_report, self.ids)
        except Exception as error:  # printing never blocks issuing
            _logger.warning("Superbills %s issued but not printed yet: %s", self.ids, error)

    def _frozen_pdf(self):
        """The PDF kept when this superbill was issued (an ir.attachment), if any."""
        self.ensure_one()
        return self.env.ref(self._billing_report).retrieve_attachment(self)

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
        """Attended, invoiced sessions of ``clients`` in the period (local dates): never
        missed-session fees."""
        start = company._billing_local_midnight(date_start)
        end = company._billing_local_midnight(date_end + timedelta(days=1))
        return (
            self.env["calendar.event"]
            .sudo()
            .search(
                [
                    ("billing_client_id", "in", clients.ids),
                    ("billing_company_id", "=", company.id),
                    ("billing_attendance", "=", "attended"),
                    ("billing_state", "=", "invoiced"),
                    ("start", ">=", start),
                    ("start", "<", end),
                ],
                order="start, id",
            )
        )

    @api.model
    def _request_from_portal(self, client, date_from, date_to):
        """A client's request: a draft superbill of the period, for staff to issue."""
        date_from, date_to = fields.Date.to_date(date_from), fields.Date.to_date(date_to)
        if not date_from or not date_to or date_from > date_to:
            raise UserError(self.env._("Choose a start date on or before the end date."))
        company = client.company_id or self.env.company
        existing = self._find_live(client, company, date_from, date_to)
        if existing:
            return existing
        sessions = self._billable_sessions(client, company, date_from, date_to)
        if not sessions:
            raise UserError(self.env._("There are no billed sessions in that period."))
        superbill = self._create_for_sessions(client, company, date_from, date_to, sessions)
        superbill.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Client requested a superbill"),
            note=self.env._("Check it and use “Check and Issue”."),
            user_id=self.env["practice.billing.run"]._failure_responsible(client).id,
        )
        return superbill

    # ------------------------------------------------------------------ pre-flight
    def _preflight_and_issue(self):
        """Issue complete superbills; leave the others in draft, saying what is missing."""
        for superbill in self:
            missing = superbill._missing_information()
            if missing:
                superbill.missing_info = "\n".join(missing)
                superbill._ask_staff_to_complete(missing)
            else:
                superbill.write({"state": "issued", "missing_info": False})

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
        summary = self.env._("Complete the superbill")
        if self.activity_ids.filtered(lambda a: a.summary == summary):
            return
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note="\n".join(missing),
            user_id=self.env["practice.billing.run"]._failure_responsible(self.partner_id).id,
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

    def action_print(self):
        return self.env.ref(self._billing_report).report_action(self)

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
        for line in self.line_ids.sorted("date"):
            ordered |= line.diagnosis_ids
        return OrderedDict(zip(ascii_uppercase, ordered, strict=False))
