from freezegun import freeze_time

from odoo.exceptions import ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestInputs(PracticeBillingCase):
    """Bad input gets a clear error naming the record and the fix; nothing is changed."""

    @freeze_time("2026-11-27 12:00:00")
    def test_a_negative_fee_is_refused_not_made_unbillable(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with self.assertRaisesRegex(ValidationError, "Jane Doe session.*negative"):
            session.billing_fee = -150.0
        with self.assertRaisesRegex(ValidationError, "negative"):
            self._create_session(self.client_jane, "2026-11-09 15:00:00", billing_fee=-1.0)

    def test_an_eleven_digit_npi_is_refused_not_truncated(self):
        # 1245319599 is a valid NPI: one digit too many must not be cut back into it.
        with self.assertRaisesRegex(ValidationError, "12453195991.*not valid"):
            self.company.billing_npi = "12453195991"
        clinician = new_test_user(self.env, login="npi_clinician", name="Sam Ortiz")
        with self.assertRaisesRegex(ValidationError, "Sam Ortiz"):
            clinician.billing_npi = "12345678933"
        with self.assertRaisesRegex(ValidationError, "taxonomy"):
            clinician.billing_taxonomy_code = "101YM0800XX"

    @freeze_time("2026-11-27 12:00:00")
    def test_a_date_of_birth_in_the_future_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "Jane Doe.*future"):
            self.client_jane.billing_birthdate = "2027-01-01"
        self.client_jane.billing_birthdate = "1990-01-01"

    def test_reminder_settings_must_make_sense(self):
        for field, value, message in (
            ("billing_past_due_days", -5, "negative"),
            ("billing_reminder_interval_days", 0, "at least 1 day"),
            ("billing_reminder_max", 0, "at least 1 reminder"),
        ):
            with self.assertRaisesRegex(ValidationError, message):
                self.company[field] = value
            self.company.invalidate_recordset(flush=False)  # the refused request is rolled back
        settings = Form(self.env["res.config.settings"])
        settings.billing_reminder_interval_days = 0
        with self.assertRaises(ValidationError):
            settings.save().execute()

    def test_an_email_failure_reads_as_words_with_the_fix(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with freeze_time("2026-11-27 12:00:00"):
            self.client_jane.action_billing_invoice_now()
        invoice = self._invoices_of(self.client_jane)
        reason = invoice._billing_email_failure_reason("mail_email_invalid")
        self.assertNotIn("mail_email_invalid", reason)
        self.assertIn("Invalid email address", reason)
        self.assertIn("Correct the email address of Jane Doe", reason)
