from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import PracticeBillingCase

# Who reads what of practice A's client Jane, by role (README, "Who sees what").
ROLES = (
    "portal_jane",
    "portal_other",
    "employee",
    "billing_user",
    "billing_manager",
    "other_practice_manager",
)
MATRIX = {
    # record kind: roles that may read it
    "superbill": {"portal_jane", "billing_manager"},
    "superbill_line": {"portal_jane", "billing_manager"},
    "statement": {"portal_jane", "billing_user", "billing_manager"},
    "statement_line": {"portal_jane", "billing_user", "billing_manager"},
    "diagnosis": {"billing_manager"},
    "run": {"billing_user", "billing_manager"},
    "run_failure": {"billing_user", "billing_manager"},
    "document_invoice": {"billing_user", "billing_manager"},
    "document_superbill": {"billing_manager"},
    "invoice": {"portal_jane", "billing_user", "billing_manager"},
    # The client sees her own appointment (Odoo's calendar); another practice never sees it.
    "session": {"portal_jane", "employee", "billing_user", "billing_manager"},
}
# A session's billing fields (client, service, fee, status): the practice's staff only. A
# clinician (a plain employee) records them.
SESSION_BILLING = {"employee", "billing_user", "billing_manager"}
# Reports: roles whose print of Jane's document succeeds.
REPORTS = {
    "superbill": ("practice_billing.action_report_superbill", {"portal_jane", "billing_manager"}),
    "statement": (
        "practice_billing.action_report_statement",
        {"portal_jane", "billing_user", "billing_manager"},
    ),
    "invoice": ("account.account_invoices", {"portal_jane", "billing_user", "billing_manager"}),
}


