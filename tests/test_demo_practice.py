"""The demo database is a practice a new user can try: these tests read the demo data that
``./dev.sh start`` and ``./dev.sh test`` install (skipped in a database without it)."""

import re
import unittest

from dateutil.relativedelta import relativedelta

from odoo import fields
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from odoo.addons.practice_billing.models.npi import is_valid_npi


class DemoPracticeMixin:
    """The demo practice (Odoo's main company) and its clients, read as its billing
    manager."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.env.ref("practice_billing.client_jane_doe", raise_if_not_found=False):
            raise unittest.SkipTest("the database has no demo data")
        cls.company = cls.env.ref("base.main_company")
        cls.manager = new_test_user(
            cls.env,
            login="demo_practice_manager",
            groups="practice_billing.group_billing_manager",
            company_id=cls.company.id,
            company_ids=cls.company.ids,
        )
        cls.menv = cls.env(user=cls.manager, context={"allowed_company_ids": cls.company.ids})
        cls.clients = cls.env["res.partner"]._billing_clients(cls.company)

    @classmethod
    def _demo_client(cls, name):
        return cls.env.ref(f"practice_billing.client_{name}")


@tagged("-at_install", "post_install")
class TestDemoPractice(DemoPracticeMixin, TransactionCase):
    def test_the_company_is_a_practice(self):
        company = self.company
        self.assertEqual(company.name, "Harbor Light Counseling")
        for field in ("street", "city", "zip", "state_id", "country_id", "phone", "email"):
            self.assertTrue(company[field], f"the practice's {field}")
        self.assertTrue(company.website)
        admin = self.env.ref("base.user_admin")
        for text in (company.name, company.email, company.website, admin.email):
            self.assertNotIn("yourcompany", text.lower())
        self.assertTrue(is_valid_npi(company.billing_npi), company.billing_npi)
        self.assertRegex(company.billing_tax_id, r"^\d{2}-\d{7}$")
        self.assertTrue(company.billing_auto_superbill, "superbills are switched on")
        self.assertTrue(company.billing_auto_statement, "statements are switched on")
        self.assertTrue(company.billing_auto_invoice)

    def test_the_practice_has_a_logo_and_letterhead(self):
        company = self.company
        self.assertTrue(company.logo)
        self.assertNotEqual(company.logo, company._get_logo(), "not Odoo's “Your logo”")
        self.assertTrue(company.external_report_layout_id, "a document layout is chosen")
        self.assertTrue(company.primary_color and company.secondary_color)
        self.assertIn("Harbor Light Counseling", company.company_details)
        self.assertIn(company.billing_npi, company.report_footer)
        self.assertTrue(company.report_header, "a tagline")

    def test_documents_carry_the_practice_not_odoos_placeholders(self):
        invoice = self._invoices([("payment_state", "=", "not_paid")])[:1]
        statement = self.menv["practice.statement"].search([], limit=1)
        superbill = self.menv["practice.superbill"].search([("state", "=", "issued")], limit=1)
        Report = self.menv["ir.actions.report"]
        for report, record in (
            ("account.report_invoice", invoice),
            ("practice_billing.report_statement", statement),
            ("practice_billing.report_superbill", superbill),
        ):
            self.assertTrue(record, report)
            html = Report._render_qweb_html(report, record.ids)[0].decode()
            self.assertIn("Harbor Light Counseling", html, report)
            self.assertNotIn("yourcompany", html.lower(), report)
            self.assertNotIn("your logo", html.lower(), report)

    def test_some_invoices_are_paid_others_past_due(self):
        invoices = self._invoices()
        self.assertTrue(invoices.filtered(lambda m: m.payment_state in ("paid", "in_payment")))
        self.assertTrue(invoices.filtered(lambda m: m.payment_state == "partial"))
        today = self.company._billing_local_date(fields.Datetime.now())
        reminded = self.env["account.move"]._billing_past_due_invoices(self.company, today)
        self.assertGreaterEqual(len(reminded.partner_id), 3, "the 30-day reminder has work")
        overdue_days = {(today - invoice.invoice_date_due).days for invoice in reminded}
        self.assertTrue(
            any(days > 60 for days in overdue_days) and any(days <= 60 for days in overdue_days),
            f"invoices in more than one aging bucket: {overdue_days}",
        )
        unpaid_statements = self.menv["practice.statement"].search([("aging_1_30", ">", 0)])
        self.assertTrue(unpaid_statements, "statements show an aging")

    def test_aging_and_a_clients_history_show_something(self):
        owed = self.menv["practice.billing.document"].read_group(
            [("amount_due", "!=", 0)], ["amount_due:sum"], ["aging_bucket"]
        )
        self.assertGreaterEqual(len(owed), 2, f"amounts due in several buckets: {owed}")
        hannah = self._demo_client("hannah_kim").with_env(self.menv)
        invoices = self._invoices([("partner_id", "=", hannah.id)])
        self.assertTrue(hannah.billing_past_due_amount)
        self.assertEqual(hannah.billing_amount_due, sum(invoices.mapped("amount_residual")))
        self.assertEqual(hannah.billing_last_invoice_id, invoices.sorted("invoice_date")[-1])
        self.assertGreater(hannah.billing_document_count, len(invoices), "and statements")

    def test_superbill_clients_have_what_insurers_need_but_one(self):
        needing = self.clients.filtered("billing_needs_superbill")
        self.assertGreaterEqual(len(needing), 4)
        for client in needing:
            for field in ("billing_birthdate", "billing_insurance_payer"):
                self.assertTrue(client[field], f"{client.name}: {field}")
            self.assertTrue(client.billing_insurance_member_id, client.name)
        undiagnosed = needing.filtered(lambda client: not client.billing_diagnosis_ids)
        self.assertEqual(len(undiagnosed), 1, "one client lacks a diagnosis")
        Superbill = self.menv["practice.superbill"]
        issued = Superbill.search([("state", "=", "issued")])
        self.assertEqual(issued.partner_id, needing - undiagnosed)
        self.assertTrue(all(superbill.date_issued for superbill in issued))
        drafts = Superbill.search([("partner_id", "=", undiagnosed.id)])
        self.assertTrue(drafts)
        drafts.action_preflight()  # staff check again: still missing, and said so
        for draft in drafts:
            self.assertEqual(draft.state, "draft")
            self.assertRegex(draft.missing_info, rf"^A diagnosis of {re.escape(undiagnosed.name)}")
            self.assertEqual(
                draft.activity_ids.mapped("summary"), ["Complete the superbill"], draft.name
            )

    def test_clients_can_pay_online_with_the_demo_provider(self):
        payment_demo = self.env["ir.module.module"].search([("name", "=", "payment_demo")])
        self.assertEqual(payment_demo.state, "installed", "the demo installs it")
        provider = self.env.ref("payment.payment_provider_demo")
        self.assertEqual(
            (provider.code, provider.state, provider.is_published, provider.company_id),
            ("demo", "test", True, self.company),
            "published, in test mode, for the practice",
        )
        invoice = self._invoices([("payment_state", "=", "not_paid")])[:1]
        offered = self.env["payment.provider"]._get_compatible_providers(
            self.company.id,
            invoice.partner_id.id,
            invoice.amount_residual,
            currency_id=invoice.currency_id.id,
        )
        self.assertIn(provider, offered, "offered on the client's invoice")
        addon = self.env["ir.module.module"].search([("name", "=", "practice_billing")])
        needed = addon.upstream_dependencies(exclude_states=("uninstallable",))
        self.assertIn("account_payment", needed.mapped("name"))
        self.assertNotIn("payment_demo", needed.mapped("name"), "only the demo installs it")

    def _invoices(self, domain=()):
        return self.menv["account.move"].search(
            [
                ("partner_id", "in", self.clients.ids),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                *domain,
            ]
        )


@tagged("-at_install", "post_install")
class TestDemoWhoPays(DemoPracticeMixin, TransactionCase):
    """A parent who pays for two children and a couple, billed by the next run."""

    def test_the_next_run_bills_each_payer_once(self):
        laura = self.env.ref("practice_billing.payer_laura_bennett")
        chris = self._demo_client("chris_morgan")
        children = self._demo_client("ava_bennett") | self._demo_client("noah_bennett")
        self.assertEqual(children.billing_responsible_id, laura)
        self.assertNotIn(laura, self.clients, "she is no client herself")
        self.assertFalse(any(children.with_env(self.menv).mapped("billing_is_minor_without_payer")))
        # The run of this month's 1st, which bills last month.
        period_start = self.company._billing_period_start(fields.Datetime.now())
        run = (
            self.env["practice.billing.run"]
            .sudo()
            .new(
                {
                    "company_id": self.company.id,
                    "cutoff": self.company._billing_local_midnight(period_start),
                    "invoice_date": period_start,
                }
            )
        )
        groups = run._collect_due_sessions()
        sessions = self.env["calendar.event"].sudo()
        laura_sessions = sessions.browse(groups[(laura.id, 0)])
        self.assertEqual(laura_sessions.billing_client_id, children)
        self.assertEqual(len(laura_sessions), 4, "two each last month, on one invoice")
        couple = sessions.browse(groups[(chris.id, 0)])
        self.assertEqual(len(couple), 2, "each joint session once")
        self.assertEqual(couple.billing_product_id.billing_cpt_code, "90847")


@tagged("-at_install", "post_install")
class TestDemoScope(DemoPracticeMixin, TransactionCase):
    """Odoo's own demo customers (Deco Addict, Azure Interior, …) have invoices in the
    practice's company and meetings in its calendar: they are not its clients."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        odoo_demo = cls.env["ir.model.data"].search(
            [
                ("module", "=", "base"),
                ("model", "=", "res.partner"),
                ("name", "=like", "res_partner_%"),
            ]
        )
        cls.odoo_customers = cls.env["res.partner"].browse(odoo_demo.mapped("res_id"))
        cls.today = cls.company._billing_local_date(fields.Datetime.now())

    def test_odoo_demo_customers_are_there_to_leave_out(self):
        """What makes the tests below able to fail: Odoo's demo data gives these customers
        posted invoices in the practice's company, and its meetings name them as clients."""
        Move = self.env["account.move"]
        invoices = Move.search(
            [
                ("partner_id", "in", self.odoo_customers.ids),
                ("company_id", "=", self.company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
            ]
        )
        self.assertTrue(invoices)
        meetings = self.env["calendar.event"].search(
            [("billing_client_id", "in", self.odoo_customers.ids)]
        )
        self.assertTrue(meetings, "Odoo's demo meetings, with a customer as attendee")
        self.assertFalse(meetings.billing_product_id, "meetings, not sessions")

    def test_they_are_not_clients(self):
        self.assertGreaterEqual(len(self.clients), 11)
        self.assertFalse(self.clients & self.odoo_customers)
        clients_menu = self.env.ref("practice_billing.action_billing_clients")
        listed = self.menv["res.partner"].search(safe_eval(clients_menu.domain))
        # The clients, and those who pay for them (Laura Bennett for her children).
        self.assertEqual(listed, self.clients | self.clients.billing_responsible_id)

    def test_not_in_billing_documents_nor_its_figures(self):
        Document = self.menv["practice.billing.document"]
        self.assertFalse(Document.search([("partner_id", "in", self.odoo_customers.ids)]))
        month_start = self.today.replace(day=1)
        clients_invoices = self.menv["account.move"].search(
            [
                ("partner_id", "in", self.clients.ids),
                ("move_type", "in", ("out_invoice", "out_refund")),
                ("state", "=", "posted"),
                ("invoice_date", ">=", month_start),
                ("invoice_date", "<", month_start + relativedelta(months=1)),
            ]
        )
        figures = Document.retrieve_dashboard()
        self.assertAlmostEqual(
            figures["invoiced_this_month"], sum(clients_invoices.mapped("amount_total_signed"))
        )
        groups = Document.read_group([], ["amount:sum"], ["partner_id"])
        self.assertFalse({group["partner_id"][0] for group in groups} - set(self.clients.ids))

    def test_no_statements_nor_reminders(self):
        Statement = self.menv["practice.statement"]
        made = Statement._generate(Statement._clients_to_issue(self.company), self.today)
        self.assertTrue(made)
        self.assertFalse(made.partner_id & self.odoo_customers)
        # Three months on, every open invoice of the company is past due: still only clients'.
        later = self.today + relativedelta(months=3)
        reminded = self.env["account.move"]._billing_past_due_invoices(self.company, later)
        self.assertTrue(reminded)
        self.assertFalse(reminded.partner_id & self.odoo_customers)

    def test_not_in_the_invoices_menu(self):
        action = self.env.ref("practice_billing.action_billing_invoices")
        invoices = self.menv["account.move"].search(safe_eval(action.domain))
        self.assertTrue(invoices)
        self.assertFalse(invoices.partner_id & self.odoo_customers)
        # Every invoice of the clients and of those who pay for them, and no other.
        parties = self.env["res.partner"]._billing_parties(self.company)
        self.assertEqual(
            invoices,
            self.menv["account.move"].search(
                [
                    ("partner_id", "in", parties.ids),
                    ("move_type", "in", ("out_invoice", "out_refund")),
                ]
            ),
        )
        self.assertTrue(invoices.partner_id < self.clients, "last month's clients wait")

    def test_services_are_the_practices(self):
        action = self.env.ref("practice_billing.action_billing_services")
        services = self.menv["product.template"].search(safe_eval(action.domain))
        self.assertEqual(
            services,
            self.env.ref("practice_billing.svc_90791").product_tmpl_id
            | self.env.ref("practice_billing.svc_90834").product_tmpl_id
            | self.env.ref("practice_billing.svc_90837").product_tmpl_id
            | self.env.ref("practice_billing.svc_90847").product_tmpl_id,
        )
        furniture = self.env.ref("product.product_product_furniture").product_tmpl_id
        self.assertEqual(furniture.type, "service", "Odoo's demo service is a service")
        self.assertNotIn(furniture, services)


@tagged("-at_install", "post_install")
class TestDemoPortal(DemoPracticeMixin, HttpCase):
    def test_the_portal_shows_the_practice(self):
        client = self._demo_client("olivia_brooks")
        user = new_test_user(
            self.env,
            login="olivia_demo",
            groups="base.group_portal",
            partner_id=client.id,
            company_id=self.company.id,
        )
        invoice = self.env["account.move"].search(
            [("partner_id", "=", client.id), ("move_type", "=", "out_invoice")], limit=1
        )
        self.authenticate(user.login, user.login)
        for url in ("/my/home", "/my/invoices", f"/my/invoices/{invoice.id}"):
            page = self.url_open(url)
            self.assertEqual(page.status_code, 200, url)
            self.assertIn("Harbor Light Counseling", page.text, url)
            self.assertNotIn("yourcompany", page.text.lower(), url)
