from freezegun import freeze_time
from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .common import PracticeBillingCase

RELATIONAL = ("many2one", "one2many", "many2many")


@tagged("-at_install", "post_install")
class TestRoles(PracticeBillingCase):
    """Each role of a practice opens every Billing screen it has a menu for and uses its
    buttons; what carries health information stays with Billing Managers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.write(
            {
                "billing_auto_invoice": True,
                "billing_auto_statement": True,
                "billing_auto_superbill": True,
                "email": "billing@riverside.example",
            }
        )
        cls.client_jane.write(
            {"billing_needs_superbill": True, "billing_delivery_method": "manual"}
        )
        cls.env["practice.client.diagnosis"].create(
            {
                "partner_id": cls.client_jane.id,
                "code": "F41.1",
                "description": "GAD",
                "date_start": "2026-01-01",
            }
        )
        cls.client_marcus.billing_delivery_method = "manual"
        cls._create_session(cls.client_jane, "2026-11-02 15:00:00")
        cls._create_failing_session(cls.client_marcus, "2026-11-03 15:00:00")

    def setUp(self):
        super().setUp()
        self._cron("2026-12-01 06:00:00")

    def _spec(self, model_name, fields_info, models_info):
        spec = {}
        for name, info in fields_info.items():
            if info["type"] in RELATIONAL:
                comodel = models_info.get(info["relation"], {}).get("fields", {})
                sub = {
                    sub_name: {}
                    for sub_name, sub_info in comodel.items()
                    if sub_info["type"] not in RELATIONAL
                }
                spec[name] = {"fields": sub or {"display_name": {}}}
            else:
                spec[name] = {}
        return spec

    def _open_every_screen(self, user):
        """Load each Billing menu's views as ``user`` and read what they show, as the web
        client does; return the models opened."""
        root = self.env.ref("practice_billing.menu_billing_root")
        menus = self.env["ir.ui.menu"].with_user(user).search([("id", "child_of", root.id)])
        opened = set()
        for menu in menus.filtered(
            lambda m: m.action and m.action._name == "ir.actions.act_window"
        ):
            action = menu.action.sudo()
            # As the web client evaluates it: with the user's context.
            user_context = {"uid": user.id, "allowed_company_ids": user.company_ids.ids}
            context = safe_eval(action.context or "{}", user_context)
            Model = self.env[action.res_model].with_user(user).with_context(**context)
            for view_type in action.view_mode.split(","):
                if view_type in ("graph", "pivot"):
                    self._read_figures(Model, view_type, safe_eval(action.domain or "[]"))
                    continue
                if view_type not in ("list", "form", "kanban", "calendar"):
                    continue
                result = Model.get_views([(False, view_type)])
                models_info = result["models"]
                fields_info = {
                    name: Model._fields[name].get_description(self.env)
                    for name in models_info[Model._name]["fields"]
                    if name in Model._fields
                }
                spec = self._spec(Model._name, fields_info, models_info)
                records = Model.web_search_read(
                    safe_eval(action.domain or "[]", user_context), spec, limit=5
                )
                if view_type == "form" and records["records"]:
                    Model.browse(records["records"][0]["id"]).web_read(spec)
            opened.add(Model._name)
        return opened

    def _read_figures(self, Model, view_type, domain):
        """Read a graph or pivot view's figures as the web client does (read_group)."""
        arch = etree.fromstring(Model.get_views([(False, view_type)])["views"][view_type]["arch"])
        measures = [
            f"{node.get('name')}:sum"
            for node in arch.iter("field")
            if node.get("type") == "measure"
        ]
        groupby = [
            f"{node.get('name')}:{node.get('interval')}"
            if node.get("interval")
            else node.get("name")
            for node in arch.iter("field")
            if node.get("type") != "measure"
        ]
        return Model.read_group(domain, measures, groupby, lazy=False)

    def test_front_desk_opens_every_screen_without_health_information(self):
        opened = self._open_every_screen(self.billing_user)
        self.assertIn("practice.billing.run", opened)
        self.assertIn("practice.billing.document", opened)
        self.assertNotIn("practice.superbill", opened)
        documents = self.env["practice.billing.document"].with_user(self.billing_user).search([])
        self.assertTrue(documents)
        self.assertNotIn("superbill", documents.mapped("document_type"))

    def test_billing_manager_opens_every_screen(self):
        opened = self._open_every_screen(self.billing_manager)
        self.assertIn("practice.superbill", opened)
        superbill = self.env["practice.superbill"].with_user(self.billing_manager).search([])
        self.assertEqual(superbill.line_ids.diagnosis_pointers, "A")

    def test_front_desk_sends_and_marks_invoices_and_statements_delivered(self):
        Documents = self.env["practice.billing.document"].with_user(self.billing_user)
        documents = Documents.search([("delivery_state", "=", "manual")])
        self.assertEqual(set(documents.mapped("document_type")), {"invoice", "statement"})
        documents.action_send()
        documents.action_mark_delivered()
        self.assertEqual(set(Documents.browse(documents.ids).mapped("delivery_state")), {"sent"})

    def test_clinician_has_no_billing_menu_but_records_sessions(self):
        menus = self.env["ir.ui.menu"].with_user(self.clinician).search([])
        self.assertNotIn(self.env.ref("practice_billing.menu_billing_root"), menus)
        with freeze_time("2026-12-02 12:00:00"):
            session = (
                self.env["calendar.event"]
                .with_user(self.clinician)
                .create(
                    {
                        "name": "Jane Doe session",
                        "start": "2026-12-02 15:00:00",
                        "stop": "2026-12-02 15:53:00",
                        "partner_ids": [(6, 0, self.client_jane.ids)],
                        "billing_product_id": self.service_53.id,
                    }
                )
            )
        self.assertEqual(session.billing_fee, 150.0)

    @freeze_time("2026-12-05 12:00:00")
    def test_the_generate_wizard_follows_one_rule_with_or_without_clients(self):
        Wizard = self.env["practice.billing.generate"].with_user(self.billing_user)
        everyone = Wizard.create({"generate_invoices": False, "generate_statements": True})
        everyone.action_generate()
        made = self.env["practice.statement"].search([("date", "=", "2026-12-05")])
        self.assertEqual(made.partner_id, self.client_jane)
        chosen = Wizard.create(
            {
                "generate_invoices": False,
                "generate_statements": True,
                "date_until": "2026-12-04",
                "partner_ids": [(6, 0, self.client_jane.ids)],
            }
        )
        chosen.action_generate()
        self.assertTrue(self.env["practice.statement"].search([("date", "=", "2026-12-04")]))
        superbills = Wizard.create(
            {
                "generate_invoices": False,
                "generate_superbills": True,
                "partner_ids": [(6, 0, self.client_jane.ids)],
            }
        )
        with self.assertRaisesRegex(UserError, "only a Billing Manager"):
            superbills.action_generate()
