"""Who pays (#14): a parent pays for their children, one partner of a couple for both; the
invoices, statements and reminders go to them, superbills stay the patient's."""

import re
from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from odoo.addons.mail.tests.common import MockEmail

from .common import PracticeBillingCase


class FamilyCase(PracticeBillingCase, MockEmail):
    """Anna Doe pays for her children Emma (10) and Liam (8), who need superbills; she is no
    client herself and receives documents by email."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._record_provider_identifiers()
        cls.company.write({"billing_auto_invoice": True, "email": "billing@riverside.example"})
        cls.service_family = cls._create_billing_service(
            "Family psychotherapy with patient", "90847", 160.0
        )
        cls.anna = cls._create_client(
            "Anna Doe", email="anna@example.com", billing_delivery_method="email"
        )
        cls.emma = cls._child("Emma Doe", "2016-03-04", "E1")
        cls.liam = cls._child("Liam Doe", "2018-06-01", "L1")

    @classmethod
    def _child(cls, name, birthdate, member_id):
        # A child's own address and method are not used: the parent receives everything.
        child = cls._create_client(
            name, email=f"{member_id.lower()}@kids.example", billing_delivery_method="email"
        )
        cls._record_insurance(child, member_id)
        # Insured through the parent (the policy holder by default: the responsible party).
        child.write(
            {
                "billing_birthdate": birthdate,
                "billing_responsible_id": cls.anna.id,
                "billing_insured_relationship": "child",
            }
        )
        return child

    def _november_sessions(self):
        emma = self._create_session(self.emma, "2026-11-02 15:00:00")
        emma |= self._create_session(self.emma, "2026-11-09 15:00:00")
        liam = self._create_session(self.liam, "2026-11-03 15:00:00", service=self.service_45)
        return emma, liam

    def _run_december_first(self):
        with self.mock_mail_gateway():
            run = self._cron("2026-12-01 06:00:00")
            self.env["account.move"]._cron_account_move_send()
        return run

    def _mails_to(self, address):
        return [m for m in self._mails if address in str(m["email_to"])]


@tagged("-at_install", "post_install")
class TestFamilyInvoice(FamilyCase):
    def test_parent_of_two_gets_one_invoice_naming_each_child(self):
        emma, liam = self._november_sessions()
        self.assertEqual(self.emma.billing_uninvoiced_amount, 300.0)
        self.assertEqual(self.liam.billing_uninvoiced_amount, 130.0)
        self.assertEqual(self.anna.billing_uninvoiced_amount, 0.0, "uninvoiced stays per client")
        run = self._run_december_first()
        self.assertFalse(run.failure_ids, run.failure_ids.mapped("reason"))
        invoice = self._invoices_of(self.anna)
        self.assertEqual(len(invoice), 1, "one invoice for the family")
        self.assertEqual(run.invoice_ids, invoice)
        self.assertEqual(run.client_count, 2, "two clients billed")
        self.assertFalse(self._invoices_of(self.emma) | self._invoices_of(self.liam))
        self.assertEqual(invoice.amount_total, 430.0)
        self.assertEqual(
            invoice.invoice_line_ids.sorted("billing_session_id").mapped("name"),
            [
                "2026-11-02 — Psychotherapy, 53 min — Emma Doe",
                "2026-11-03 — Psychotherapy, 45 min — Liam Doe",
                "2026-11-09 — Psychotherapy, 53 min — Emma Doe",
            ],
        )
        self._assert_billed_once(emma | liam)
        self.assertEqual(emma.billing_invoice_id, invoice)
        # The payer's figures include what they pay for; each client's uninvoiced is theirs.
        self.assertEqual(self.anna.billing_balance, 430.0)
        self.env.invalidate_all()
        self.assertEqual(self.anna.billing_amount_due, 430.0)
        self.assertEqual(self.emma.billing_uninvoiced_amount, 0.0)

    def test_bill_now_counts_the_children_on_the_parents_one_invoice(self):
        self.company.billing_last_cutoff = "2026-11-01 04:00:00"  # October is billed
        self._november_sessions()
        with freeze_time("2026-11-27 12:00:00"):
            preview = self.env["practice.billing.preview"]._create_for_next_run()
            message = preview.confirmation_message
        self.assertIn("Bill 2 clients for $\xa0430.00 now: one invoice dated", message)
        self.assertIn("3 sessions", message)

    def test_invoice_statement_and_superbills_reach_the_parent(self):
        self.company.billing_auto_statement = True
        self._november_sessions()
        self._run_december_first()
        invoice = self._invoices_of(self.anna)
        self.assertEqual(invoice.billing_delivery_state, "sent")
        to_anna = self._mails_to("anna@example.com")
        subjects = [m["subject"] for m in to_anna]
        self.assertTrue(any(invoice.name in subject for subject in subjects), subjects)
        # Superbills stay the patients': one each, delivered to the parent.
        Superbill = self.env["practice.superbill"]
        superbills = Superbill.search([("partner_id", "in", (self.emma | self.liam).ids)])
        self.assertEqual(superbills.partner_id, self.emma | self.liam)
        self.assertEqual(superbills.mapped("state"), ["issued", "issued"])
        self.assertEqual(superbills.mapped("billing_delivery_state"), ["sent", "sent"])
        self.assertFalse(Superbill.search([("partner_id", "=", self.anna.id)]))
        superbill_mails = [m for m in to_anna if "your superbill" in m["subject"]]
        self.assertEqual(len(superbill_mails), 2, subjects)
        for mail in superbill_mails:
            self.assertTrue(mail["attachments"])
            # Addressed to the parent, saying whose superbill it is.
            self.assertIn("Dear Anna Doe", mail["body"])
        patients = sorted(
            re.search(r"The superbill of\s+(\w+ Doe)", mail["body"]).group(1)
            for mail in superbill_mails
        )
        self.assertEqual(patients, ["Emma Doe", "Liam Doe"])
        # One statement, the parent's: what she owes for both children.
        Statement = self.env["practice.statement"]
        statement = Statement.search([("date", "=", "2026-12-01")])
        self.assertEqual(statement.partner_id, self.anna)
        self.assertEqual(statement.balance_end, 430.0)
        self.assertEqual(statement.billing_delivery_state, "sent")
        self.assertTrue([m for m in to_anna if "your statement" in m["subject"]], subjects)
        self.assertFalse(self._mails_to("@kids.example"), "nothing to the children")

    def test_one_invoice_per_client_when_the_practice_says_so(self):
        self.company.billing_invoice_grouping = "client"
        emma, liam = self._november_sessions()
        self._run_december_first()
        invoices = self._invoices_of(self.anna)
        self.assertEqual(len(invoices), 2)
        by_client = {
            inv.invoice_line_ids.billing_session_id.billing_client_id: inv for inv in invoices
        }
        self.assertEqual(by_client[self.emma].amount_total, 300.0)
        self.assertEqual(by_client[self.liam].amount_total, 130.0)
        self.assertIn("— Liam Doe", by_client[self.liam].invoice_line_ids.name)
        self._assert_billed_once(emma | liam)

    def test_the_parents_own_sessions_join_the_family_invoice(self):
        """A parent who is a client too: one invoice for all, each line naming its client."""
        own = self._create_session(self.anna, "2026-11-05 15:00:00")
        emma, _liam = self._november_sessions()
        self._run_december_first()
        invoice = self._invoices_of(self.anna)
        self.assertEqual(len(invoice), 1)
        self.assertEqual(own.billing_invoice_id, invoice)
        self.assertEqual(emma.billing_invoice_id, invoice)
        self.assertIn(
            "2026-11-05 — Psychotherapy, 53 min — Anna Doe", invoice.invoice_line_ids.mapped("name")
        )

    def test_a_family_invoice_that_fails_names_the_clients_and_the_payer(self):
        self._create_failing_session(self.liam, "2026-11-03 15:00:00")
        emma, _liam = self._november_sessions()
        jane = self._create_session(self.client_jane, "2026-11-02 16:00:00")
        run = self._run_december_first()
        self._assert_billed_once(jane)
        self.assertFalse(self._invoices_of(self.anna), "the family's invoice is not split")
        self.assertFalse(emma.billing_invoice_line_id)
        self.assertEqual(run.failure_ids.partner_id, self.anna)
        reason = run.failure_ids.reason
        self.assertIn("the sessions of Emma Doe, Liam Doe, paid by Anna Doe", reason)
        self.assertIn("archived service", reason)
        activity = self.anna.activity_ids.filtered(lambda a: "Billing failed" in a.summary)
        self.assertIn("Liam Doe", activity.note)

    def test_a_client_who_pays_for_themself_reads_no_name(self):
        self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self._run_december_first()
        self.assertEqual(
            self._invoices_of(self.client_jane).invoice_line_ids.name,
            "2026-11-02 — Psychotherapy, 53 min",
        )

    def test_invoice_now_for_one_child_bills_the_family(self):
        emma, liam = self._november_sessions()
        with freeze_time("2026-11-20 12:00:00"), self.mock_mail_gateway():
            action = self.emma.action_billing_invoice_now()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual(run.invoice_ids.partner_id, self.anna)
        self.assertEqual(len(run.invoice_ids), 1, "never split the family's invoice")
        self._assert_billed_once(emma | liam)

    def test_invoice_now_for_the_parent_bills_whom_they_pay_for(self):
        self.company.billing_invoice_grouping = "client"
        emma, liam = self._november_sessions()
        with freeze_time("2026-11-20 12:00:00"), self.mock_mail_gateway():
            action = self.anna.action_billing_invoice_now()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual(run.invoice_ids.partner_id, self.anna)
        self.assertEqual(len(run.invoice_ids), 2, "one per client, as the practice chose")
        self._assert_billed_once(emma | liam)

    def test_generate_bills_the_family_the_same_way(self):
        emma, liam = self._november_sessions()
        with freeze_time("2026-11-20 12:00:00"), self.mock_mail_gateway():
            wizard = self.env["practice.billing.generate"].create(
                {"partner_ids": [(6, 0, self.liam.ids)], "generate_invoices": True}
            )
            self.assertEqual(wizard.invoice_count, 1)
            action = wizard.action_generate()
        run = self.env["practice.billing.run"].browse(action["res_id"])
        self.assertEqual(run.invoice_ids.partner_id, self.anna)
        self._assert_billed_once(emma | liam)


@tagged("-at_install", "post_install")
class TestChangingWhoPays(FamilyCase):
    def test_a_new_responsible_party_gets_what_is_billed_after_the_change(self):
        ben = self._create_client("Ben Doe", email="ben@example.com")
        before = self._create_session(self.emma, "2026-11-02 15:00:00")
        with freeze_time("2026-11-10 12:00:00"), self.mock_mail_gateway():
            self.emma.action_billing_invoice_now()
        first = self._invoices_of(self.anna)
        self.assertEqual(before.billing_invoice_id, first)
        self.emma.billing_responsible_id = ben
        after = self._create_session(self.emma, "2026-11-16 15:00:00")
        self._run_december_first()
        self.assertEqual(before.billing_invoice_id, first, "an invoiced session never moves")
        self.assertEqual(first.partner_id, self.anna)
        self.assertEqual(self._invoices_of(self.anna), first, "nothing more for Anna")
        second = self._invoices_of(ben)
        self.assertEqual(after.billing_invoice_id, second)
        self.assertEqual(second.amount_total, 150.0)
        # The earlier payer stays in the practice's scope: her invoice, her reminders.
        Parties = self.env["res.partner"]._billing_parties(self.company)
        self.assertIn(self.anna, Parties)
        self.assertTrue(first.billing_is_client_document)
        documents = self.env["practice.billing.document"].search(
            [("partner_id", "=", self.anna.id)]
        )
        self.assertIn("invoice", documents.mapped("document_type"))

    def test_a_client_cannot_pay_for_themself(self):
        with self.assertRaisesRegex(ValidationError, "Emma Doe cannot be their own"):
            self.emma.billing_responsible_id = self.emma

    def test_two_people_cannot_pay_for_each_other(self):
        with self.assertRaisesRegex(ValidationError, "Emma Doe pays for Anna Doe, and Anna Doe"):
            self.anna.billing_responsible_id = self.emma

    def test_responsible_party_is_set_in_bulk_from_the_clients_list(self):
        ben = self._create_client("Ben Doe", email="ben@example.com")
        (self.emma | self.liam).write({"billing_responsible_id": ben.id})
        self.assertEqual(ben.billing_dependent_ids, self.emma | self.liam)
        self.assertFalse(self.anna.billing_dependent_ids)
        arch = self.env.ref("practice_billing.res_partner_view_list_billing").arch
        self.assertIn('multi_edit="1"', arch)
        self.assertIn('name="billing_responsible_id"', arch)


@tagged("-at_install", "post_install")
class TestJointSessions(FamilyCase):
    def _joint_session(self, billed, other, start):
        start = datetime.fromisoformat(start)
        return (
            self.env["calendar.event"]
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": "Couples session",
                    "start": start,
                    "stop": start + timedelta(minutes=50),
                    "user_id": self.clinician.id,
                    "partner_ids": [(6, 0, [billed.id, other.id, self.clinician.partner_id.id])],
                    "billing_client_id": billed.id,
                    "billing_product_id": self.service_family.id,
                }
            )
        )

    def test_a_couples_session_is_billed_once(self):
        sam = self._create_client("Sam Rivera", email="sam@example.com")
        alex = self._create_client("Alex Rivera", email="alex@example.com")
        sam.billing_responsible_id = alex
        joint = self._joint_session(sam, alex, "2026-11-04 17:00:00")
        joint |= self._joint_session(sam, alex, "2026-11-18 17:00:00")
        own = self._create_session(alex, "2026-11-06 15:00:00")
        self.assertEqual(joint.billing_client_id, sam)
        self._run_december_first()
        invoice = self._invoices_of(alex)
        self.assertEqual(len(invoice), 1)
        self.assertFalse(self._invoices_of(sam))
        self.assertEqual(len(invoice.invoice_line_ids), 3, "each session once, never per attendee")
        self.assertEqual(invoice.amount_total, 160.0 * 2 + 150.0)
        self.assertIn(
            "2026-11-04 — Family psychotherapy with patient — Sam Rivera",
            invoice.invoice_line_ids.mapped("name"),
        )
        self._assert_billed_once(joint | own)

    def test_a_couple_without_a_responsible_party_is_billed_once_too(self):
        sam = self._create_client("Sam Rivera", email="sam@example.com")
        alex = self._create_client("Alex Rivera", email="alex@example.com")
        joint = self._joint_session(alex, sam, "2026-11-04 17:00:00")
        self._run_december_first()
        self.assertEqual(self._invoices_of(alex).amount_total, 160.0)
        self.assertFalse(self._invoices_of(sam))
        self._assert_billed_once(joint)


@tagged("-at_install", "post_install")
class TestMinorWithoutResponsibleParty(FamilyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.noah = cls._create_client("Noah Park", email="noah@example.com")
        cls.noah.billing_birthdate = "2012-01-01"
        # November's scheduled run is done: Next Run shows December 1st's.
        cls.company.billing_last_cutoff = datetime(2026, 11, 1, 4, 0)

    def test_never_a_silent_invoice_to_a_child(self):
        session = self._create_session(self.noah, "2026-11-02 15:00:00")
        jane = self._create_session(self.client_jane, "2026-11-02 16:00:00")
        with freeze_time("2026-11-27 12:00:00"):
            self.assertTrue(self.noah.billing_is_minor_without_payer)
            self.assertFalse(self.emma.billing_is_minor_without_payer, "Anna pays for her")
            preview = self.env["practice.billing.preview"]._create_for_next_run()
        problem = preview.line_ids.filtered(lambda line: line.partner_id == self.noah).problem
        self.assertIn("Noah Park is a minor", problem)
        self.assertIn("Set the parent or guardian who pays as Responsible Party", problem)
        self.assertIn("Noah Park is a minor", preview.summary_html)
        self.assertEqual(preview.failure_count, 1)
        run = self._run_december_first()
        self.assertFalse(self._invoices_of(self.noah))
        self.assertFalse(session.billing_invoice_line_id)
        self._assert_billed_once(jane)
        self.assertEqual(run.failure_ids.partner_id, self.noah)
        self.assertIn("is a minor (under 18 on 2026-12-01)", run.failure_ids.reason)
        self.assertNotIn("2012", run.failure_ids.reason, "the date of birth stays private")
        # Once a parent is set, the next run bills them.
        self.noah.billing_responsible_id = self.anna
        self._cron("2027-01-01 06:00:00")
        self.assertEqual(session.billing_invoice_id.partner_id, self.anna)

    def test_eighteen_by_the_invoice_date_is_billed(self):
        self.noah.billing_birthdate = "2008-11-30"
        self._create_session(self.noah, "2026-11-02 15:00:00")
        self._run_december_first()
        self.assertEqual(len(self._invoices_of(self.noah)), 1)

    def test_the_warning_is_for_billing_staff_only(self):
        # As the web client reads it: a clinician learns nothing of a client's age.
        with self.assertRaises(AccessError):
            self.noah.with_user(self.clinician).read(["billing_is_minor_without_payer"])
        self.assertEqual(
            self.noah.with_user(self.billing_user).read(["billing_is_minor_without_payer"])[0][
                "billing_is_minor_without_payer"
            ],
            True,
        )
        view = self.env.ref("practice_billing.res_partner_view_form_billing")
        self.assertIn("billing_is_minor_without_payer", view.arch)


@tagged("-at_install", "post_install")
class TestPayerReminders(FamilyCase):
    def test_past_due_reminders_go_to_the_payer(self):
        self.anna.property_payment_term_id = self.env.ref("account.account_payment_term_immediate")
        self._november_sessions()
        self._run_december_first()
        invoice = self._invoices_of(self.anna)
        # The daily job runs in a transaction of its own: nothing computed earlier.
        self.env.invalidate_all()
        with self.mock_mail_gateway(), freeze_time("2027-01-05 15:00:00"):
            self.env["account.move"]._cron_billing_past_due_reminders()
        reminders = [m for m in self._mails if "payment reminder" in m["subject"]]
        self.assertEqual(len(reminders), 1)
        self.assertIn("anna@example.com", str(reminders[0]["email_to"]))
        self.assertIn(invoice.name, reminders[0]["body"])
        self.assertEqual(invoice.billing_reminder_count, 1)
        self.assertFalse(self.emma.billing_last_reminder_date)
