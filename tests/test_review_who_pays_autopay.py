"""An attacker's review of Who pays (#14) and AutoPay (#13): each test is a path someone
could take to reach data or money that is not theirs, and the answer they must get."""

import json
import re
from datetime import date, datetime, timedelta

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import JsonRpcException, new_test_user, tagged

from odoo.addons.mail.tests.common import MockEmail

from . import test_responsible_party as family
from .autopay_common import AutopayFixtures
from .common import PracticeBillingCase, PracticeHttpCase

RUN = "2026-12-01 06:00:00"
DAY = "2026-12-%02d 15:00:00"


@tagged("-at_install", "post_install")
class TestReviewAutopayStaff(PracticeBillingCase, MockEmail, AutopayFixtures):
    """AutoPay's state on an invoice decides when a client's card is charged: staff change
    it through Hold, Release and Charge Now (each checks the role), never by writing it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"billing_auto_invoice": True, "billing_autopay_enabled": True, "email": "b@r.example"}
        )
        cls.env["res.company"].sudo().search([("id", "!=", cls.company.id)]).write(
            {"billing_autopay_enabled": False}
        )
        cls._create_people()
        cls.provider = cls._demo_provider(cls.env, cls.company)
        cls.card = cls._enroll(cls.env, cls.client_jane, cls.provider)

    def _bill_november(self):
        for day in (2, 9):
            self._create_session(self.client_jane, f"2026-11-{day:02d} 15:00:00")
        with self.mock_mail_gateway():
            self._cron(RUN)
        return self._invoices_of(self.client_jane)[-1:]

    def _charges(self, invoice):
        return self.env["payment.transaction"].search([("invoice_ids", "in", invoice.ids)])

    def test_staff_cannot_write_the_autopay_state_to_force_a_charge(self):
        """The client was told "we will charge your card on December 4": a Billing User who
        writes the date (or a manager who resets the attempts, or lifts a hold without
        Release and its new notice) would have the card charged before the date the client
        was given to pay another way, without Charge Now (managers only)."""
        invoice = self._bill_november()
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 4))
        for user in (self.billing_user, self.billing_manager):
            for vals in (
                {"billing_autopay_date": date(2026, 12, 1)},
                {"billing_autopay_state": "failed", "billing_autopay_date": date(2026, 12, 1)},
                {"billing_autopay_attempts": 0},
                {"billing_autopay_hold": True},
                {"billing_autopay_reason": "fine"},
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    invoice.with_user(user).write(dict(vals))
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            self.env["account.move"]._cron_billing_autopay()
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        self.assertFalse(self._charges(invoice), "not before the date the client was told")

    def test_an_invoice_cannot_be_created_already_scheduled(self):
        """An invoice made with an AutoPay state is never scheduled by posting (no notice),
        yet the daily job would charge it."""
        with self.assertRaises(AccessError):
            self.env["account.move"].with_user(self.billing_user).create(
                {
                    "move_type": "out_invoice",
                    "partner_id": self.client_jane.id,
                    "billing_autopay_state": "scheduled",
                    "billing_autopay_date": "2026-12-01",
                    "invoice_line_ids": [Command.create({"name": "x", "price_unit": 10.0})],
                }
            )

    def test_billing_staff_still_post_reset_hold_and_release(self):
        """What staff do through the screens goes on working: posting schedules (with the
        notice), reset to draft clears, Hold and Release."""
        Move = self.env["account.move"].with_user(self.billing_user)
        with freeze_time(DAY % 2), self.mock_mail_gateway():
            invoice = Move.create(
                {
                    "move_type": "out_invoice",
                    "partner_id": self.client_jane.id,
                    "invoice_line_ids": [
                        Command.create({"name": "x", "price_unit": 10.0, "tax_ids": []})
                    ],
                }
            )
            invoice.action_post()
            self.assertEqual(invoice.billing_autopay_state, "scheduled")
            self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))
            invoice.action_billing_autopay_hold()
            self.assertEqual(invoice.billing_autopay_state, "held")
            invoice.action_billing_autopay_release()
            self.assertEqual(invoice.billing_autopay_state, "scheduled")
            self.assertEqual(invoice.billing_autopay_date, date(2026, 12, 5))
            invoice.button_draft()
            self.assertFalse(invoice.billing_autopay_state)
        notices = [m for m in self._mails if "AutoPay will charge" in m["subject"]]
        self.assertEqual(len(notices), 1, "posted; released the same day: nothing new to tell")


@tagged("-at_install", "post_install")
class TestReviewAutopayEnrollment(PracticeBillingCase, MockEmail, AutopayFixtures):
    """The enrollment's inputs and the partner's AutoPay fields."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_autopay_enabled = True
        cls._create_people()
        cls.provider = cls._demo_provider(cls.env, cls.company)
        cls.card = cls._enroll(cls.env, cls.client_jane, cls.provider)

    def test_a_limit_that_is_not_a_number_is_refused(self):
        """The portal's limit is any text the client posts: "nan" and "inf" parse as
        floats. A NaN limit is no limit at all (every comparison is false), "inf" breaks
        the write: both are refused in words, as a negative one is."""
        client = self.client_marcus
        card = self.env["payment.token"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.provider.payment_method_ids[:1].id,
                "payment_details": "1111",
                "partner_id": client.id,
                "provider_ref": "demo-marcus",
            }
        )
        for limit in (float("nan"), float("inf"), float("-inf")):
            with self.subTest(limit=limit), self.assertRaisesRegex(UserError, "AutoPay limit"):
                client._billing_autopay_enroll(card, "portal", limit=limit)
        self.assertFalse(client.billing_autopay)
        self.assertFalse(client.billing_autopay_consent_ids)

    def test_a_client_cannot_be_created_holding_anothers_consent(self):
        """A contact created with Jane's consent as theirs: ending "their" AutoPay would
        close Jane's consent while her card is still charged."""
        consent = self.client_jane.billing_autopay_consent_id
        for user in (self.billing_user, self.billing_manager):
            for vals in (
                {"billing_autopay_consent_id": consent.id},
                {"billing_autopay_token_id": self.card.id},
                {"billing_autopay_paused": True},
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    self.env["res.partner"].with_user(user).create({"name": "Mallory", **vals})
        self.assertFalse(consent.ended_on)

    def test_another_practice_never_schedules_a_card_consented_to_this_one(self):
        """Jane (a contact shared by the practices of the database) authorized this
        practice to charge her card. Another practice with AutoPay on must not announce a
        charge to it (her consent names this practice), nor show the card to its staff."""
        other = self.setup_other_company(name="Other Practice")["company"]
        other.billing_autopay_enabled = True
        env = self.env(context=dict(self.env.context, allowed_company_ids=other.ids))
        with self.mock_mail_gateway():
            invoice = self._post_invoice(env, self.client_jane, [90.0], company=other)
        self.assertFalse(invoice.billing_autopay_state)
        self.assertFalse(self._mails, "no notice from the other practice")

    def test_another_practices_staff_cannot_pause_or_end_this_practices_autopay(self):
        """Jane's contact is shared: the other practice's staff may edit it, but her
        consent is this practice's (they cannot even read it): ending it would stop this
        practice's charges and record their name on its evidence."""
        other = self.setup_other_company(name="Other Practice")["company"]
        other_manager = new_test_user(
            self.env,
            login="other_manager",
            groups="practice_billing.group_billing_manager",
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        consent = self.client_jane.billing_autopay_consent_id
        jane = self.client_jane.with_user(other_manager).with_company(other)
        for action in (
            jane.action_billing_autopay_pause,
            jane.action_billing_autopay_end,
            jane.action_billing_autopay_enroll,
        ):
            with self.subTest(action=action.__name__), self.assertRaises(AccessError):
                action()
        self.assertFalse(consent.ended_on)
        self.assertTrue(self.client_jane.billing_autopay)
        self.assertFalse(self.client_jane.billing_autopay_paused)

    def test_the_signed_form_is_read_by_this_practices_billing_staff_only(self):
        """The signed authorization is an attachment of the consent (payment data): opened
        through /web/content by its id, Odoo asks the consent's access."""
        form = self.client_jane.billing_autopay_consent_id.attachment_id
        self.assertTrue(form)
        other = self.setup_other_company(name="Other Practice")["company"]
        employee = new_test_user(self.env, login="clinician2", groups="base.group_user")
        other_manager = new_test_user(
            self.env,
            login="other_manager",
            groups="practice_billing.group_billing_manager",
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        for user in (employee, other_manager, self.portal_user):
            Attachment = self.env["ir.attachment"].with_user(user)
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                Attachment.browse(form.id).read(["datas"])
            if not user.share:
                self.assertFalse(Attachment.search([("id", "=", form.id)]), user.login)
        self.assertTrue(form.with_user(self.billing_user).read(["datas"])[0]["datas"])


@tagged("-at_install", "post_install")
class TestReviewWhoPaysAcrossPractices(family.FamilyCase):
    """Emma is a contact without a company (Odoo's shared address book, which every
    practice's staff may edit). Staff of another practice make one of their own contacts
    her responsible party: her practice's superbills (her diagnoses) must not follow."""

    def test_a_payer_of_another_practice_never_receives_a_superbill(self):
        other = self.setup_other_company(name="Other Practice")["company"]
        other_staff = new_test_user(
            self.env,
            login="other_manager",
            groups="practice_billing.group_billing_manager,base.group_partner_manager",
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        mallory = self.env["res.partner"].create(
            {"name": "Mallory", "email": "mallory@other.example", "company_id": other.id}
        )
        self._create_session(self.emma, "2026-11-02 15:00:00")
        with freeze_time("2026-11-10 12:00:00"), self.mock_mail_gateway():
            self.emma.action_billing_invoice_now()
        with self.assertRaises(ValidationError) as refused:
            self.emma.with_user(other_staff).billing_responsible_id = mallory
        self.assertIn("Mallory belongs to Other Practice", str(refused.exception))
        self._run_december_first()
        superbill = self.env["practice.superbill"].search([("partner_id", "=", self.emma.id)])
        self.assertEqual(superbill.state, "issued")
        self.assertEqual(superbill.subscriber_id, self.anna, "the insured is not Mallory")
        self.assertFalse(self._mails_to("mallory@"), "nothing to another practice's contact")
        self.assertTrue(
            [m for m in self._mails_to("anna@example.com") if "superbill" in m["subject"]]
        )


@tagged("-at_install", "post_install")
class TestReviewWhoPaysPortal(PracticeHttpCase):
    """Kim paid for her son Leo, then his father Ray took over. Each logs in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._record_provider_identifiers()
        cls.kim = cls._portal_client("kim", "Kim Hart")
        cls.ray = cls._portal_client("ray", "Ray Hart")
        cls.leo = cls._create_client("Leo Hart")
        cls._record_insurance(cls.leo, member_id="M-Leo")
        cls.leo.write(
            {"billing_responsible_id": cls.kim.id, "billing_insured_relationship": "child"}
        )
        month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        session = cls._create_session(
            cls.leo,
            datetime.combine(month.replace(day=3), datetime.min.time()).replace(hour=15),
            billing_company_id=cls.company.id,
        )
        cls.invoice = cls.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": cls.kim.id,
                "invoice_date": date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": session.billing_product_id.id,
                            "name": "Leo Hart: 90837",
                            "price_unit": 150.0,
                            "tax_ids": [],
                            "billing_session_id": session.id,
                        }
                    )
                ],
            }
        )
        cls.invoice.action_post()
        cls.superbill = cls.env["practice.superbill"]._generate(cls.leo, month, end, cls.company)
        assert cls.superbill.state == "issued", cls.superbill.missing_info

    def _status(self, url):
        return self.url_open(url, allow_redirects=False).status_code

    def test_a_replaced_payer_keeps_their_invoice_not_the_childs_superbills(self):
        self.leo.billing_responsible_id = self.ray
        self.authenticate("kim", "kim")
        self.assertEqual(self._status(self.invoice.access_url), 200, "the invoice she paid")
        self.assertIn(self._status(self.superbill.access_url), (403, 404))
        self.assertFalse(self._rpc("practice.superbill", "search_read", [], fields=["id"]))
        self.authenticate("ray", "ray")
        self.assertEqual(self._status(self.superbill.access_url), 200, "the current payer's")
        self.assertNotEqual(self._status(self.invoice.access_url), 200, "not Kim's invoice")

    def test_a_payer_reads_no_billing_field_of_anybody_over_rpc(self):
        self.authenticate("kim", "kim")
        for fields in (
            {"billing_dependent_ids": {"fields": {"display_name": {}}}},
            {"billing_responsible_id": {"fields": {"display_name": {}}}},
            {"billing_autopay": {}},
        ):
            with self.subTest(fields=fields), self.assertRaises(JsonRpcException):
                self._rpc("res.partner", "web_read", [self.kim.id], specification=fields)
        with self.assertRaises(JsonRpcException):
            self._rpc(
                "practice.superbill",
                "web_read",
                [self.superbill.id],
                specification={"partner_id": {"fields": {"billing_birthdate": {}}}},
            )
        groups = self._rpc(
            "practice.superbill", "read_group", [], ["partner_id"], ["partner_id"], lazy=False
        )
        self.assertEqual([g["partner_id"][0] for g in groups], [self.leo.id])
        self.authenticate("ray", "ray")
        self.assertFalse(
            self._rpc("practice.superbill", "read_group", [], ["partner_id"], ["partner_id"])
        )

    def test_a_client_cannot_name_a_responsible_party_in_my_account(self):
        """Naming someone as one's payer would send them one's bills (and them one's
        superbills): only staff set it."""
        self.authenticate("ray", "ray")
        page = self.url_open("/my/account").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = self.url_open(
            "/my/account",
            data={
                "csrf_token": csrf,
                "name": "Ray Hart",
                "email": "ray@example.com",
                "phone": "1",
                "street": "1 Main",
                "city": "Portland",
                "zipcode": "97201",
                "country_id": str(self.env.ref("base.us").id),
                "billing_responsible_id": str(self.kim.id),
            },
        )
        self.assertIn("Unknown field &#39;billing_responsible_id&#39;", response.text)
        self.assertFalse(self.ray.billing_responsible_id)
        with self.assertRaises(JsonRpcException):
            self._rpc(
                "res.partner", "write", [self.ray.id], {"billing_responsible_id": self.kim.id}
            )
        self.assertFalse(self.ray.billing_responsible_id)


@tagged("-at_install", "post_install")
class TestReviewAutopayCardOverRpc(PracticeHttpCase, MockEmail, AutopayFixtures):
    """Pat pays with AutoPay (card 4242); Hal, Pat's father, shares the household, so
    Odoo's portal shows him the invoices Pat follows that bill no session. Sol is a
    stranger. The card's digits are billing staff's and, in AutoPay's emails, Pat's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_autopay_enabled = True
        cls.provider = cls._demo_provider(cls.env, cls.company)
        household = cls.env["res.partner"].create({"name": "Rivera Household", "is_company": True})
        cls.pat = cls._portal_client("pat", "Pat Rivera", parent_id=household.id)
        cls.hal = cls._portal_client("hal", "Hal Rivera", parent_id=household.id)
        cls.sol = cls._portal_client("sol", "Sol Park")
        cls._enroll(cls.env, cls.pat, cls.provider)
        cls.manager = new_test_user(
            cls.env,
            login="boss",
            groups="practice_billing.group_billing_manager,account.group_account_invoice",
            company_id=cls.company.id,
        )

    def _post(self, client, amount):
        with self.mock_mail_gateway():
            invoice = self._post_invoice(self.env, client, [amount], company=self.company)
        return invoice, self._mails

    def test_the_card_is_read_by_billing_staff_and_told_to_its_client_alone(self):
        invoice, mails = self._post(self.pat, 120.0)
        self.assertEqual(invoice.billing_autopay_state, "scheduled")
        notices = [m for m in mails if "AutoPay will charge" in m["subject"]]
        self.assertEqual(len(notices), 1)
        self.assertIn("pat@example.com", str(notices[0]["email_to"]))
        self.assertIn("4242", notices[0]["body"], "the client is told which card")
        self.assertIn("4242", invoice.with_user(self.manager).billing_autopay_card)
        domain = [("id", "=", invoice.id)]
        for login, sees_invoice in (("hal", True), ("sol", False), ("pat", True)):
            self.authenticate(login, login)
            with self.subTest(login=login):
                ids = [r["id"] for r in self._rpc("account.move", "search_read", domain, ["id"])]
                self.assertEqual(ids, invoice.ids if sees_invoice else [], "Odoo's sharing")
                if login == "pat":
                    self.assertEqual(self.url_open(invoice.get_portal_url()).status_code, 200)
                self.assertNotIn("billing_autopay_card", self._rpc("account.move", "fields_get"))
            for method, args, kwargs in (
                ("search_read", [domain, ["billing_autopay_card"]], {}),
                ("read", [invoice.ids, ["billing_autopay_card"]], {}),
                ("web_read", [invoice.ids], {"specification": {"billing_autopay_card": {}}}),
                (
                    "web_search_read",
                    [domain],
                    {"specification": {"billing_autopay_card": {}}},
                ),
                ("export_data", [invoice.ids, ["billing_autopay_card"]], {}),
            ):
                with (
                    self.subTest(login=login, method=method),
                    self.assertRaises(JsonRpcException) as refused,
                ):
                    self._rpc("account.move", method, *args, **kwargs)
                self.assertNotIn("4242", str(refused.exception))
            # A field that is not stored is never grouped nor aggregated: asked, it is left out.
            groups = self._rpc(
                "account.move", "read_group", domain, ["billing_autopay_card"], ["partner_id"]
            )
            self.assertNotIn("4242", str(groups), login)

    def test_charge_now_over_json_rpc_refuses_an_invoice_never_announced(self):
        """Sol enrolls after his invoice was posted: a manager's JSON-RPC call of the
        hidden button must not charge a card for a charge its client was never told of."""
        invoice, _mails = self._post(self.sol, 90.0)
        self.assertFalse(invoice.billing_autopay_state)
        self._enroll(self.env, self.sol, self.provider)
        self.authenticate("boss", "boss")
        # As the web client posts it, to read the message the manager is shown.
        response = self.url_open(
            "/web/dataset/call_kw/account.move/action_billing_autopay_charge_now",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "model": "account.move",
                        "method": "action_billing_autopay_charge_now",
                        "args": [invoice.ids],
                        "kwargs": {},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        ).json()
        error = response["error"]["data"]
        self.assertEqual(error["name"], "odoo.exceptions.UserError")
        self.assertIn(invoice.name, error["message"])
        self.assertIn("no notice was sent", error["message"])
        self.assertFalse(invoice.transaction_ids)
        self.assertEqual(invoice.payment_state, "not_paid")
