from datetime import datetime, timedelta

from odoo.tests import tagged

from .common import PracticeHttpCase


@tagged("-at_install", "post_install")
class TestSuperbillSubscriber(PracticeHttpCase):
    """Who pays (#14): a superbill stays the patient's, and names the insured (the policy
    holder, by default the responsible party) with the patient's relationship to them."""

    def setUp(self):
        super().setUp()
        self._record_provider_identifiers()
        self.parent = self._create_client(
            "Pat Rivera", street="9 Harbor Road", city="Portland", billing_delivery_method="manual"
        )
        self.parent.billing_birthdate = "1979-02-03"
        self.child = self._record_insurance(
            self._create_client(
                "Ava Rivera",
                billing_delivery_method="manual",
                billing_responsible_id=self.parent.id,
            ),
            member_id="AETNA-AVA-02",
        )
        self.child.billing_insured_relationship = "child"
        last_month_end = datetime.now().date().replace(day=1) - timedelta(days=1)
        self.period = (last_month_end.replace(day=1), last_month_end)

    def _superbill_of(self, client):
        self._add_sessions(client, weeks=(0,))
        client.with_company(self.company).action_billing_invoice_now()
        return self.env["practice.superbill"]._generate(client, *self.period, self.company)

    def _text(self, superbill, name):
        pdf = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("practice_billing.action_report_superbill", superbill.ids)[0]
        )
        return " ".join(self._pdf_text(pdf, name)[0].replace("\xa0", " ").split())

    def test_the_responsible_party_is_the_insured_by_default(self):
        superbill = self._superbill_of(self.child)
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(superbill.partner_id, self.child, "the patient's superbill")
        self.assertEqual(superbill.subscriber_id, self.parent)
        self.assertEqual(superbill.subscriber_relationship, "child")
        text = self._text(superbill, "superbill-subscriber.pdf")
        patient, insured = text.split("Insured (policy holder)")
        self.assertIn("Ava Rivera", patient)
        self.assertNotIn("Ava Rivera", insured, "the insured is the parent")
        for printed in (
            "Pat Rivera",
            "Date of birth: 02/03/1979",
            "9 Harbor Road",
            "Insurance: Aetna",
            "Member ID: AETNA-AVA-02",
            "Patient's relationship to insured: Child",
        ):
            self.assertIn(printed, insured, printed)

    def test_a_recorded_policy_holder_wins_over_who_pays(self):
        other_parent = self._create_client("Rui Rivera")
        self.child.billing_subscriber_id = other_parent
        superbill = self._superbill_of(self.child)
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(superbill.subscriber_id, other_parent)
        insured = self._text(superbill, "superbill-holder.pdf").split("Insured (policy holder)")[1]
        self.assertIn("Rui Rivera", insured)
        self.assertNotIn("Pat Rivera", insured)

    def test_a_client_who_pays_for_themselves_is_their_own_insured(self):
        client = self._record_insurance(
            self._create_client("Hal Rivera", billing_delivery_method="manual")
        )
        superbill = self._superbill_of(client)
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(
            (superbill.subscriber_id, superbill.subscriber_relationship), (client, "self")
        )
        insured = self._text(superbill, "superbill-self.pdf").split("Insured (policy holder)")[1]
        self.assertIn("Hal Rivera", insured)
        self.assertIn("Patient's relationship to insured: Self", insured)

    def test_self_is_wrong_when_someone_else_holds_the_policy(self):
        """An insurer rejects a dependent's claim marked "Self": the superbill waits for
        staff to record the relationship, then issues."""
        self.child.billing_insured_relationship = "self"
        superbill = self._superbill_of(self.child)
        self.assertEqual(superbill.state, "draft")
        self.assertIn(
            "Ava Rivera's relationship to the policy holder Pat Rivera", superbill.missing_info
        )
        self.child.billing_insured_relationship = "child"
        superbill.action_preflight()
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(superbill.subscriber_relationship, "child")

    def test_a_dependent_without_a_policy_holder_waits_for_one(self):
        self.child.billing_responsible_id = False
        superbill = self._superbill_of(self.child)
        self.assertEqual(superbill.state, "draft")
        self.assertIn("The policy holder of Ava Rivera", superbill.missing_info)
        self.child.billing_subscriber_id = self.parent
        superbill.action_preflight()
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.assertEqual(superbill.subscriber_id, self.parent)

    def test_an_issued_superbill_keeps_its_insured(self):
        superbill = self._superbill_of(self.child)
        self.assertEqual(superbill.state, "issued", superbill.missing_info)
        self.child.write({"billing_responsible_id": False, "billing_insured_relationship": "self"})
        self.assertEqual(
            (superbill.subscriber_id, superbill.subscriber_relationship), (self.parent, "child")
        )
        # A corrected version reads the client as recorded now.
        new = self.env["practice.superbill"].browse(superbill.action_new_version()["res_id"])
        self.assertEqual((new.subscriber_id, new.subscriber_relationship), (self.child, "self"))
