from unittest.mock import patch

from freezegun import freeze_time

from odoo.tests import tagged

from odoo.addons.base.models.ir_mail_server import IrMailServer, MailDeliveryException
from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestDelivery(PracticeBillingCase, MockEmail):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"billing_auto_invoice": True, "email": "billing@riverside.example"})
        cls.client_portal = cls._create_client(
            "Priya Natarajan", email="priya@example.com", billing_delivery_method="portal"
        )
        cls.client_manual = cls._create_client(
            "Tom Alvarez", email="tom@example.com", billing_delivery_method="manual"
        )
        cls.client_jane.billing_delivery_method = "email"

    def _bill_november(self, *clients):
        for client in clients:
            self._create_session(client, "2026-11-02 15:00:00")
            self._create_session(client, "2026-11-09 15:00:00", service=self.service_45)
        with self.mock_mail_gateway():
            self._cron("2026-12-01 06:00:00")
        return {client: self._invoices_of(client) for client in clients}

    def _send_queued_invoices(self):
        with self.mock_mail_gateway():
            self.env["account.move"]._cron_account_move_send()
        return self._mails

    def test_email_client_gets_the_pdf_through_odoos_sending(self):
        invoice = self._bill_november(self.client_jane)[self.client_jane]
        self.assertEqual(invoice.billing_delivery_method, "email")
        self.assertEqual(invoice.billing_delivery_state, "pending")
        self.assertTrue(invoice.sending_data, "queued for account.move.send's cron")
        mails = self._send_queued_invoices()
        to_jane = [m for m in mails if "jane@example.com" in str(m["email_to"])]
        self.assertEqual(len(to_jane), 1)
        mail = to_jane[0]
        self.assertIn(invoice.name, mail["subject"])
        self.assertIn("billing@riverside.example", mail["email_from"])
        self.assertIn("billing@riverside.example", mail.get("reply_to") or "")
        names = [name for name, _content, _mime in mail["attachments"]]
        self.assertTrue(any(name.endswith(".pdf") for name in names), names)
        self.assertIn("$\xa0280.00", mail["body"])
        self.assertEqual(invoice.billing_delivery_state, "sent")
        self.assertFalse(invoice.sending_data)

    def test_portal_client_gets_a_link_and_nothing_clinical(self):
        invoice = self._bill_november(self.client_portal)[self.client_portal]
        self.assertEqual(invoice.billing_delivery_state, "pending")
        self.assertTrue(invoice.sending_data, "queued for account.move.send's cron")
        mails = [
            m for m in self._send_queued_invoices() if "priya@example.com" in str(m["email_to"])
        ]
        self.assertTrue(self.client_portal.user_ids, "invited to the portal")
        self.assertTrue(self.client_portal.user_ids.has_group("base.group_portal"))
        # Odoo kept the invoice's PDF: the client's invoice page is the invoice, not a
        # "PROFORMA" preview.
        self.assertTrue(invoice.invoice_pdf_report_id)
        notification = [m for m in mails if "client portal" in m["subject"]]
        self.assertEqual(len(notification), 1, [m["subject"] for m in mails])
        body = notification[0]["body"]
        self.assertIn(f"/my/invoices/{invoice.id}?access_token=", body)
        self.assertFalse(notification[0]["attachments"])
        for clinical in ("Psychotherapy", "90837", "90834", "53 min", "150.00", "130.00"):
            self.assertNotIn(clinical, body)
            self.assertNotIn(clinical, notification[0]["subject"])
        self.assertEqual(invoice.billing_delivery_state, "sent")

    def test_manual_client_receives_nothing(self):
        invoice = self._bill_november(self.client_manual)[self.client_manual]
        self.assertEqual(invoice.billing_delivery_state, "manual")
        self.assertFalse(invoice.sending_data)
        self.assertFalse([m for m in self._mails if "tom@example.com" in str(m["email_to"])])
        self.assertFalse(
            [m for m in self._send_queued_invoices() if "tom@example.com" in str(m["email_to"])]
        )

    def test_client_without_email_falls_back_to_manual_and_staff_are_asked(self):
        nomail = self._create_client("Daniel Okafor", billing_delivery_method="portal")
        invoice = self._bill_november(nomail)[nomail]
        self.assertEqual(invoice.billing_delivery_method, "manual")
        self.assertEqual(invoice.billing_delivery_state, "manual")
        activity = nomail.activity_ids.filtered(lambda a: a.summary == "Add an email address")
        self.assertEqual(len(activity), 1)
        # Next month: still one activity, not one per document.
        self._create_session(nomail, "2026-12-02 15:00:00")
        with self.mock_mail_gateway():
            self._cron("2027-01-01 06:00:00")
        self.assertEqual(
            len(nomail.activity_ids.filtered(lambda a: a.summary == activity.summary)), 1
        )

    def test_smtp_failure_is_visible_and_retried(self):
        invoice = self._bill_november(self.client_jane)[self.client_jane]

        def refuse(*args, **kwargs):
            raise MailDeliveryException("Connection refused by mail server")

        with (
            patch.object(IrMailServer, "send_email", side_effect=refuse),
            self.mock_smtplib_connection(),
        ):
            self.env["account.move"]._cron_account_move_send()
        self.assertEqual(invoice.billing_delivery_state, "failed")
        self.assertTrue(invoice.billing_delivery_error)
        failed = self.env["account.move"].search(
            [("billing_delivery_state", "=", "failed"), ("id", "=", invoice.id)]
        )
        self.assertEqual(failed, invoice, "failed documents are searchable")
        # The next hourly run retries the delivery; this time the server answers.
        with self.mock_mail_gateway():
            with freeze_time("2026-12-01 07:00:00"):
                self.env["practice.billing.run"]._cron_billing_run()
            self.env["account.move"]._cron_account_move_send()
        self.assertEqual(invoice.billing_delivery_state, "sent")
        self.assertFalse(invoice.billing_delivery_error)

    def test_reviewed_invoices_are_delivered_when_staff_post_them(self):
        self.company.billing_review_invoices = True
        invoice = self._bill_november(self.client_manual)[self.client_manual]
        self.assertEqual(invoice.state, "draft")
        self.assertFalse(invoice.billing_delivery_state)
        invoice.action_post()
        self.assertEqual(invoice.billing_delivery_state, "manual")


