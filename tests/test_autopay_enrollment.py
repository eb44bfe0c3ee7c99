"""AutoPay (#13): consent and enrollment.

Clients enroll from the portal with a card saved through Odoo's own payment form and its demo
provider (`payment_demo`, the network edge: no card processor is called), staff enroll with a
signed form, pause, resume and end; who may do what."""

import re

from lxml import html

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import JsonRpcException, new_test_user, tagged

from .common import PracticeBillingCase, PracticeHttpCase

SIGNED_FORM = "JVBERi0xLjQKJSBzaWduZWQgZm9ybQo="  # a few bytes of "PDF", base64


class AutopayFixtures:
    """The practice's demo card provider (Odoo's `payment_demo`, in test mode)."""

    @classmethod
    def _demo_provider(cls, company):
        demo = cls.env["payment.provider"].sudo().search([("code", "=", "demo")], limit=1)
        if not demo:
            raise AssertionError("payment_demo is not installed (the demo data installs it)")
        provider = demo.search([("code", "=", "demo"), ("company_id", "=", company.id)], limit=1)
        provider = provider or demo.copy({"company_id": company.id})
        provider.write({"state": "test", "is_published": True, "allow_tokenization": True})
        return provider

    @classmethod
    def _saved_card(cls, partner, provider, last4="4242"):
        """A card ``partner`` saved earlier (paying an invoice online), as Odoo's payment
        tests make one: the portal tests save theirs through the real flow."""
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": provider.payment_method_ids[:1].id,
                    "payment_details": last4,
                    "partner_id": partner.id,
                    "provider_ref": f"demo-{last4}",
                }
            )
        )


