from datetime import date
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase
from .pdf import kept_pdf, wkhtmltopdf_runs


class CompletePracticeCase(PracticeBillingCase):
    """A practice with everything an insurer needs recorded, and a client who needs superbills."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.write(
            {
                "billing_auto_invoice": True,
                "billing_auto_superbill": True,
                "billing_npi": "1245319599",
                "billing_tax_id": "12-3456789",
            }
        )
        cls.clinician.billing_npi = "1234567893"
        cls.client_jane.write(
            {
                "billing_needs_superbill": True,
                "billing_birthdate": "1988-04-12",
                "billing_insurance_payer": "Aetna",
                "billing_insurance_member_id": "W123456789",
            }
        )
        cls.anxiety = cls.env["practice.client.diagnosis"].create(
            {
                "partner_id": cls.client_jane.id,
                "code": "F41.1",
                "description": "Generalized anxiety disorder",
                "date_start": "2026-10-01",
            }
        )

    def _superbills(self, client=None):
        return self.env["practice.superbill"].search(
            [("partner_id", "=", (client or self.client_jane).id)]
        )


@tagged("-at_install", "post_install")
class TestSuperbillGeneration(CompletePracticeCase):
    def test_monthly_run_issues_one_superbill_per_client_and_month(self):
        for day in (2, 9, 16, 23):
            self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
        self._create_session(self.client_marcus, "2026-11-02 15:00:00")  # no superbill needed
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(len(superbill), 1)
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(
            (superbill.date_start, superbill.date_end), (date(2026, 11, 1), date(2026, 11, 30))
        )
        self.assertEqual(len(superbill.line_ids), 4)
        self.assertEqual(superbill.amount_total, 600.0)
        line = superbill.line_ids[0]
        self.assertEqual(
            (line.date, line.cpt_code, line.pos_code, line.units),
            (date(2026, 11, 2), "90837", "11", 1),
        )
        self.assertEqual(line.diagnosis_pointers, "A")
        self.assertFalse(self._superbills(self.client_marcus))
        # Re-runs make no second superbill.
        self._cron("2026-12-01 08:00:00")
        self.env["practice.superbill"]._generate(
            self.client_jane, date(2026, 11, 1), date(2026, 11, 30), self.company
        )
        self.assertEqual(len(self._superbills()), 1)

    def test_issued_superbills_are_printed_together_and_kept(self):
        self.client_marcus.write(
            {
                "billing_needs_superbill": True,
                "billing_birthdate": "1990-01-01",
                "billing_insurance_payer": "Cigna",
                "billing_insurance_member_id": "C1",
                "billing_diagnosis_ids": [
                    Command.create(
                        {
                            "code": "F32.0",
                            "description": "Mild depressive episode",
                            "date_start": "2026-10-01",
                        }
                    )
                ],
            }
        )
        for client in (self.client_jane, self.client_marcus):
            self._create_session(client, "2026-11-02 15:00:00")
        with wkhtmltopdf_runs(self.env) as processes:
            self._cron("2026-12-01 06:00:00")
        superbills = self._superbills(self.client_jane) | self._superbills(self.client_marcus)
        self.assertEqual(superbills.mapped("state"), ["issued", "issued"])
        self.assertTrue(all(kept_pdf(superbill) for superbill in superbills))
        self.assertEqual(len(processes), 1, "both printed by one wkhtmltopdf")

    def test_a_printing_failure_never_blocks_issuing(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        Report = type(self.env["ir.actions.report"])
        broken = UserError("Wkhtmltopdf failed (error code: -11).")
        with patch.object(Report, "_run_wkhtmltopdf", side_effect=broken):
            self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(superbill.state, "issued")
        self.assertFalse(kept_pdf(superbill), "kept at its first print instead")

    def test_missed_session_fees_never_appear(self):
        attended = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(
            self.client_jane, "2026-11-09 15:00:00", billing_attendance="late_cancel"
        )
        self._create_session(self.client_jane, "2026-11-16 15:00:00", billing_attendance="no_show")
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(superbill.line_ids.session_id, attended)
        self.assertEqual(superbill.amount_total, 150.0)

    def test_preflight_lists_exactly_what_is_missing(self):
        self.company.billing_npi = False
        self.clinician.billing_npi = False
        self.client_jane.billing_insurance_member_id = False
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_jane, "2026-09-28 15:00:00")  # billed, not November
        # A session needs a service with a CPT code; the service can lose it afterwards.
        self.service_53.billing_cpt_code = False
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills().filtered(lambda s: s.date_start == date(2026, 11, 1))
        self.assertEqual(superbill.state, "draft")
        self.assertEqual(
            superbill.missing_info.splitlines(),
            [
                "The practice's NPI (Settings > Practice Billing).",
                "The NPI of clinician Maya Chen.",
                "Jane Doe's insurance member ID.",
                "A CPT code for the service “Psychotherapy, 53 min”.",
            ],
        )
        self.assertIn("Complete the superbill", superbill.activity_ids.mapped("summary"))
        # Staff complete the data and check again.
        self.company.billing_npi = "1245319599"
        self.clinician.billing_npi = "1234567893"
        self.client_jane.billing_insurance_member_id = "W1"
        self.service_53.billing_cpt_code = "90837"
        superbill.action_preflight()
        self.assertEqual(superbill.state, "issued")

    def test_a_session_before_any_diagnosis_blocks_the_superbill(self):
        self.anxiety.date_start = "2026-11-10"
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_jane, "2026-11-16 15:00:00")
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(superbill.state, "draft")
        self.assertEqual(
            superbill.missing_info, "A diagnosis of Jane Doe dated on or before 2026-11-02."
        )

    def test_a_draft_is_fixed_in_place_once_the_diagnosis_is_recorded(self):
        self.anxiety.unlink()
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(superbill.state, "draft")
        self.assertIn("A diagnosis of Jane Doe", superbill.missing_info)
        # Staff add the missing diagnosis, then "Check and Issue".
        self.env["practice.client.diagnosis"].create(
            {
                "partner_id": self.client_jane.id,
                "code": "F43.23",
                "description": "Adjustment disorder with mixed anxiety and depressed mood",
                "date_start": "2026-10-15",
            }
        )
        superbill.action_preflight()
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertFalse(superbill.missing_info)
        self.assertEqual(superbill.line_ids.diagnosis_ids.mapped("code"), ["F43.23"])
        self.assertEqual(superbill.line_ids.diagnosis_pointers, "A")

    def test_diagnosis_pointers_follow_the_session_dates(self):
        depression = self.env["practice.client.diagnosis"].create(
            {
                "partner_id": self.client_jane.id,
                "code": "F32.1",
                "description": "Major depressive disorder",
                "date_start": "2026-11-15",
                "sequence": 1,
            }
        )
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._create_session(self.client_jane, "2026-11-16 15:00:00")
        self._cron("2026-12-01 06:00:00")
        superbill = self._superbills()
        self.assertEqual(
            list(superbill._diagnoses().items()), [("A", self.anxiety), ("B", depression)]
        )
        self.assertEqual(superbill.line_ids.mapped("diagnosis_pointers"), ["A", "BA"])

    def test_paid_amounts(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self.company.billing_auto_superbill = False
        self._cron("2026-12-01 06:00:00")
        invoice = self._invoices_of(self.client_jane)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 150.0})._create_payments()
        superbill = self.env["practice.superbill"]._generate(
            self.client_jane, date(2026, 11, 1), date(2026, 11, 30), self.company
        )
        self.assertEqual(superbill.amount_total, 150.0)
        self.assertEqual(superbill.amount_paid, 150.0)

    def test_diagnoses_on_superbill_lines_are_for_managers(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._cron("2026-12-01 06:00:00")
        line = self._superbills().line_ids
        self.assertEqual(line.with_user(self.billing_manager).diagnosis_ids, self.anxiety)
        self.assertEqual(line.with_user(self.billing_user).cpt_code, "90837")
        with self.assertRaises(AccessError):
            line.with_user(self.billing_user).read(["diagnosis_ids"])
        with self.assertRaises(AccessError):
            line.with_user(self.portal_user).read(["cpt_code"])


@tagged("-at_install", "post_install")
class TestSuperbillAndStatementDelivery(CompletePracticeCase, MockEmail):
    """Superbills and statements reach clients the way invoices do."""

    def _bill_november_and_deliver(self, method):
        self.client_jane.billing_delivery_method = method
        self.company.billing_auto_statement = True
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        with self.mock_mail_gateway():
            self._cron("2026-12-01 06:00:00")
            # Invoices go out through Odoo's sending (its cron), superbills and statements
            # with the run.
            self.env["account.move"]._cron_account_move_send()
        superbill = self._superbills()
        statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.client_jane.id)]
        )
        return superbill, statement

    def test_email_clients_get_the_pdfs(self):
        superbill, statement = self._bill_november_and_deliver("email")
        mails = [m for m in self._mails if "jane@example.com" in str(m["email_to"])]
        subjects = [m["subject"] for m in mails]
        superbill_mail = next(m for m in mails if "your superbill" in m["subject"])
        statement_mail = next(m for m in mails if "your statement" in m["subject"])
        for mail in (superbill_mail, statement_mail):
            names = [name for name, _content, _mime in mail["attachments"]]
            self.assertTrue(names, subjects)
        self.assertNotIn("F41.1", superbill_mail["body"])
        self.assertNotIn("anxiety", superbill_mail["body"])
        self.assertEqual(superbill.billing_delivery_state, "sent")
        self.assertEqual(statement.billing_delivery_state, "sent")

    def test_portal_clients_get_a_link_without_diagnoses(self):
        superbill, statement = self._bill_november_and_deliver("portal")
        notices = [
            m
            for m in self._mails
            if "client portal" in m["subject"] and "jane@example.com" in str(m["email_to"])
        ]
        self.assertEqual(len(notices), 3, "invoice, superbill and statement")
        for notice in notices:
            self.assertFalse(notice["attachments"])
            for clinical in ("F41.1", "anxiety", "90837", "Psychotherapy"):
                self.assertNotIn(clinical, notice["body"])
        # A superbill opens after logging in: its link carries no access token.
        [superbill_notice] = [m for m in notices if f"/my/superbills/{superbill.id}" in m["body"]]
        self.assertNotIn("access_token", superbill_notice["body"])
        self.assertEqual(superbill.billing_delivery_state, "sent")
        self.assertEqual(statement.billing_delivery_state, "sent")

    def test_manual_clients_and_incomplete_superbills_are_not_sent(self):
        self.client_jane.billing_insurance_member_id = False
        superbill, _statement = self._bill_november_and_deliver("email")
        self.assertEqual(superbill.state, "draft")
        self.assertFalse(superbill.billing_delivery_state, "nothing incomplete is sent")
        self.assertFalse([m for m in self._mails if "your superbill" in m["subject"]])
        self.client_marcus.billing_delivery_method = "manual"
        self.client_marcus.billing_needs_superbill = False
        self._create_session(self.client_marcus, "2026-12-02 15:00:00")
        self.company.billing_auto_statement = True
        with self.mock_mail_gateway():
            self._cron("2027-01-01 06:00:00")
        marcus_statement = self.env["practice.statement"].search(
            [("partner_id", "=", self.client_marcus.id)]
        )
        self.assertEqual(marcus_statement.billing_delivery_state, "manual")


@tagged("-at_install", "post_install")
class TestDocumentsOnDemand(CompletePracticeCase):
    def test_superbill_for_any_period_from_the_client(self):
        self.company.billing_auto_superbill = False
        for day in ("2026-10-05", "2026-10-20", "2026-11-03"):
            self._create_session(self.client_jane, f"{day} 15:00:00")
        self._cron("2026-12-01 06:00:00")
        self.assertFalse(self._superbills())
        action = self.client_jane.action_billing_generate_documents()
        wizard = (
            self.env["practice.billing.generate"]
            .with_context(**action["context"])
            .create({"date_from": "2026-10-01", "date_until": "2026-11-30"})
        )
        self.assertFalse(wizard.generate_invoices)
        self.assertTrue(wizard.generate_superbills)
        wizard.action_generate()
        superbill = self._superbills()
        self.assertEqual(
            (superbill.date_start, superbill.date_end), (date(2026, 10, 1), date(2026, 11, 30))
        )
        self.assertEqual(len(superbill.line_ids), 3)
        self.assertEqual(superbill.state, "issued")

    def test_statement_on_demand(self):
        self._create_session(self.client_marcus, "2026-11-03 15:00:00")
        self._cron("2026-12-01 06:00:00")
        wizard = self.env["practice.billing.generate"].create(
            {
                "date_until": "2026-12-05",
                "generate_invoices": False,
                "generate_statements": True,
                "partner_ids": [(6, 0, self.client_marcus.ids)],
            }
        )
        with freeze_time("2026-12-05 17:00:00"):  # a statement is dated today at the latest
            action = wizard.action_generate()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        statement = run.statement_ids
        self.assertEqual(run.statement_count, 1)
        self.assertEqual(statement.partner_id, self.client_marcus)
        self.assertEqual(statement.date, date(2026, 12, 5))
        self.assertEqual(statement.balance_end, 150.0)
