from odoo import api, models


class CalendarRecurrence(models.Model):
    _inherit = "calendar.recurrence"

    @api.ondelete(at_uninstall=False)
    def _unlink_except_billed_sessions(self):
        """Deleting a recurrence detaches its sessions in SQL; billed ones must stay as billed."""
        self.calendar_event_ids._billing_check_not_billed()
