from odoo import models


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        """Override of `mail` to record whether a billing document reached its recipient
        (the client, or whoever receives the client's documents)."""
        for document in self._billing_documents_for_client():
            if failure_type:
                document._billing_delivery_failed(
                    document._billing_email_failure_reason(failure_type, failure_reason)
                )
            elif document._billing_recipient() in success_pids:  # partner records
                document._billing_delivery_done()
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type
        )

    def _billing_documents_for_client(self):
        """Billing documents awaiting delivery that these mails send to their recipient."""
        documents = []
        for mail in self.filtered(lambda m: m.model and m.res_id):
            Model = self.env.get(mail.model)
            if Model is None or "billing_delivery_state" not in Model._fields:
                continue
            document = Model.sudo().browse(mail.res_id).exists()
            if not document or document.billing_delivery_state not in ("pending", "failed"):
                continue
            if document._billing_recipient() in mail.recipient_ids:
                documents.append(document)
        return documents
