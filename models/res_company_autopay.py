from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import ValidationError


class ResCompany(models.Model):
    """AutoPay (#13) settings of a practice: their checks and the authorization's version.
    (The fields are in res_company.py.)"""

    _inherit = "res.company"

    @api.constrains("billing_autopay_notice_days", "billing_autopay_max_attempts")
    def _check_billing_autopay_settings(self):
        for practice in self:
            if practice.billing_autopay_notice_days < 0:
                raise ValidationError(
                    self.env._(
                        "The AutoPay notice of %(practice)s cannot be negative: set how many "
                        "days before the charge clients are emailed (0: the day of the charge).",
                        practice=practice.name,
                    )
                )
            if practice.billing_autopay_max_attempts < 1:
                raise ValidationError(
                    self.env._(
                        "AutoPay of %(practice)s needs at least 1 attempt per invoice.",
                        practice=practice.name,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        practices = super().create(vals_list)
        practices.filtered("billing_autopay_enabled")._billing_autopay_fill_default_terms()
        return practices

    def write(self, vals):
        """Override: the authorization's version goes up whenever its text changes (consents
        record the version their client accepted); turning AutoPay on without a text of the
        practice's own gives it the default one."""
        if "billing_autopay_terms" not in vals:
            result = super().write(vals)
        else:
            before = {practice: practice.billing_autopay_terms for practice in self}
            result = super().write(vals)
            for practice, text in before.items():
                if text and practice.billing_autopay_terms != text:
                    practice.billing_autopay_terms_version += 1
        if vals.get("billing_autopay_enabled"):
            self._billing_autopay_fill_default_terms()
        return result

    def _billing_autopay_fill_default_terms(self):
        for practice in self.filtered(lambda p: not p.billing_autopay_terms):
            practice.billing_autopay_terms = practice._billing_autopay_default_terms()

    def _billing_autopay_default_terms(self):
        """The authorization text a practice starts from (Settings lets it rewrite it)."""
        self.ensure_one()
        paragraphs = [
            self.env._(
                "I authorize %(practice)s to charge the card I save for AutoPay for each "
                "invoice the practice posts for my sessions, and for those of the clients I "
                "pay for. Before each charge I receive an email with the amount and the date "
                "of the charge.",
                practice=self.name,
            ),
            self.env._(
                "No single charge exceeds the limit I set (none if I set no limit): an invoice "
                "above it is not charged and I am told so."
            ),
            self.env._(
                "I can end AutoPay at any time in My Account > AutoPay on the practice's "
                "website, or by asking %(practice)s. Ending it stops future charges; it does "
                "not undo payments already made.",
                practice=self.name,
            ),
        ]
        return Markup("").join(Markup("<p>%s</p>") % paragraph for paragraph in paragraphs)

    def _billing_autopay_terms(self):
        """The authorization text clients accept now: the practice's, else the default."""
        self.ensure_one()
        return self.billing_autopay_terms or self._billing_autopay_default_terms()
