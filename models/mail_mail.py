from odoo import models


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        """Override of `mail` to record whether a billing document reached its client."""
        for document in self._billing_documents_for_client():
            if failure_type:
                document._billing_delivery_failed(
                    document._billing_email_failure_reason(failure_type, failure_reason)
                )
            elif document.partner_id in success_pids:  # partner records
                document._billing_delivery_done()
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type
        )

    def _billing_documents_for_client(self):
        """Billing documents awaiting delivery that these mails send to their client."""
        documents = []
        for mail in self.filtered(lambda m: m.model and m.res_id):
            Model = self.env.get(mail.model)
            if Model is None or "billing_delivery_state" not in Model._fields:
                continue
            document = Model.sudo().browse(mail.res_id).exists()
            if document.partner_id in mail.recipient_ids and document.billing_delivery_state in (
                "pending",
                "failed",
            ):
                documents.append(document)
        return documents
