import math

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

# A client's card and consent are the practice's billing business: its billing staff read
# them, not every employee (a clinician has no use for a client's card).
BILLING_STAFF = "practice_billing.group_billing_user"
BILLING_MANAGER = "practice_billing.group_billing_manager"
# Written only through the methods below (enroll, pause, resume, end), which check who asks
# and leave a trace on the chatter: never by a plain write over RPC.
AUTOPAY_FIELDS = {
    "billing_autopay",
    "billing_autopay_token_id",
    "billing_autopay_limit",
    "billing_autopay_hsa",
    "billing_autopay_paused",
    "billing_autopay_pause_reason",
    "billing_autopay_consent_id",
}


class ResPartner(models.Model):
    """AutoPay (#13): a client's saved card pays their posted invoices, with consent."""

    _inherit = "res.partner"

    billing_autopay = fields.Boolean(
        string="AutoPay",
        copy=False,
        help="Enrolled: posted invoices are charged to the saved card once the notice has run "
        "out. Only with a recorded consent.",
        groups=BILLING_STAFF,
    )
    billing_autopay_token_id = fields.Many2one(
        "payment.token",
        string="AutoPay Card",
        copy=False,
        domain="[('partner_id', '=', id)]",
        help="The saved card AutoPay charges.",
        groups=BILLING_STAFF,
    )
    billing_autopay_limit = fields.Monetary(
        string="AutoPay Limit",
        currency_field="billing_autopay_currency_id",
        copy=False,
        help="The most one charge may take; 0 means no limit. Invoices above it are not "
        "charged, and the client and staff are told why.",
        groups=BILLING_STAFF,
    )
    billing_autopay_currency_id = fields.Many2one(
        "res.currency", compute="_compute_billing_autopay_currency_id", groups=BILLING_STAFF
    )
    billing_autopay_hsa = fields.Boolean(
        string="HSA/FSA Card",
        copy=False,
        help="The card is a health savings or flexible spending card: it is never charged for "
        "late cancellation or no-show fees.",
        groups=BILLING_STAFF,
    )
    billing_autopay_paused = fields.Boolean(
        string="AutoPay Paused",
        copy=False,
        help="Nothing is charged while paused (by staff, or after repeated declines).",
        groups=BILLING_STAFF,
    )
    billing_autopay_pause_reason = fields.Char(
        string="Pause Reason", copy=False, groups=BILLING_STAFF
    )
    billing_autopay_consent_id = fields.Many2one(
        "practice.autopay.consent",
        string="AutoPay Consent",
        copy=False,
        help="The authorization in force.",
        groups=BILLING_STAFF,
    )
    billing_autopay_consent_ids = fields.One2many(
        "practice.autopay.consent", "partner_id", string="AutoPay Consents", groups=BILLING_STAFF
    )

    def _compute_billing_autopay_currency_id(self):
        for partner in self:
            partner.billing_autopay_currency_id = (
                partner.company_id.currency_id or self.env.company.currency_id
            )

    # ------------------------------------------------------------------ integrity
    @api.model_create_multi
    def create(self, vals_list):
        """Override: a contact is never created enrolled, paused or holding a consent
        (another client's: ending "their" AutoPay would close it)."""
        for vals in vals_list:
            self._billing_autopay_check_direct_change(vals)
        return super().create(vals_list)

    def write(self, vals):
        """Override: AutoPay fields change through enrollment, pause, resume and end only
        (each checks the user's role), never by a direct write of staff."""
        self._billing_autopay_check_direct_change(vals)
        return super().write(vals)

    def _billing_autopay_check_direct_change(self, vals):
        if AUTOPAY_FIELDS.intersection(vals) and not self.env.su:
            raise AccessError(
                self.env._(
                    "AutoPay is changed with the buttons of the client's AutoPay tab (Enroll, "
                    "Pause, Resume, End), not by editing its fields."
                )
            )

    @api.constrains("billing_autopay", "billing_autopay_token_id", "billing_autopay_consent_id")
    def _check_billing_autopay_consent(self):
        """An enrolled client has a consent in force, their own, for the very card charged."""
        for client in self.sudo().filtered("billing_autopay"):
            consent = client.billing_autopay_consent_id
            if not consent._billing_in_force() or consent.partner_id != client:
                raise ValidationError(
                    self.env._(
                        "%(client)s cannot be enrolled in AutoPay without their recorded "
                        "consent. Enroll them from the portal, or with their signed form "
                        "(Enroll with signed form).",
                        client=client.display_name,
                    )
                )
            if not client.billing_autopay_token_id or (
                consent.token_id != client.billing_autopay_token_id
            ):
                raise ValidationError(
                    self.env._(
                        "The AutoPay card of %(client)s is not the card they authorized. "
                        "Enroll them again with the card to charge.",
                        client=client.display_name,
                    )
                )

    # ------------------------------------------------------------------ for charging
    def _billing_autopay_active(self):
        """The clients among these whose card AutoPay may charge now: enrolled, not paused,
        with their card still saved. The one test the charging side applies."""
        return self.sudo().filtered(
            lambda client: (
                client.billing_autopay
                and not client.billing_autopay_paused
                and client.billing_autopay_token_id.active
            )
        )

    def _billing_autopay_consented_to(self, practice):
        """Whether this client's AutoPay consent authorizes ``practice`` (the one it names):
        a contact shared by several practices consents to one of them, never to the others."""
        self.ensure_one()
        return self.sudo().billing_autopay_consent_id.company_id == practice

    def _billing_autopay_pause(self, reason):
        """Pause AutoPay of these enrolled clients (nothing is charged until resumed), with
        ``reason`` (shown to staff, logged on the chatter). The single home of pausing: staff's
        button, repeated declines and a removed card all come here. No access check: callers
        decide who may pause."""
        enrolled = self.sudo().filtered("billing_autopay")
        enrolled.write({"billing_autopay_paused": True, "billing_autopay_pause_reason": reason})
        for client in enrolled:
            client.message_post(
                body=Markup("<p>%s</p>") % self.env._("AutoPay paused: %(reason)s", reason=reason)
            )
        return enrolled

    def _billing_autopay_resume(self):
        """Charge these clients' cards again. Refused when the card has been removed."""
        paused = self.sudo().filtered(lambda c: c.billing_autopay and c.billing_autopay_paused)
        for client in paused:
            if not client.billing_autopay_token_id.active:
                raise UserError(
                    self.env._(
                        "The AutoPay card of %(client)s was removed. Enroll them again with "
                        "a saved card instead of resuming.",
                        client=client.display_name,
                    )
                )
        paused.write({"billing_autopay_paused": False, "billing_autopay_pause_reason": False})
        for client in paused:
            client.message_post(body=Markup("<p>%s</p>") % self.env._("AutoPay resumed."))
        self.env["account.move"]._billing_autopay_schedule_again_for(paused)
        return paused

    # ------------------------------------------------------------------ enrollment
    def _billing_autopay_practice(self):
        """The practice whose AutoPay this client enrolls in: theirs, else the current one."""
        self.ensure_one()
        return self.sudo().company_id or self.env.company

    def _billing_autopay_offered(self):
        """Whether the practice offers AutoPay to this contact: it has AutoPay on and the
        contact is one of its clients or pays for one. Decides what the portal shows, not
        what anybody may read."""
        self.ensure_one()
        practice = self._billing_autopay_practice()
        if not practice.billing_autopay_enabled:
            return False
        partner = self.sudo()
        people = partner | partner.billing_dependent_ids
        return bool(
            self.env["calendar.event"]
            .sudo()
            .search_count(
                [
                    ("billing_client_id", "in", people.ids),
                    ("billing_product_id", "!=", False),
                    ("billing_company_id", "=", practice.id),
                ],
                limit=1,
            )
        )

    def _billing_autopay_cards(self):
        """The saved cards this client may authorize: their own (or their household's,
        as Odoo's token payments allow), active, of a provider of the practice that is
        enabled or in test mode and saves cards."""
        self.ensure_one()
        partner = self.sudo()
        practice = partner._billing_autopay_practice()
        return (
            self.env["payment.token"]
            .sudo()
            .search(
                [
                    ("partner_id", "in", (partner | partner.commercial_partner_id).ids),
                    ("provider_id.company_id", "=", practice.id),
                    ("provider_id.state", "in", ("enabled", "test")),
                    ("provider_id.allow_tokenization", "=", True),
                ]
            )
        )

    def _billing_autopay_enroll(self, card, source, limit=0.0, hsa=False, signed_form=None):
        """Record this client's consent to charge ``card`` under the practice's current
        authorization text and enroll them (a consent in force for another card ends).

        ``source`` is "portal" or "staff"; ``signed_form`` a (file name, base64 data) pair,
        required from staff. No access check: the portal checks the card is the user's own,
        the wizard that the user is a billing manager. Returns the consent."""
        self.ensure_one()
        client = self.sudo()
        card = card.sudo()
        practice = client._billing_autopay_practice()
        client._billing_autopay_check_enrollment(card, practice, limit, source, signed_form)
        client.billing_autopay_consent_id._billing_end()
        consent = client._billing_autopay_record_consent(card, practice, source, signed_form)
        client.write(
            {
                "billing_autopay": True,
                "billing_autopay_token_id": card.id,
                "billing_autopay_consent_id": consent.id,
                "billing_autopay_limit": limit,
                "billing_autopay_hsa": hsa,
                "billing_autopay_paused": False,
                "billing_autopay_pause_reason": False,
            }
        )
        # Invoices left uncharged for want of a card (or while paused) are due again.
        self.env["account.move"]._billing_autopay_schedule_again_for(client)
        # The chatter is every employee's: it names no card (the AutoPay tab does, for
        # billing staff).
        client.message_post(
            body=Markup("<p>%s</p>")
            % self.env._(
                "Enrolled in AutoPay (authorization version %(version)s, %(how)s).",
                version=consent.terms_version,
                how=dict(consent._fields["source"]._description_selection(self.env))[source],
            )
        )
        return consent

    def _billing_autopay_record_consent(self, card, practice, source, signed_form=None):
        """The consent of this client (sudo) to charge ``card``: the practice's text and
        version now, and the signed form staff received, if any."""
        consent = (
            self.env["practice.autopay.consent"]
            .sudo()
            .create(
                {
                    "partner_id": self.id,
                    "company_id": practice.id,
                    "token_id": card.id,
                    "terms_version": practice.billing_autopay_terms_version,
                    "terms": practice._billing_autopay_terms(),
                    "source": source,
                }
            )
        )
        if signed_form:
            consent._billing_attach_signed_form(*signed_form)
        return consent

    def _billing_autopay_check_enrollment(self, card, practice, limit, source, signed_form):
        if not practice.billing_autopay_enabled:
            raise UserError(
                self.env._(
                    "AutoPay is off for %(practice)s. Turn it on in Settings > Practice "
                    "Billing first.",
                    practice=practice.name,
                )
            )
        if card not in self._billing_autopay_cards():
            raise UserError(
                self.env._(
                    "%(card)s cannot be used for the AutoPay of %(client)s: choose a card "
                    "saved by the client with one of the practice's payment providers.",
                    card=card.display_name,
                    client=self.display_name,
                )
            )
        # "nan" and "inf" parse as floats from the portal's form: never a limit.
        if not math.isfinite(limit) or limit < 0:
            raise UserError(
                self.env._("The AutoPay limit is an amount of 0 or more; 0 means no limit.")
            )
        if source == "staff" and not signed_form:
            raise UserError(
                self.env._(
                    "Attach the authorization form %(client)s signed to enroll them.",
                    client=self.display_name,
                )
            )

    def _billing_autopay_end(self):
        """End AutoPay of these clients: the consent in force records when and by whom,
        nothing is charged any more. Consents, cards and payments are all kept."""
        enrolled = self.sudo().filtered("billing_autopay_consent_id")
        for client in enrolled:
            client.billing_autopay_consent_id._billing_end()
            client.message_post(body=Markup("<p>%s</p>") % self.env._("AutoPay ended."))
        self.sudo().write(
            {
                "billing_autopay": False,
                "billing_autopay_consent_id": False,
                "billing_autopay_token_id": False,
                "billing_autopay_paused": False,
                "billing_autopay_pause_reason": False,
            }
        )
        return enrolled

    # ------------------------------------------------------------------ staff's buttons
    def _billing_autopay_check_role(self, group, what):
        if not self.env.user.has_group(group):
            raise AccessError(
                self.env._(
                    "Only %(role)s may %(what)s AutoPay.",
                    role=self.env.ref(group).sudo().name,
                    what=what,
                )
            )
        # The user must be allowed to change these clients at all (their practice).
        self.check_access("write")
        # A contact shared by several practices consents to one: only its staff change it.
        for client in self.sudo().filtered("billing_autopay_consent_id"):
            practice = client.billing_autopay_consent_id.company_id
            if practice not in self.env.companies:
                raise AccessError(
                    self.env._(
                        "The AutoPay of %(client)s is authorized to %(practice)s: only its "
                        "billing staff may %(what)s it.",
                        client=client.display_name,
                        practice=practice.name,
                        what=what,
                    )
                )

    def action_billing_autopay_enroll(self):
        """Open "Enroll with signed form" for this client (billing managers)."""
        self.ensure_one()
        self._billing_autopay_check_role(BILLING_MANAGER, self.env._("enroll clients in"))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Enroll in AutoPay"),
            "res_model": "practice.autopay.enroll",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.id},
        }

    def action_billing_autopay_pause(self):
        """Pause AutoPay (billing staff: a client calls about a lost card or a dispute)."""
        self._billing_autopay_check_role(BILLING_STAFF, self.env._("pause"))
        self._billing_autopay_pause(self.env._("paused by %(user)s", user=self.env.user.name))

    def action_billing_autopay_resume(self):
        """Resume AutoPay (billing staff)."""
        self._billing_autopay_check_role(BILLING_STAFF, self.env._("resume"))
        self._billing_autopay_resume()

    def action_billing_autopay_end(self):
        """End AutoPay (billing managers: ending the client's authorization is theirs)."""
        self._billing_autopay_check_role(BILLING_MANAGER, self.env._("end"))
        self._billing_autopay_end()
