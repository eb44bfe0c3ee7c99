"""18.0.1.2.0: a session's attendance is empty until staff record one (it used to default to
"Attended", required). A session with nothing recorded is scheduled until it starts, then
billed as attended, exactly as before. Sessions still to come that hold the old default are
cleared, so that they read "Scheduled"; sessions that have started and billed sessions keep
what they hold, so nothing billed or about to be billed changes."""

from odoo import fields


def migrate(cr, version):
    clear_default_attendance_of_future_sessions(cr, fields.Datetime.now())


def clear_default_attendance_of_future_sessions(cr, now):
    cr.execute(
        """
        UPDATE calendar_event
           SET billing_attendance = NULL
         WHERE billing_attendance = 'attended'
           AND start > %s
           AND billing_invoice_state IS DISTINCT FROM 'draft'
           AND billing_invoice_state IS DISTINCT FROM 'posted'
        """,
        [now],
    )
