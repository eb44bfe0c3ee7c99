import logging
from collections import Counter

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, format_date

_logger = logging.getLogger(__name__)

# A CMS-1500 service line points at no more than four diagnoses.
MAX_POINTERS = 4


class PracticeSuperbillLine(models.Model):
    """One attended, billed session on a superbill, as the insurer reads it."""

    _name = "practice.superbill.line"
    _description = "Superbill Service Line"
    _order = "superbill_id, date, id"

    superbill_id = fields.Many2one(
        "practice.superbill", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="superbill_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="superbill_id.currency_id")
    session_id = fields.Many2one("calendar.event", required=True, index=True)
    # Stored so that the database can hold a session to one live superbill (see init).
    superbill_state = fields.Selection(
        related="superbill_id.state", store=True, string="Superbill Status"
    )
    # Copied from the session when the line is made: an issued superbill does not move.
    date = fields.Date(string="Date of Service", compute="_compute_from_session", store=True)
    service_name = fields.Char(string="Service", compute="_compute_from_session", store=True)
    pos_code = fields.Char(string="POS", compute="_compute_from_session", store=True)
    cpt_code = fields.Char(string="CPT", compute="_compute_from_session", store=True)
    modifiers = fields.Char(compute="_compute_from_session", store=True)
    units = fields.Integer(default=1)
    charge = fields.Monetary(compute="_compute_from_session", store=True)
    amount_paid = fields.Monetary(string="Paid", compute="_compute_from_session", store=True)
    diagnosis_ids = fields.Many2many(
        "practice.client.diagnosis",
        compute="_compute_from_session",
        store=True,
        groups="practice_billing.group_billing_manager",
    )
    diagnosis_pointers = fields.Char(compute="_compute_pointers")

    def init(self):
        # A session is on one live (not cancelled) superbill at most, whoever makes the
        # lines and however many do it at once; a correction cancels the old version first.
        cr = self.env.cr
        cr.execute(
            """
            UPDATE practice_superbill_line line
               SET superbill_state = superbill.state
              FROM practice_superbill superbill
             WHERE superbill.id = line.superbill_id
               AND line.superbill_state IS DISTINCT FROM superbill.state
            """
        )
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    """
                    CREATE UNIQUE INDEX IF NOT EXISTS practice_superbill_line_one_live_session
                        ON practice_superbill_line (session_id)
                     WHERE superbill_state != 'cancelled'
                    """
                )
        except psycopg2.errors.UniqueViolation:
            _logger.error(
                "Some sessions are on two superbills that are not cancelled: cancel one of "
                "each (Superbills, filter by session), then update Practice Billing again."
            )

    @api.model_create_multi
    def create(self, vals_list):
        # Before anything is read from the sessions (under sudo, below): a line names one of
        # its own client's sessions of its own practice, never anyone else's.
        self._check_sessions_of_superbills(
            [(vals.get("superbill_id"), vals.get("session_id")) for vals in vals_list]
        )
        self._check_sessions_unclaimed([vals.get("session_id") for vals in vals_list])
        return super().create(vals_list)

    def write(self, vals):
        if "session_id" in vals or "superbill_id" in vals:
            self._check_sessions_of_superbills(
                [
                    (
                        vals.get("superbill_id", line.superbill_id.id),
                        vals.get("session_id", line.session_id.id),
                    )
                    for line in self
                ]
            )
        return super().write(vals)

    @api.model
    def _check_sessions_of_superbills(self, pairs):
        """Refuse a (superbill id, session id) pair whose session is not an attended,
        invoiced session of the superbill's client in the superbill's practice. The
        message names nothing of that session: the caller may not be allowed to read it."""
        # Records iterated from one browse each: their reads below are prefetched together.
        superbills = {
            superbill.id: superbill
            for superbill in self.env["practice.superbill"]
            .sudo()
            .browse(p[0] for p in pairs if p[0])
        }
        sessions = {
            session.id: session
            for session in self.env["calendar.event"].sudo().browse(p[1] for p in pairs if p[1])
        }
        for superbill_id, session_id in pairs:
            superbill, session = superbills.get(superbill_id), sessions.get(session_id)
            if not (superbill and session) or session._billing_session_of(superbill):
                continue
            raise ValidationError(
                self.env._(
                    "A superbill of %(client)s lists only %(client)s's attended, invoiced "
                    "sessions of %(practice)s.",
                    client=superbill.partner_id.display_name,
                    practice=superbill.company_id.name,
                )
            )

    @api.model
    def _check_sessions_unclaimed(self, session_ids):
        """Raise a ValidationError naming the session and its superbill if one of these
        sessions is on a live superbill already, or twice among ``session_ids``."""
        taken = self.sudo().search(
            [("session_id", "in", session_ids), ("superbill_state", "!=", "cancelled")], limit=1
        )
        if taken and not taken.superbill_id.with_env(self.env).has_access("read"):
            raise ValidationError(
                self.env._("One of these sessions is already on another live superbill.")
            )
        if taken:
            raise ValidationError(
                self.env._(
                    "The session of %(day)s with %(client)s is already on %(superbill)s. "
                    "Cancel that superbill, or correct it with “Correct (New Version)”, first.",
                    day=format_date(self.env, taken.date),
                    client=taken.superbill_id.partner_id.name,
                    superbill=taken.superbill_id.name,
                )
            )
        counts = Counter(session_id for session_id in session_ids if session_id)
        twice = [session_id for session_id, count in counts.items() if count > 1]
        if twice:
            raise ValidationError(
                self.env._(
                    "The session “%(session)s” is twice on the same superbill.",
                    session=self.env["calendar.event"].sudo().browse(twice[0]).display_name,
                )
            )

    @api.model
    def _claimed_sessions(self):
        """The ids of sessions on a live superbill, as a subquery for ``not in`` domains."""
        self.flush_model(["session_id", "superbill_state"])
        query = self.sudo()._search([("superbill_state", "!=", "cancelled")])
        return query.subselect(SQL.identifier(query.table, "session_id"))

    @api.depends("session_id")
    def _compute_from_session(self):
        for line in self:
            session = line.session_id.sudo()
            company = session.billing_company_id
            invoice_line = session.billing_invoice_line_id
            line.date = company._billing_local_date(session.start)
            line.service_name = session.billing_product_id.name
            line.pos_code = session.billing_pos_code
            line.cpt_code = session.billing_product_id.billing_cpt_code
            line.modifiers = session.billing_cpt_modifiers
            line.charge = invoice_line.price_total
            line.amount_paid = line._paid_share(invoice_line)
            diagnoses = session.billing_client_id._billing_diagnoses_on(line.date, company)
            line.sudo().diagnosis_ids = diagnoses[:MAX_POINTERS]

    def _refresh_from_sessions(self):
        """Read these lines again from their sessions and the client's current data (for
        drafts: an issued superbill never moves)."""
        self.env.add_to_compute(self._fields["date"], self)
        self._recompute_recordset()

    @staticmethod
    def _paid_share(invoice_line):
        """What the client has paid of this line: its share of what the invoice received."""
        invoice = invoice_line.move_id
        if not invoice.amount_total:
            return 0.0
        paid_ratio = 1 - invoice.amount_residual / invoice.amount_total
        return invoice.currency_id.round(invoice_line.price_total * paid_ratio)

    @api.depends("superbill_id.line_ids", "session_id")
    def _compute_pointers(self):
        for superbill in self.superbill_id:
            letters = {diag: letter for letter, diag in superbill._diagnoses().items()}
            for line in self.filtered(lambda ln, sb=superbill: ln.superbill_id == sb):
                line.diagnosis_pointers = "".join(
                    letters[d] for d in line.sudo().diagnosis_ids if d in letters
                )