@tagged("-at_install", "post_install")
class TestAccessMatrix(PracticeBillingCase):
    """Every billing model and report, read as each role: exactly the roles entitled to it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        company = cls.company
        company.write(
            {
                "billing_auto_invoice": True,
                "billing_auto_statement": True,
                "billing_auto_superbill": True,
                "billing_npi": "1245319599",
                "billing_tax_id": "12-3456789",
            }
        )
        cls.clinician.billing_npi = "1234567893"
        cls.jane = cls.portal_client
        cls.jane.write(
            {
                "name": "Jane Portal",
                "email": "jane.portal@example.com",
                "billing_delivery_method": "manual",
                "billing_needs_superbill": True,
                "billing_birthdate": "1988-04-12",
                "billing_insurance_payer": "Aetna",
                "billing_insurance_member_id": "W123456789",
            }
        )
        cls.diagnosis = cls.env["practice.client.diagnosis"].create(
            {
                "partner_id": cls.jane.id,
                "code": "F41.1",
                "description": "GAD",
                "date_start": "2026-01-01",
            }
        )
        other_portal = new_test_user(cls.env, login="other_portal", groups="base.group_portal")
        other_company = cls.env["res.company"].create({"name": "Hillside Counseling"})
        other_manager = new_test_user(
            cls.env,
            login="hillside_manager",
            groups="practice_billing.group_billing_manager",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )
        cls.users = {
            "portal_jane": cls.portal_user,
            "portal_other": other_portal,
            "employee": cls.clinician,
            "billing_user": cls.billing_user,
            "billing_manager": cls.billing_manager,
            "other_practice_manager": other_manager,
        }
        cls.session = cls._create_session(cls.jane, "2026-11-02 15:00:00")
        cls._create_failing_session(cls.client_marcus, "2026-11-03 15:00:00")

    def setUp(self):
        super().setUp()
        self._cron("2026-12-01 06:00:00")
        Documents = self.env["practice.billing.document"]
        superbill = self.env["practice.superbill"].search([("partner_id", "=", self.jane.id)])
        statement = self.env["practice.statement"].search([("partner_id", "=", self.jane.id)])
        invoice = self._invoices_of(self.jane)
        run = self.env["practice.billing.run"].search([("company_id", "=", self.company.id)])
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.records = {
            "superbill": superbill,
            "superbill_line": superbill.line_ids,
            "statement": statement,
            "statement_line": statement.line_ids,
            "diagnosis": self.diagnosis,
            "run": run,
            "run_failure": run.failure_ids,
            "document_invoice": Documents.search(
                [("res_model", "=", "account.move"), ("res_id", "=", invoice.id)]
            ),
            "document_superbill": Documents.search(
                [("res_model", "=", "practice.superbill"), ("res_id", "=", superbill.id)]
            ),
            "invoice": invoice,
            "session": self.session,
        }
        for kind, records in self.records.items():
            self.assertTrue(records, kind)

    def _reads(self, user, records):
        records = records.with_user(user)
        try:
            records.check_access("read")
            found = records.search([("id", "in", records.ids)])
            return found == records
        except AccessError:
            return False

    def test_each_role_reads_exactly_what_it_may(self):
        for kind, records in self.records.items():
            for role in ROLES:
                with self.subTest(kind=kind, role=role):
                    self.assertEqual(self._reads(self.users[role], records), role in MATRIX[kind])

    def test_each_role_prints_exactly_what_it_may(self):
        Report = self.env["ir.actions.report"]
        for kind, (report, allowed) in REPORTS.items():
            record = self.records[kind]
            for role in ROLES:
                with self.subTest(report=kind, role=role):
                    try:
                        html = (
                            Report.with_user(self.users[role])
                            ._render_qweb_html(report, record.ids)[0]
                            .decode()
                        )
                        printed = "Jane Portal" in html
                    except AccessError:
                        printed = False
                    self.assertEqual(printed, role in allowed)

    def test_a_superbill_lists_only_its_own_clients_sessions(self):
        """Another practice cannot pull this practice's session (and so its diagnoses) into a
        superbill of its own, nor can one client's superbill list another's session."""
        other_manager = self.users["other_practice_manager"]
        other_company = other_manager.company_id
        Superbill = self.env["practice.superbill"].with_user(other_manager)
        for company, client in ((other_company, self.jane), (self.company, self.client_marcus)):
            with self.subTest(practice=company.name, client=client.name):
                superbills = (
                    Superbill if company == other_company else self.env["practice.superbill"]
                )
                with self.assertRaisesRegex(ValidationError, "lists only") as refused:
                    superbills.with_company(company).create(
                        {
                            "partner_id": client.id,
                            "company_id": company.id,
                            "date_start": "2026-11-01",
                            "date_end": "2026-11-30",
                            "line_ids": [Command.create({"session_id": self.session.id})],
                        }
                    )
                self.assertNotIn(
                    "Jane Portal", str(refused.exception) if client != self.jane else ""
                )

    def test_a_client_of_the_practice_is_hidden_from_another_practice(self):
        """A contact that belongs to the practice (company set, as Billing > Clients makes
        them) is invisible to another practice; a shared contact (no company) is Odoo's
        shared address book, name and insurance included (README)."""
        other_manager = self.users["other_practice_manager"]
        self.jane.company_id = self.company
        with self.assertRaises(AccessError):
            self.jane.with_user(other_manager).read(["name", "billing_insurance_member_id"])
        action = self.env.ref("practice_billing.action_billing_clients")
        context = safe_eval(action.context, {"allowed_company_ids": self.company.ids})
        self.assertEqual(context["default_company_id"], self.company.id)

    def test_health_fields_of_a_client_are_for_billing_staff(self):
        for role in ("employee", "portal_other"):
            with self.subTest(role=role), self.assertRaises(AccessError):
                self.jane.with_user(self.users[role]).read(
                    ["billing_birthdate", "billing_insurance_member_id"]
                )

    def test_session_billing_fields_are_for_staff_of_the_practice(self):
        fields = ["billing_fee", "billing_client_id", "billing_state"]
        for role in ROLES:
            session = self.session.with_user(self.users[role])
            with self.subTest(role=role):
                try:
                    session.read(fields)
                    readable = True
                except AccessError:
                    readable = False
                self.assertEqual(readable, role in SESSION_BILLING)
