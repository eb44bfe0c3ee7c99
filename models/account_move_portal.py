from odoo import api, fields, models

# A line that bills a session of the practice (account.move.line.billing_session_id, indexed).
BILLS_A_SESSION = [("billing_session_id", "!=", False)]


class AccountMove(models.Model):
    """Who pays (#14) in the client portal: a practice's invoice is its payer's alone.

    Odoo's portal rule on invoices (account.account_invoice_rule_portal) opens an invoice
    to every contact of its partner's commercial partner that follows it: a household set up
    as a company with contacts, or a child filed under a parent, would read each other's
    invoices, which name services, CPT codes and clinicians. The global rule
    ``account_move_rule_portal_payer`` (security/practice_billing_rules.xml) narrows that, for
    portal users only, to the invoice's partner (who pays it) for invoices that bill sessions
    (see billing_bills_sessions); every other invoice keeps Odoo's behaviour."""

    _inherit = "account.move"

    billing_bills_sessions = fields.Boolean(
        string="Bills Sessions",
        compute="_compute_billing_bills_sessions",
        search="_search_billing_bills_sessions",
        help="A line bills a session of the practice, or it is the credit note of such an "
        "invoice. The client portal shows it to its customer alone (who pays it), never to "
        "the other contacts of the same company or household.",
    )

    @api.depends("line_ids.billing_session_id", "reversed_entry_id")
    def _compute_billing_bills_sessions(self):
        # The same definition as the search, so the portal rule reads one way whether the
        # ORM searches (lists, counters) or filters records it holds (check_access).
        billing = self.search(
            [("id", "in", self._origin.ids), ("billing_bills_sessions", "=", True)]
        )
        for move in self:
            move.billing_bills_sessions = move._origin in billing

    def _search_billing_bills_sessions(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        bills = [
            "|",
            ("line_ids", "any", BILLS_A_SESSION),
            # A credit note made from such an invoice (Odoo's Reverse) carries no session
            # link on its lines (billing_session_id is not copied), yet credits them.
            ("reversed_entry_id", "any", [("line_ids", "any", BILLS_A_SESSION)]),
        ]
        return bills if (operator == "=") == value else ["!", *bills]
