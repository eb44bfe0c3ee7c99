import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

DELIVERY_STATES = [
    ("pending", "Not sent"),
    ("sent", "Sent"),
    ("manual", "To deliver manually"),
    ("failed", "Failed"),
]
# Delivery attempts before a failed document waits for staff.
MAX_DELIVERY_ATTEMPTS = 5


class PracticeBillingDeliveryMixin(models.AbstractModel):
    """A billing document that reaches its client by the client's delivery method.

    Invoices, superbills and statements share it; each names its mail templates.
    Expects ``partner_id`` and ``company_id`` fields and the mail.thread and portal.mixin.
    """

    _name = "practice.billing.delivery.mixin"
    _description = "Billing Document Delivery"
    # XML id of the report that prints the document (set by each document model).
    _billing_report = None

    billing_delivery_method = fields.Selection(
        selection=lambda self: self.env["res.partner"]._billing_delivery_method_selection(),
        string="Delivery Method",
        copy=False,
        readonly=True,
    )
    billing_delivery_state = fields.Selection(
        DELIVERY_STATES, string="Delivery", copy=False, readonly=True, index="btree_not_null"
    )
    billing_delivery_error = fields.Text(string="Delivery Problem", copy=False, readonly=True)
    billing_delivery_attempts = fields.Integer(copy=False, readonly=True)

    def _billing_deliver(self):
        """Send each document the way its client receives documents; never raises."""
        for method, documents in self.grouped(lambda d: d._billing_delivery_method()).items():
            deliver = getattr(documents, f"_billing_deliver_{method}", None)
            if deliver:
                deliver()
            else:
                documents._billing_deliver_by_odoo(method)

    def _billing_recipient(self):
        """Who receives this document (its email, its portal notice, the method it goes
        by): its partner. Override per document: a superbill stays its patient's but goes
        to whoever pays for them (the responsible party)."""
        self.ensure_one()
        return self.partner_id

    def _billing_delivery_method(self):
        """How this document goes to its recipient: the recipient's method in the
        document's practice; email and portal need an email address, else manual (see
        _billing_deliver_manual, which asks staff for the address)."""
        self.ensure_one()
        if self._billing_needs_email():
            return "manual"
        return self._billing_recipient().with_company(self.company_id).billing_delivery_method

    def _billing_needs_email(self):
        """Whether this document's recipient receives documents by email or in the portal
        but has no email address."""
        self.ensure_one()
        recipient = self._billing_recipient().with_company(self.company_id)
        return recipient.billing_delivery_method in ("email", "portal") and not recipient.email

    def _billing_email_template(self):
        """XML id of the email that carries the document's PDF. Override per document."""
        raise NotImplementedError

    def _billing_portal_template(self):
        """XML id of the portal notification (no attachment, nothing clinical)."""
        raise NotImplementedError

    def _billing_deliver_email(self):
        """Email each document with its PDF, attached by the template."""
        self._billing_deliver_each(
            "email", lambda doc: doc._billing_post_to_client(doc._billing_email_template(), "email")
        )

    def _billing_deliver_portal(self):
        """Deliver through the client portal (see _billing_notify_clients_in_portal)."""
        self._billing_notify_clients_in_portal()

    def _billing_notify_clients_in_portal(self):
        """Invite each client to the portal if needed and email a link, nothing attached."""
        self._billing_deliver_each("portal", lambda doc: doc._billing_notify_in_portal())

    def _billing_deliver_each(self, method, send):
        """Run ``send`` per document; a failure marks that document failed, never the rest.
        Their emails go out now (see _billing_send_queued_emails)."""
        if self:
            self._billing_send_queued_emails()
        for document in self:
            try:
                with self.env.cr.savepoint():
                    send(document)
            except Exception as error:  # a delivery problem never blocks billing
                _logger.warning("Delivery of %s failed: %s", document.display_name, error)
                document.write(
                    {
                        "billing_delivery_method": method,
                        "billing_delivery_attempts": document._billing_next_attempt(),
                    }
                )
                document._billing_delivery_failed(str(error))

    @api.model
    def _billing_send_queued_emails(self):
        """Have Odoo's mail queue send the emails queued in this transaction as soon as it
        commits. Emails made by a scheduled job (the billing run, Odoo's invoice sending)
        are queued, not sent (mail's server actions set mail_notify_force_send to False),
        and the queue's own job runs hourly: without this, clients would receive their
        documents up to an hour after the run."""
        self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()

    def _billing_next_attempt(self):
        """The attempt count after this delivery: one more, unless the step that handed the
        document to Odoo's sending counted it already (context billing_attempt_counted)."""
        self.ensure_one()
        counted = self.env.context.get("billing_attempt_counted") is True
        return self.billing_delivery_attempts + (0 if counted else 1)

    def _billing_notify_in_portal(self):
        self.ensure_one()
        self._billing_recipient()._billing_grant_portal_access()
        self._portal_ensure_token()
        self._billing_post_to_client(self._billing_portal_template(), "portal")

    def _billing_post_to_client(self, template_xmlid, method):
        """Post the template's message to the recipient; mail.mail reports if it went out."""
        self.ensure_one()
        self.write(
            {
                "billing_delivery_method": method,
                "billing_delivery_state": "pending",
                "billing_delivery_attempts": self._billing_next_attempt(),
            }
        )
        self.message_post_with_source(
            template_xmlid,
            subtype_xmlid="mail.mt_comment",
            partner_ids=self._billing_recipient().ids,
        )

    def _billing_deliver_manual(self):
        """Left for staff to print or hand over; a client who should get documents by email
        but has no address gets staff asked for it (once)."""
        self.write({"billing_delivery_method": "manual", "billing_delivery_state": "manual"})
        for document in self.filtered(lambda d: d._billing_needs_email()):
            document._billing_recipient()._billing_ask_for_email(document.company_id)

    def _billing_deliver_by_odoo(self, method):
        """A method of another Odoo module (by Post, Peppol): only invoices go through Odoo's
        sending (see account.move); other documents are left to staff."""
        self._billing_deliver_manual()

    def _billing_delivery_failed(self, reason):
        self.write({"billing_delivery_state": "failed", "billing_delivery_error": reason})

    def _billing_email_failure_reason(self, failure_type, failure_reason=None):
        """What went wrong with the email, in words staff can act on (Odoo's failure_type
        is a code, such as mail_email_invalid)."""
        self.ensure_one()
        labels = dict(
            self.env["mail.notification"]._fields["failure_type"]._description_selection(self.env)
        )
        label = labels.get(failure_type) or failure_type
        client = self._billing_recipient().display_name
        if failure_type in ("mail_email_invalid", "mail_email_missing", "mail_bounce"):
            fix = self.env._(
                "Correct the email address of %(client)s (or set their delivery method to "
                "Manual), then use Send again.",
                client=client,
            )
        else:
            fix = self.env._(
                "The email to %(client)s could not be sent; it is tried again by the next "
                "hourly billing run. If it keeps failing, check Settings > Technical > "
                "Outgoing Mail Servers.",
                client=client,
            )
        detail = f" ({failure_reason})" if failure_reason and failure_reason != label else ""
        return f"{label}{detail}. {fix}"

    def _billing_delivery_done(self):
        self.write({"billing_delivery_state": "sent", "billing_delivery_error": False})

    def _billing_sent_pdfs(self):
        """{id: PDF bytes} of the documents whose sent PDF is kept apart from their report
        (exports reuse them). A report that keeps its own PDFs needs nothing here."""
        return {}

    @api.model
    def _billing_retry_failed_deliveries(self):
        """Deliver failed documents again, a few times, before they wait for staff."""
        failed = self.search(
            [
                ("billing_delivery_state", "=", "failed"),
                ("billing_delivery_attempts", "<", MAX_DELIVERY_ATTEMPTS),
                *self._billing_deliverable_domain(),
            ]
        )
        failed._billing_deliver()
        return failed

    @api.model
    def _billing_deliverable_domain(self):
        """Documents in a state fit to reach the client. Override per document."""
        return []
