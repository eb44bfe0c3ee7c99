from werkzeug.urls import url_encode

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

from odoo.addons.payment import utils as payment_utils

from .portal import PracticeBillingPortal


class PracticeAutopayPortal(PracticeBillingPortal):
    """My Account > AutoPay: the client saves a card with Odoo's own payment form (a
    validation transaction that tokenizes it, as Odoo's "Payment methods" page does), then
    authorizes AutoPay for one of their saved cards under the practice's current text.

    The consent is recorded by a form post of its own, after the card exists: the card must
    be the user's own (checked as the user, by Odoo's token rules) and the text's version the
    one the page showed, so what the client ticked is exactly what is recorded."""

    def _prepare_portal_layout_values(self):
        """Override: whether the home page shows the AutoPay tile (``billing_autopay_offered``)."""
        values = super()._prepare_portal_layout_values()
        values["billing_autopay_offered"] = self._billing_autopay_offered()
        return values

    def _billing_autopay_offered(self):
        user = request.env.user
        return not user._is_public() and user.partner_id._billing_autopay_offered()

    def _prepare_autopay_values(self, tx_id=None, access_token=None, **extra):
        """The AutoPay page's values: the client's status and cards, the practice's text and
        Odoo's payment form in validation mode (new cards) for the practice's providers."""
        client = self._billing_own_client()
        practice = client._billing_autopay_practice()
        cards = client._billing_autopay_cards()
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                practice.id, client.id, 0.0, force_tokenization=True, is_validation=True
            )
        )
        payment_methods_sudo = (
            request.env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(providers_sudo.ids, client.id, force_tokenization=True)
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "page_name": "autopay",
                "client": client,
                "practice": practice,
                "cards": cards,
                "selected_card": self._billing_card_just_saved(tx_id, access_token, cards)
                or client.billing_autopay_token_id
                or cards[:1],
                "terms": practice._billing_autopay_terms(),
                "terms_version": practice.billing_autopay_terms_version,
                # Odoo's payment form (payment.form), as /my/payment_method renders it, without
                # the saved cards (the enrollment form lists them) and back here when done.
                "mode": "validation",
                "allow_token_selection": False,
                "allow_token_deletion": False,
                "submit_button_label": request.env._("Save card"),
                "reference_prefix": payment_utils.singularize_reference_prefix(prefix="V"),
                "partner_id": client.id,
                "providers_sudo": providers_sudo,
                "payment_methods_sudo": payment_methods_sudo,
                "tokens_sudo": request.env["payment.token"],
                "transaction_route": "/payment/transaction",
                "landing_route": "/my/autopay",
                "access_token": payment_utils.generate_access_token(client.id, None, None),
                **extra,
            }
        )
        return values

    def _billing_card_just_saved(self, tx_id, access_token, cards):
        """The card of the validation transaction the payment form lands back with, if it is
        the user's (its access token proves the transaction is theirs)."""
        tx_id = self._cast_as_int(tx_id)
        if not tx_id:
            return cards.browse()
        tx_sudo = request.env["payment.transaction"].sudo().browse(tx_id).exists()
        if not tx_sudo or not payment_utils.check_access_token(
            access_token, tx_sudo.partner_id.id, tx_sudo.amount, tx_sudo.currency_id.id
        ):
            return cards.browse()
        return tx_sudo.token_id & cards

    @http.route(["/my/autopay"], type="http", auth="user", website=True)
    def portal_my_autopay(self, tx_id=None, access_token=None, **kw):
        if not self._billing_autopay_offered():
            return request.not_found()
        values = self._prepare_autopay_values(tx_id, access_token)
        return request.render("practice_billing.portal_my_autopay", values)

    @http.route(["/my/autopay/enroll"], type="http", auth="user", methods=["POST"], website=True)
    def portal_autopay_enroll(
        self, token_id=None, terms_version=None, authorize=None, limit=None, hsa=None, **kw
    ):
        """The client authorizes AutoPay for one of their saved cards. A refused request
        shows the page again with the reason."""
        if not self._billing_autopay_offered():
            return request.not_found()
        client = self._billing_own_client()
        practice = client._billing_autopay_practice()
        try:
            card = self._billing_own_card(token_id)
            if not authorize:
                raise UserError(request.env._("Tick “I authorize” to enroll in AutoPay."))
            if self._cast_as_int(terms_version) != practice.billing_autopay_terms_version:
                raise UserError(
                    request.env._(
                        "The practice changed its AutoPay authorization since you opened this "
                        "page. Read it again below, then enroll."
                    )
                )
            amount = self._cast_as_float(limit or 0)
            if amount is None:
                raise UserError(request.env._("Enter the limit as an amount, or leave it empty."))
            client._billing_autopay_enroll(card, "portal", limit=amount, hsa=bool(hsa))
        except UserError as error:
            values = self._prepare_autopay_values(error=error.args[0])
            return request.render("practice_billing.portal_my_autopay", values)
        return request.redirect(f"/my/autopay?{url_encode({'enrolled': 1})}")

    def _billing_own_card(self, token_id):
        """The saved card ``token_id``, checked as the logged-in user: Odoo's rules let them
        read their own cards only. Another's is refused as if it did not exist."""
        card = request.env["payment.token"].browse(self._cast_as_int(token_id) or 0)
        try:
            card.check_access("read")
            card = card.exists()
        except (AccessError, MissingError):
            card = card.browse()
        if not card:
            raise UserError(request.env._("Choose one of your saved cards."))
        return card

    @http.route(["/my/autopay/end"], type="http", auth="user", methods=["POST"], website=True)
    def portal_autopay_end(self, **kw):
        """The client ends their own AutoPay (never anyone else's: no record is named)."""
        client = self._billing_own_client()
        if not client.billing_autopay_consent_id:
            return request.redirect("/my/autopay")
        client._billing_autopay_end()
        return request.redirect(f"/my/autopay?{url_encode({'ended': 1})}")
