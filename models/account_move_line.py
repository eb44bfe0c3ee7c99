from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    # The line says itself which session it bills, from the values that create it (as
    # sale.order.line and contract.line do): an override that adds note, section or fee
    # lines to an invoice cannot make a session's line ambiguous.
    billing_session_id = fields.Many2one(
        "calendar.event",
        string="Session Billed",
        copy=False,
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The session this line bills.",
    )
    billing_session_ids = fields.One2many(
        "calendar.event",
        "billing_invoice_line_id",
        string="Sessions",
        help="The session linked to this line (at most one, enforced by the database): the "
        "session billed, while the invoice is not cancelled.",
    )

    def init(self):
        # A session is on at most one live invoice line, whatever staff click: the last line
        # of defence behind _billing_check_sessions_free().
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS account_move_line_billing_one_live_line
                ON account_move_line (billing_session_id)
             WHERE billing_session_id IS NOT NULL AND parent_state IN ('draft', 'posted')
            """
        )

    def _billing_check_sessions_free(self):
        """Refuse to make these lines live if another live line bills one of their sessions
        (an invoice reset to draft or posted again after its sessions were billed anew)."""
        for line in self.filtered("billing_session_id"):
            session = line.billing_session_id.sudo()
            other = session.billing_invoice_line_id
            if other != line and session._billing_billed():
                raise UserError(
                    self.env._(
                        "%(invoice)s cannot be used again: its session on %(when)s for "
                        "%(client)s is now billed on %(other)s. Cancel %(other)s first, or "
                        "remove that line from %(invoice)s.",
                        invoice=line.move_id.name or line.move_id.display_name,
                        when=session._billing_display_start(),
                        client=session.billing_client_id.display_name,
                        other=other.move_id.name or other.move_id.display_name,
                    )
                )

    def _billing_link_sessions(self):
        """Point each line's session at it, in one statement, unless already linked (the
        billing run links its lines before posting: posting them finds nothing to do).

        Written in SQL rather than through calendar.event.write(), which would cost a few
        queries per session in a run; the ORM cache is invalidated accordingly. The stored
        related billing_invoice_state is set in the same statement."""
        lines = self.filtered(
            lambda line: (
                line.billing_session_id
                and line.billing_session_id.sudo().billing_invoice_line_id != line
            )
        )
        if not lines:
            return
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE calendar_event AS session
                   SET billing_invoice_line_id = line.id,
                       billing_invoice_state = line.parent_state
                  FROM account_move_line AS line
                 WHERE line.id IN %s
                   AND session.id = line.billing_session_id
                   AND session.billing_invoice_line_id IS DISTINCT FROM line.id
                """,
                tuple(lines.ids),
            )
        )
        self.env["calendar.event"].invalidate_model(
            ["billing_invoice_line_id", "billing_invoice_state"]
        )
        self.env["account.move.line"].invalidate_model(["billing_session_ids"])
