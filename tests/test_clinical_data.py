from datetime import date

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from odoo.addons.practice_billing.models.npi import is_valid_npi

from .common import PracticeBillingCase


@tagged("-at_install", "post_install")
class TestProviderIdentifiers(PracticeBillingCase):
    def test_practice_npi_and_tax_id(self):
        self.company.write({"billing_npi": "1245319599", "billing_tax_id": "12-3456789"})
        self.assertEqual(self.company.billing_npi, "1245319599")
        with self.assertRaises(ValidationError) as caught:
            self.company.billing_npi = "1245319598"
        message = caught.exception.args[0]
        self.assertIn("1245319598", message)
        self.assertIn(self.company.name, message)
        self.assertIn("check digit", message)
        with self.assertRaises(ValidationError):
            self.company.billing_tax_id = "123-45-678"

    def test_settings_show_the_identifiers(self):
        settings = self.env["res.config.settings"].create(
            {"billing_npi": "1234567893", "billing_tax_id": "123456789"}
        )
        settings.execute()
        self.assertEqual(self.company.billing_npi, "1234567893")

    def test_clinician_npi_license_and_taxonomy(self):
        self.clinician.write(
            {
                "billing_npi": "1234567893",
                "billing_license_number": "LCSW-12345",
                "billing_taxonomy_code": "1041C0700X",
                "billing_credentials": "LCSW",
            }
        )
        with self.assertRaises(ValidationError) as caught:
            self.clinician.billing_npi = "123456789"
        self.assertIn("Maya Chen", caught.exception.args[0])
        with self.assertRaises(ValidationError):
            self.clinician.billing_taxonomy_code = "1041C0700"

    def test_npi_check_digit(self):
        for valid in ("1234567893", "1245319599"):
            self.assertTrue(is_valid_npi(valid), valid)
        for invalid in ("1234567890", "123456789", "12345678931", "12345678a3", "", None):
            self.assertFalse(is_valid_npi(invalid), invalid)


@tagged("-at_install", "post_install")
class TestDiagnoses(PracticeBillingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._create_people()
        cls.manager, cls.staff, cls.portal = cls.billing_manager, cls.billing_user, cls.portal_user

    def _diagnose(self, code, start="2026-01-01", sequence=10, client=None):
        return self.env["practice.client.diagnosis"].create(
            {
                "partner_id": (client or self.client_jane).id,
                "code": code,
                "description": "Generalized anxiety disorder",
                "date_start": start,
                "sequence": sequence,
            }
        )

    def test_icd10_cm_codes(self):
        for code in ("F41.1", "F32.1", "F43.23", "Z63.0", "F41"):
            self.assertEqual(self._diagnose(code).code, code)
        self.assertEqual(self._diagnose(" f43.23 ").code, "F43.23")
        for bad in ("41.1", "F4", "F41.12345", "F41-1", "U07.1"):
            with self.assertRaises(ValidationError, msg=bad) as caught:
                self._diagnose(bad)
            self.assertIn("Jane Doe", caught.exception.args[0])
            self.assertIn("F41.1", caught.exception.args[0])

    def test_diagnoses_apply_from_their_date_primary_first(self):
        later = self._diagnose("F32.1", start="2026-11-10", sequence=1)
        earlier = self._diagnose("F41.1", start="2026-06-01", sequence=2)
        self.assertEqual(
            self.client_jane._billing_diagnoses_on(date(2026, 11, 2), self.company), earlier
        )
        self.assertEqual(
            self.client_jane._billing_diagnoses_on(date(2026, 11, 10), self.company),
            later | earlier,
        )
        self.assertEqual(
            self.client_jane._billing_diagnoses_on(date(2026, 11, 10), self.company)[0],
            later,
            "primary first",
        )
        self.assertFalse(self.client_jane._billing_diagnoses_on(date(2026, 5, 31), self.company))

    def test_only_billing_managers_read_diagnoses(self):
        diagnosis = self._diagnose("F41.1")
        self.assertEqual(diagnosis.with_user(self.manager).code, "F41.1")
        self.assertEqual(self.client_jane.with_user(self.manager).billing_diagnosis_ids, diagnosis)
        with self.assertRaises(AccessError):
            diagnosis.with_user(self.staff).read(["code"])
        with self.assertRaises(AccessError):
            self.client_jane.with_user(self.staff).read(["billing_diagnosis_ids"])
        with self.assertRaises(AccessError):
            diagnosis.with_user(self.portal).read(["code"])
        with self.assertRaises(AccessError):
            self.env["practice.client.diagnosis"].with_user(self.staff).create(
                {"partner_id": self.client_jane.id, "code": "F41.1", "description": "x"}
            )

    def test_client_form_shows_diagnoses_to_managers_only(self):
        def form_arch(user):
            views = self.env["res.partner"].with_user(user).get_views([(False, "form")])
            return views["views"]["form"]["arch"]

        self.assertIn("billing_diagnosis_ids", form_arch(self.manager))
        self.assertNotIn("billing_diagnosis_ids", form_arch(self.staff))
        self.assertIn("billing_insurance_member_id", form_arch(self.staff))


@tagged("-at_install", "post_install")
class TestSessionCodes(PracticeBillingCase):
    def test_place_of_service_defaults_per_practice(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        self.assertEqual(session.billing_pos_code, "11")
        self.company.billing_default_pos_code = "10"
        telehealth = self._create_session(self.client_jane, "2026-11-09 15:00:00")
        self.assertEqual(telehealth.billing_pos_code, "10")

    def test_cpt_modifiers(self):
        session = self._create_session(self.client_jane, "2026-11-02 15:00:00")
        session.billing_cpt_modifiers = "95 GT"
        for bad in ("95 GT 59 25 76", "955", "9"):
            with self.assertRaises(ValidationError, msg=bad):
                session.billing_cpt_modifiers = bad