@tagged("-at_install", "post_install")
class TestAutopayPortal(AutopayFixtures, PracticeHttpCase):
    """Jane, a portal client of the practice, enrolls, changes her mind, ends it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.billing_autopay_enabled = True
        cls.provider = cls._demo_provider(cls.company)
        cls.jane_user = cls._portal_user("jane_portal", "Jane Doe")
        cls.jane = cls.jane_user.partner_id
        cls.marcus_user = cls._portal_user("marcus_portal", "Marcus Webb")
        cls.marcus = cls.marcus_user.partner_id

    @classmethod
    def _portal_user(cls, login, name):
        user = new_test_user(
            cls.env,
            login=login,
            name=name,
            groups="base.group_portal",
            company_id=cls.company.id,
            email=f"{login}@example.com",
        )
        user.partner_id.company_id = cls.company
        cls._create_session(
            user.partner_id, "2026-10-05 15:00:00", billing_company_id=cls.company.id
        )
        return user

    # ------------------------------------------------------------------ helpers
    def _page(self, url="/my/autopay"):
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200, url)
        return html.fromstring(response.text)

    def _save_card(self, last4="4242"):
        """Save a card as the client does on the AutoPay page: Odoo's payment form makes a
        validation transaction, the demo provider's inline form answers for the card
        processor, the status page post-processes it and lands back on the page. Returns the
        landing page and the card."""
        form = self._page().xpath("//form[@id='o_payment_form']")[0]
        [method_input] = form.xpath(".//input[@name='o_payment_radio']")
        processing = self.make_jsonrpc_request(
            form.get("data-transaction-route"),
            {
                "provider_id": int(method_input.get("data-provider-id")),
                "payment_method_id": int(method_input.get("data-payment-option-id")),
                "token_id": None,
                "amount": None,
                "currency_id": None,
                "partner_id": int(form.get("data-partner-id")),
                "access_token": form.get("data-access-token"),
                "flow": "direct",
                "tokenization_requested": True,
                "landing_route": form.get("data-landing-route"),
                "reference_prefix": form.get("data-reference-prefix"),
                "is_validation": True,
            },
        )
        self.make_jsonrpc_request(
            "/payment/demo/simulate_payment",
            {
                "reference": processing["reference"],
                "payment_details": last4,
                "simulated_state": "done",
            },
        )
        status = self.make_jsonrpc_request("/payment/status/poll", {})
        self.assertEqual(status["state"], "done")
        transaction = self.env["payment.transaction"].search(
            [("reference", "=", processing["reference"])]
        )
        self.assertEqual(transaction.operation, "validation")
        return self._page(status["landing_route"]), transaction.token_id

    def _csrf(self, page):
        """The page's CSRF token (Odoo's layout gives every page one, for its scripts)."""
        script = "".join(page.xpath("//script[contains(text(), 'csrf_token')]/text()"))
        return re.search(r'csrf_token: "([^"]+)"', script).group(1)

    def _enroll(self, card, page=None, **fields):
        page = page if page is not None else self._page()
        data = {
            "csrf_token": self._csrf(page),
            "token_id": card.id,
            # The version the page showed (an attacker without a form knows it from the text).
            "terms_version": (
                page.xpath("//input[@name='terms_version']/@value")
                or [self.company.billing_autopay_terms_version]
            )[0],
            "authorize": "on",
            **fields,
        }
        return self.url_open("/my/autopay/enroll", data={k: v for k, v in data.items() if v})

    def _end(self, **extra):
        page = self._page()
        return self.url_open("/my/autopay/end", data={"csrf_token": self._csrf(page), **extra})

    # ------------------------------------------------------------------ enrollment
    def test_client_enrolls_with_a_card_saved_on_the_page(self):
        self.authenticate("jane_portal", "jane_portal")
        home = html.fromstring(self.url_open("/my").text)
        self.assertTrue(home.xpath("//a[@href='/my/autopay']"), "no AutoPay tile")
        page = self._page()
        self.assertIn("You are not enrolled", page.text_content())
        self.assertIn("I authorize Riverside Therapy to charge the card", page.text_content())

        landing, card = self._save_card("4242")
        self.assertEqual(card.partner_id, self.jane)
        # Back on the page, the card just saved is the one offered.
        [checked] = landing.xpath("//input[@name='token_id'][@checked]")
        self.assertEqual(int(checked.get("value")), card.id)

        response = self._enroll(card, landing, limit="400", hsa="on")
        self.assertEqual(response.status_code, 200)
        self.assertIn("you are enrolled in AutoPay", response.text)
        # The card as Odoo names it (a real provider's "•••• 4242"; the demo's, unpadded).
        self.assertIn(f"Card: <strong>{card.display_name}</strong>", response.text)
        self.assertIn("HSA/FSA", response.text)

        jane = self.jane.sudo()
        self.assertTrue(jane.billing_autopay)
        self.assertEqual(jane.billing_autopay_token_id, card)
        self.assertEqual((jane.billing_autopay_limit, jane.billing_autopay_hsa), (400.0, True))
        consent = jane.billing_autopay_consent_id
        self.assertEqual(consent.source, "portal")
        self.assertEqual(consent.token_id, card)
        self.assertEqual(consent.accepted_by_id, self.jane_user)
        self.assertEqual(consent.company_id, self.company)
        self.assertEqual(consent.terms_version, self.company.billing_autopay_terms_version)
        self.assertIn("Riverside Therapy", consent.terms)
        self.assertEqual(jane._billing_autopay_active(), jane)

    def test_client_enrolls_in_the_browser(self):
        """The same, in Chromium: Odoo's payment form and the demo provider's inline form
        really run (the status page, its polling, the landing back)."""
        self.start_tour("/my", "practice_billing_autopay_enroll_tour", login="jane_portal")
        jane = self.jane.sudo()
        self.assertTrue(jane.billing_autopay)
        self.assertEqual(jane.billing_autopay_token_id.payment_details, "4242")
        self.assertEqual(jane.billing_autopay_limit, 300.0)
        self.assertEqual(jane.billing_autopay_consent_id.source, "portal")

    def test_the_authorization_must_be_ticked_and_current(self):
        card = self._saved_card(self.jane, self.provider)
        self.authenticate("jane_portal", "jane_portal")
        page = self._page()
        response = self._enroll(card, page, authorize=None)
        self.assertIn("Tick “I authorize”", response.text)
        # The practice rewrites its text while the client reads the old one.
        self.company.billing_autopay_terms = "<p>New terms of Riverside Therapy.</p>"
        response = self._enroll(card, page)
        self.assertIn("changed its AutoPay authorization", response.text)
        self.assertFalse(self.jane.sudo().billing_autopay)
        self.assertFalse(self.jane.sudo().billing_autopay_consent_ids)
        # Read again, the new version is accepted.
        self._enroll(card)
        self.assertEqual(
            self.jane.sudo().billing_autopay_consent_id.terms,
            "<p>New terms of Riverside Therapy.</p>",
        )

    def test_portal_opt_out_keeps_the_history(self):
        self.authenticate("jane_portal", "jane_portal")
        _landing, card = self._save_card("1111")
        validation = self.env["payment.transaction"].search([("token_id", "=", card.id)])
        self._enroll(card)
        consent = self.jane.sudo().billing_autopay_consent_id

        response = self._end()
        self.assertIn("AutoPay is ended", response.text)
        self.assertIn("You are not enrolled", response.text)
        jane = self.jane.sudo()
        self.assertFalse(jane.billing_autopay)
        self.assertFalse(jane._billing_autopay_active())
        self.assertTrue(consent.exists())
        self.assertTrue(consent.ended_on)
        self.assertEqual(consent.ended_by_id, self.jane_user)
        self.assertEqual(jane.billing_autopay_consent_ids, consent)
        self.assertTrue(card.exists() and card.active, "the card stays (Payment methods)")
        self.assertTrue(validation.exists())

    def test_changing_card_closes_the_previous_consent(self):
        first = self._saved_card(self.jane, self.provider, "1111")
        second = self._saved_card(self.jane, self.provider, "2222")
        self.authenticate("jane_portal", "jane_portal")
        self._enroll(first)
        self._enroll(second)
        consents = self.jane.sudo().billing_autopay_consent_ids
        self.assertEqual(len(consents), 2)
        self.assertTrue(consents.filtered(lambda c: c.token_id == first).ended_on)
        self.assertEqual(self.jane.sudo().billing_autopay_consent_id.token_id, second)

    # ------------------------------------------------------------------ attackers
    def test_a_client_cannot_enroll_another_clients_card(self):
        marcus_card = self._saved_card(self.marcus, self.provider, "9999")
        self.authenticate("jane_portal", "jane_portal")
        response = self._enroll(marcus_card)
        self.assertIn("Choose one of your saved cards", response.text)
        self.assertFalse(self.jane.sudo().billing_autopay)
        # (Other tests may leave committed practices with consents of their own.)
        self.assertFalse(
            self.env["practice.autopay.consent"].search(
                [("partner_id", "in", (self.jane | self.marcus).ids)]
            )
        )

    def test_a_client_cannot_end_another_clients_autopay(self):
        self.marcus._billing_autopay_enroll(
            self._saved_card(self.marcus, self.provider, "9999"), "portal"
        )
        self.authenticate("jane_portal", "jane_portal")
        self._end(partner_id=self.marcus.id, client_id=self.marcus.id)
        self.assertTrue(self.marcus.sudo().billing_autopay)
        self.assertFalse(self.marcus.sudo().billing_autopay_consent_id.ended_on)

    def test_a_client_reads_no_consent_nor_autopay_field_over_rpc(self):
        self.jane._billing_autopay_enroll(self._saved_card(self.jane, self.provider), "portal")
        self.authenticate("jane_portal", "jane_portal")
        calls = [
            ("practice.autopay.consent", "search_read", [[]], {"fields": ["terms"]}),
            ("res.partner", "read", [self.jane.ids, ["billing_autopay_token_id"]], {}),
            ("res.partner", "write", [self.jane.ids, {"billing_autopay_limit": 0}], {}),
        ]
        for model, method, args, kwargs in calls:
            with self.subTest(model=model, method=method):
                with self.assertRaises(JsonRpcException) as caught:
                    self.make_jsonrpc_request(
                        f"/web/dataset/call_kw/{model}/{method}",
                        {"model": model, "method": method, "args": args, "kwargs": kwargs},
                    )
                self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")
        self.assertEqual(self.jane.sudo().billing_autopay_limit, 0.0)

    def test_forms_need_the_csrf_token(self):
        self.jane._billing_autopay_enroll(self._saved_card(self.jane, self.provider), "portal")
        self.authenticate("jane_portal", "jane_portal")
        response = self.url_open("/my/autopay/end", data={"csrf_token": "forged"})
        self.assertEqual(response.status_code, 400)
        self.assertTrue(self.jane.sudo().billing_autopay)

    def test_offered_to_the_practices_clients_and_payers_only(self):
        stranger = new_test_user(
            self.env, login="stranger", groups="base.group_portal", company_id=self.company.id
        )
        parent = new_test_user(
            self.env, login="parent", groups="base.group_portal", company_id=self.company.id
        )
        self.jane.billing_responsible_id = parent.partner_id
        for login, offered in (("stranger", False), ("parent", True), ("jane_portal", True)):
            with self.subTest(login=login):
                self.authenticate(login, login)
                home = html.fromstring(self.url_open("/my").text)
                self.assertEqual(bool(home.xpath("//a[@href='/my/autopay']")), offered)
                self.assertEqual(self.url_open("/my/autopay").status_code, 200 if offered else 404)
        self.assertTrue(stranger)
        # Switched off, the practice offers it to nobody.
        self.company.billing_autopay_enabled = False
        self.authenticate("jane_portal", "jane_portal")
        self.assertEqual(self.url_open("/my/autopay").status_code, 404)


@tagged("-at_install", "post_install")
class TestAutopayStaff(AutopayFixtures, PracticeBillingCase):
    """Staff enroll with a signed form, pause, resume and end; who may."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.company.billing_autopay_enabled = True
        cls.provider = cls._demo_provider(cls.company)
        cls.client_jane.company_id = cls.company
        cls.card = cls._saved_card(cls.client_jane, cls.provider)
        cls.clinician_user = cls.clinician

    def _enroll_with_form(self, user=None, **values):
        Wizard = self.env["practice.autopay.enroll"].with_user(user or self.billing_manager)
        wizard = Wizard.with_context(default_partner_id=self.client_jane.id).create(
            {
                "token_id": self.card.id,
                "signed_form": SIGNED_FORM,
                "signed_form_name": "autopay-jane.pdf",
                **values,
            }
        )
        wizard.action_enroll()
        return self.client_jane.billing_autopay_consent_id

    # ------------------------------------------------------------------ settings
    def test_settings_defaults_checks_and_versions(self):
        practice = self.env["res.company"].create({"name": "Bay Counseling"})
        self.assertEqual(
            (practice.billing_autopay_notice_days, practice.billing_autopay_max_attempts), (3, 3)
        )
        practice.billing_autopay_enabled = True
        self.assertIn("I authorize Bay Counseling to charge", practice.billing_autopay_terms)
        self.assertIn("My Account &gt; AutoPay", practice.billing_autopay_terms)
        self.assertEqual(practice.billing_autopay_terms_version, 1)

        settings = self.env["res.config.settings"].create(
            {"billing_autopay_terms": "<p>Charged on the 5th.</p>"}
        )
        settings.execute()
        self.assertEqual(self.company.billing_autopay_terms_version, 2)
        # Saving the settings again with the same text is no new version.
        self.env["res.config.settings"].create({}).execute()
        self.assertEqual(self.company.billing_autopay_terms_version, 2)

        with self.assertRaisesRegex(ValidationError, "cannot be negative"):
            practice.billing_autopay_notice_days = -1
        with self.assertRaisesRegex(ValidationError, "at least 1 attempt"):
            practice.write({"billing_autopay_notice_days": 0, "billing_autopay_max_attempts": 0})

    # ------------------------------------------------------------------ enrollment
    def test_staff_enroll_with_the_signed_form(self):
        consent = self._enroll_with_form(limit=250.0, hsa=True)
        jane = self.client_jane
        self.assertTrue(jane.billing_autopay)
        self.assertEqual((jane.billing_autopay_limit, jane.billing_autopay_hsa), (250.0, True))
        self.assertEqual(consent.source, "staff")
        self.assertEqual(consent.accepted_by_id, self.billing_manager)
        self.assertEqual(consent.token_id, self.card)
        self.assertEqual(consent.attachment_id.name, "autopay-jane.pdf")
        self.assertEqual(
            (consent.attachment_id.res_model, consent.attachment_id.res_id),
            ("practice.autopay.consent", consent.id),
        )
        note = jane.message_ids[0].body
        self.assertIn("Enrolled in AutoPay (authorization version 1, Staff, with a signed", note)
        self.assertNotIn("4242", note, "the chatter is every employee's: no card named")
        # Billing users see the consent and its signed form.
        self.assertEqual(jane.with_user(self.billing_user).billing_autopay_consent_ids, consent)
        self.assertTrue(consent.attachment_id.with_user(self.billing_user).datas)

    def test_staff_need_the_signed_form_and_the_clients_own_card(self):
        with self.assertRaisesRegex(UserError, "Attach the authorization form"):
            self._enroll_with_form(signed_form=False)
        marcus_card = self._saved_card(self.client_marcus, self.provider, "9999")
        with self.assertRaisesRegex(UserError, "cannot be used for the AutoPay of Jane Doe"):
            self._enroll_with_form(token_id=marcus_card.id)
        self.company.billing_autopay_enabled = False
        with self.assertRaisesRegex(UserError, "AutoPay is off"):
            self._enroll_with_form()
        self.assertFalse(self.client_jane.billing_autopay_consent_ids)

    def test_no_enrollment_without_a_consent(self):
        with self.assertRaises(AccessError):
            self.client_jane.with_user(self.billing_manager).billing_autopay = True
        with self.assertRaisesRegex(ValidationError, "without their recorded consent"):
            self.client_jane.sudo().write(
                {"billing_autopay": True, "billing_autopay_token_id": self.card.id}
            )
        consent = self._enroll_with_form()
        other_card = self._saved_card(self.client_jane, self.provider, "5555")
        with self.assertRaisesRegex(ValidationError, "not the card they authorized"):
            self.client_jane.sudo().billing_autopay_token_id = other_card
        # A consent that was ended authorizes nothing any more.
        consent.sudo()._billing_end()
        with self.assertRaisesRegex(ValidationError, "without their recorded consent"):
            self.client_jane.sudo().billing_autopay_consent_id = consent

    def test_pause_resume_and_end(self):
        consent = self._enroll_with_form()
        jane = self.client_jane
        jane.with_user(self.billing_user).action_billing_autopay_pause()
        self.assertTrue(jane.billing_autopay_paused)
        self.assertIn("billing_user", jane.billing_autopay_pause_reason)
        self.assertFalse(jane._billing_autopay_active())
        jane.with_user(self.billing_user).action_billing_autopay_resume()
        self.assertFalse(jane.billing_autopay_paused)
        self.assertEqual(jane._billing_autopay_active(), jane)

        # The charging side pauses after repeated declines, through the same method.
        jane._billing_autopay_pause("declined 3 times")
        self.assertEqual(jane.billing_autopay_pause_reason, "declined 3 times")
        self.assertIn("AutoPay paused: declined 3 times", jane.message_ids[0].body)

        with self.assertRaises(AccessError):
            jane.with_user(self.billing_user).action_billing_autopay_end()
        jane.with_user(self.billing_manager).action_billing_autopay_end()
        self.assertFalse(jane.billing_autopay)
        self.assertEqual(consent.ended_by_id, self.billing_manager)
        self.assertTrue(consent.exists() and self.card.exists())

    def test_a_removed_card_pauses_autopay(self):
        self._enroll_with_form()
        self.card.action_archive()  # as Odoo's "Payment methods" page does, in sudo
        self.assertTrue(self.client_jane.billing_autopay_paused)
        self.assertEqual(self.client_jane.billing_autopay_pause_reason, "the card was removed")
        with self.assertRaisesRegex(UserError, "was removed"):
            self.client_jane.action_billing_autopay_resume()

    # ------------------------------------------------------------------ who may
    def test_employees_without_billing_roles(self):
        self._enroll_with_form()
        clinician = self.clinician_user
        jane = self.client_jane.with_user(clinician)
        with self.assertRaises(AccessError):
            jane.read(["billing_autopay_token_id"])
        with self.assertRaises(AccessError):
            jane.action_billing_autopay_pause()
        with self.assertRaises(AccessError):
            jane.action_billing_autopay_enroll()
        with self.assertRaises(AccessError):
            self.env["practice.autopay.consent"].with_user(clinician).search([])
        with self.assertRaises(AccessError):
            self._enroll_with_form(user=self.billing_user)

    def test_consents_are_evidence(self):
        consent = self._enroll_with_form()
        as_manager = consent.with_user(self.billing_manager)
        with self.assertRaises(AccessError):
            as_manager.write({"terms_version": 99})
        with self.assertRaises(AccessError):
            as_manager.create(
                {
                    "partner_id": self.client_marcus.id,
                    "terms_version": 1,
                    "source": "staff",
                }
            )
        with self.assertRaises(AccessError):
            as_manager.unlink()
        with self.assertRaises(AccessError):
            self.client_jane.with_user(self.billing_user).billing_autopay_limit = 1000.0

    def test_another_practices_staff_see_no_consent(self):
        consent = self._enroll_with_form()
        other = self.env["res.company"].create({"name": "Other Practice"})
        their_manager = new_test_user(
            self.env,
            login="other_manager",
            groups="practice_billing.group_billing_manager",
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        Consent = self.env["practice.autopay.consent"].with_user(their_manager)
        self.assertFalse(Consent.search([]))
        with self.assertRaises(AccessError):
            consent.with_user(their_manager).read(["terms"])