@tagged("-at_install", "post_install")
class TestPastDueReminders(PracticeBillingCase, MockEmail):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.email = "billing@riverside.example"
        cls.immediate = cls.env.ref("account.account_payment_term_immediate")

    def _invoice(self, client, day, amount=150.0):
        # Reminders are for the practice's clients: someone who had a session.
        self._create_session(client, "2026-01-05 15:00:00", billing_attendance="cancelled")
        invoice = self.init_invoice(
            "out_invoice", partner=client, invoice_date=day, amounts=[amount], taxes=[]
        )
        invoice.invoice_payment_term_id = self.immediate
        invoice.action_post()
        return invoice

    def _remind(self, utc_now):
        with self.mock_mail_gateway(), freeze_time(utc_now):
            self.env["account.move"]._cron_billing_past_due_reminders()
        return [m for m in self._mails if "payment reminder" in m["subject"]]

    def test_reminded_after_30_days_not_before(self):
        invoice = self._invoice(self.client_jane, "2026-11-01")
        self.assertFalse(self._remind("2026-11-30 15:00:00"), "29 days past due")
        self.assertFalse(self._remind("2026-12-01 15:00:00"), "30 days is not more than 30")
        reminders = self._remind("2026-12-02 15:00:00")
        self.assertEqual(len(reminders), 1)
        self.assertIn("jane@example.com", str(reminders[0]["email_to"]))
        self.assertIn(invoice.name, reminders[0]["body"])
        self.assertIn("/my/invoices", reminders[0]["body"])
        self.assertEqual(invoice.billing_reminder_count, 1)
        self.assertEqual(str(invoice.billing_last_reminder_date), "2026-12-02")
        self.assertIn("Past-due reminder", invoice.message_ids[0].body)

    def test_one_email_lists_all_past_due_invoices(self):
        first = self._invoice(self.client_jane, "2026-10-01")
        second = self._invoice(self.client_jane, "2026-10-15", amount=130.0)
        reminders = self._remind("2026-12-02 15:00:00")
        self.assertEqual(len(reminders), 1)
        body = reminders[0]["body"]
        self.assertIn(first.name, body)
        self.assertIn(second.name, body)
        self.assertIn("280.00", body)

    def test_paid_invoices_are_not_reminded(self):
        invoice = self._invoice(self.client_jane, "2026-10-01")
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"payment_date": "2026-10-20"})._create_payments()
        self.assertFalse(self._remind("2026-12-02 15:00:00"))

    def test_cadence_and_cap(self):
        invoice = self._invoice(self.client_jane, "2026-09-01")
        self.assertEqual(len(self._remind("2026-10-05 15:00:00")), 1)
        self.assertFalse(self._remind("2026-10-06 15:00:00"), "not the next day")
        self.assertFalse(self._remind("2026-10-11 15:00:00"), "not within 7 days")
        self.assertEqual(len(self._remind("2026-10-12 15:00:00")), 1)
        self.assertEqual(len(self._remind("2026-10-19 15:00:00")), 1)
        self.assertEqual(len(self._remind("2026-10-26 15:00:00")), 1)
        self.assertEqual(invoice.billing_reminder_count, 4)
        self.assertFalse(self._remind("2026-11-02 15:00:00"), "at most 4 per invoice")

    def test_manual_client_and_client_without_email_get_a_staff_activity(self):
        self.client_marcus.billing_delivery_method = "manual"
        nomail = self._create_client("No Mail")
        self._invoice(self.client_marcus, "2026-10-01")
        self._invoice(nomail, "2026-10-01")
        self.assertFalse(self._remind("2026-12-02 15:00:00"))
        for client in (self.client_marcus, nomail):
            summaries = client.activity_ids.mapped("summary")
            self.assertIn("Remind client of past-due invoices", summaries)

    def test_reminders_can_be_turned_off(self):
        self.company.billing_past_due_reminder = False
        self._invoice(self.client_jane, "2026-10-01")
        self.assertFalse(self._remind("2026-12-02 15:00:00"))


@tagged("-at_install", "post_install")
class TestPortalDeliveryFailure(PracticeBillingCase):
    def test_a_portal_problem_fails_the_delivery_not_the_billing(self):
        self.company.billing_auto_invoice = True
        client = self._create_client(
            "Hannah Kim", email="hannah@example.com", billing_delivery_method="portal"
        )
        self._create_session(client, "2026-11-02 15:00:00")
        Partner = type(self.env["res.partner"])

        def refuse(partners):
            raise ValueError("Another user already has this email address")

        run = self._cron("2026-12-01 06:00:00")
        with patch.object(Partner, "_billing_grant_portal_access", refuse):
            self.env["account.move"]._cron_account_move_send()
        invoice = self._invoices_of(client)
        self.assertEqual(run.state, "done", "billed all the same")
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.billing_delivery_state, "failed")
        self.assertEqual(invoice.billing_delivery_method, "portal")
        self.assertIn("already has this email", invoice.billing_delivery_error)
        self.assertEqual(invoice.billing_delivery_attempts, 1)
