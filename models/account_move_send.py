import logging

from odoo import api, models

_logger = logging.getLogger(__name__)


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _prepare_invoice_pdf_report(self, invoices_data):
        """Override of `account`: a PDF that cannot be printed fails its own invoice, with
        the reason, instead of the whole background sending (which would leave every
        invoice of the batch "Not sent", retried forever, and nobody told)."""
        try:
            with self.env.cr.savepoint():
                return super()._prepare_invoice_pdf_report(invoices_data)
        except Exception as error:  # any printing failure: see above
            if len(invoices_data) == 1:
                invoice, invoice_data = next(iter(invoices_data.items()))
                _logger.warning("Invoice %s: PDF not printed: %s", invoice.id, error)
                invoice_data["error"] = {
                    "error_title": self.env._("The invoice PDF could not be printed."),
                    "errors": [str(error) or type(error).__name__],
                }
                return None
        # Several invoices: find which ones fail, print the others.
        for invoice, invoice_data in invoices_data.items():
            self._prepare_invoice_pdf_report({invoice: invoice_data})
        return None

    @api.model
    def _hook_if_errors(self, moves_data, allow_raising=True):
        """Override of `account`: a practice invoice that could not be sent shows Failed,
        with the reason, and is retried like an undelivered email."""
        if not allow_raising:
            for move, move_data in moves_data.items():
                if move.billing_delivery_state == "pending":
                    move._billing_delivery_failed(self._format_error_text(move_data["error"]))
        return super()._hook_if_errors(moves_data, allow_raising=allow_raising)

    @api.model
    def _get_default_sending_settings(self, move, from_cron=False, **custom_settings):
        """Override of `account`: a practice invoice whose email cannot be made (its
        template does not render) fails alone, with the reason, and is not emailed; the
        other invoices of the batch go out."""
        if move.billing_delivery_state != "pending":
            return super()._get_default_sending_settings(move, from_cron, **custom_settings)
        try:
            with self.env.cr.savepoint():
                return super()._get_default_sending_settings(move, from_cron, **custom_settings)
        except Exception as error:  # reported on the invoice, see above
            _logger.warning("Invoice %s: email not prepared: %s", move.id, error)
            move._billing_delivery_failed(
                self.env._(
                    "The email could not be prepared: %(error)s. Check the practice's invoice "
                    "email template (Settings > Technical > Email Templates); the invoice is "
                    "tried again by the next hourly billing run.",
                    error=str(error) or type(error).__name__,
                )
            )
            return super()._get_default_sending_settings(
                move, from_cron, **{**custom_settings, "sending_methods": []}
            )

    # ------------------------------------------------------------------ the client portal
    @api.model
    def _get_default_sending_method(self, move):
        """Override of `account`: the client's delivery method in the invoice's practice
        (theirs, else the practice's default for new clients), as the billing run uses."""
        partner = move.partner_id.with_company(move.company_id)
        return partner.billing_delivery_method or super()._get_default_sending_method(move)

    @api.model
    def _is_applicable_to_move(self, method, move, **move_data):
        """Override of `account`: the portal notice needs the client's email address."""
        if method == "portal":
            return bool(move.partner_id.email)
        return super()._is_applicable_to_move(method, move, **move_data)

    @api.model
    def _hook_if_success(self, moves_data):  # pylint: disable=missing-return
        """Override of `account` (which returns nothing): "by Client Portal" gives the client
        portal access if needed and emails a link to the invoice, nothing attached (as the
        billing run does). The practice's emails leave now, not at the mail queue's next
        hourly call."""
        super()._hook_if_success(moves_data)
        if any(move.billing_delivery_state == "pending" for move in moves_data):
            self.env["account.move"]._billing_send_queued_emails()
        for move, move_data in moves_data.items():
            if "portal" in move_data["sending_methods"] and self._is_applicable_to_move(
                "portal", move, **move_data
            ):
                # In the invoice's practice (the portal user belongs to it), and through the
                # delivery step that turns a failed invitation into a Failed invoice with its
                # reason, never an error that stops the sending of every other invoice.
                move.with_company(move.company_id).with_context(
                    billing_attempt_counted=True
                )._billing_notify_clients_in_portal()
