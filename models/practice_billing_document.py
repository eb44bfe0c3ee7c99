import io
import zipfile
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL

from .account_move_autopay import AUTOPAY_STATES
from .practice_billing_delivery_mixin import DELIVERY_STATES
from .res_partner import billing_party_sql

# Documents that have not reached the client yet: "Not delivered" on the dashboard.
NOT_DELIVERED_STATES = ("pending", "failed", "manual")

DOCUMENT_TYPES = [
    ("invoice", "Invoice"),
    ("credit_note", "Credit Note"),
    ("statement", "Statement"),
    ("superbill", "Superbill"),
]
PAYMENT_STATUSES = [
    ("unpaid", "Unpaid"),
    ("partial", "Partially Paid"),
    ("paid", "Paid"),
    ("reversed", "Reversed"),
]
# What is still due on an invoice, by days past its due date (the buckets of statements).
AGING_BUCKETS = [
    ("nothing_due", "Nothing Due"),
    ("current", "Current"),
    ("1_30", "1-30 Days"),
    ("31_60", "31-60 Days"),
    ("61_90", "61-90 Days"),
    ("90_plus", "Over 90 Days"),
]


class PracticeBillingDocument(models.Model):
    """Every billing document of the practice's clients in one list: invoices, credit notes,
    statements, superbills. Invoices are those of the practice's clients and of those who pay
    for them (res.partner.billing_party_sql); the company's other customers are not listed."""

    _name = "practice.billing.document"
    _description = "Billing Document"
    _auto = False
    _order = "date desc, id desc"
    # The view reads these: the ORM flushes them before any search on the view.
    _depends = {
        "account.move": [
            "move_type",
            "name",
            "partner_id",
            "company_id",
            "invoice_date",
            "amount_total_signed",
            "billing_delivery_method",
            "billing_delivery_state",
            "state",
            "payment_state",
            "invoice_date_due",
            "amount_residual_signed",
            "billing_autopay_state",
            "billing_autopay_date",
        ],
        "practice.statement": [
            "name",
            "partner_id",
            "company_id",
            "date",
            "balance_end",
            "billing_delivery_method",
            "billing_delivery_state",
        ],
        "practice.superbill": [
            "name",
            "partner_id",
            "company_id",
            "date_end",
            "amount_total",
            "state",
            "billing_delivery_method",
            "billing_delivery_state",
        ],
        "res.company": ["currency_id"],
        "calendar.event": ["billing_client_id", "billing_company_id", "billing_product_id"],
        "account.move.line": ["billing_session_id", "move_id"],
    }

    document_type = fields.Selection(DOCUMENT_TYPES, string="Type", readonly=True)
    name = fields.Char(string="Number", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Client", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date(readonly=True)
    amount = fields.Monetary(readonly=True)
    delivery_method = fields.Selection(
        selection=lambda self: self.env["res.partner"]._billing_delivery_method_selection(),
        readonly=True,
    )
    delivery_state = fields.Selection(DELIVERY_STATES, readonly=True)
    is_unpaid = fields.Boolean(string="Unpaid", readonly=True)
    is_past_due = fields.Boolean(string="Past Due", readonly=True)
    # Money figures of the graph and pivot views: invoices and credit notes only (a
    # statement's balance or a superbill's charges are not invoiced again).
    date_due = fields.Date(string="Due Date", readonly=True)
    amount_invoiced = fields.Monetary(
        string="Invoiced", readonly=True, help="Invoices, less credit notes."
    )
    amount_paid = fields.Monetary(string="Paid", readonly=True)
    amount_due = fields.Monetary(readonly=True)
    payment_status = fields.Selection(PAYMENT_STATUSES, readonly=True)
    aging_bucket = fields.Selection(
        AGING_BUCKETS,
        string="Aging",
        readonly=True,
        help="What is still due, by days past the due date (credits count as current); "
        "statements and superbills have nothing due of their own.",
    )
    clinician_id = fields.Many2one(
        "res.users",
        compute="_compute_clinician_id",
        search="_search_clinician_id",
        help="The clinician of the sessions the document bills (the first, if several).",
    )
    autopay_state = fields.Selection(AUTOPAY_STATES, string="AutoPay", readonly=True)
    autopay_date = fields.Date(
        string="AutoPay Date", readonly=True, help="When the client's saved card will be charged."
    )
    res_model = fields.Char(string="Source Model", readonly=True)
    res_id = fields.Integer(string="Source ID", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        # Every interpolated piece is SQL written by the code (no input).
        self.env.cr.execute(  # pylint: disable=sql-injection
            f"""
            CREATE VIEW {self._table} AS (
                SELECT m.id * 4 AS id,
                       CASE WHEN m.move_type = 'out_refund' THEN 'credit_note'
                            ELSE 'invoice' END AS document_type,
                       m.name, m.partner_id, m.company_id, c.currency_id,
                       m.invoice_date AS date, m.amount_total_signed AS amount,
                       m.billing_delivery_method AS delivery_method,
                       m.billing_delivery_state AS delivery_state,
                       (m.state = 'posted' AND m.move_type = 'out_invoice'
                        AND m.payment_state IN ('not_paid', 'partial')) AS is_unpaid,
                       (m.state = 'posted' AND m.move_type = 'out_invoice'
                        AND m.payment_state IN ('not_paid', 'partial')
                        AND m.invoice_date_due < CURRENT_DATE) AS is_past_due,
                       'account.move' AS res_model, m.id AS res_id,
                       m.invoice_date_due AS date_due,
                       m.amount_total_signed AS amount_invoiced,
                       m.amount_total_signed - m.amount_residual_signed AS amount_paid,
                       m.amount_residual_signed AS amount_due,
                       CASE m.payment_state WHEN 'not_paid' THEN 'unpaid'
                                            WHEN 'partial' THEN 'partial'
                                            WHEN 'reversed' THEN 'reversed'
                                            ELSE 'paid' END AS payment_status,
                       {self._aging_bucket_sql()} AS aging_bucket,
                       m.billing_autopay_state AS autopay_state,
                       m.billing_autopay_date AS autopay_date
                  FROM account_move m JOIN res_company c ON c.id = m.company_id
                 WHERE m.move_type IN ('out_invoice', 'out_refund') AND m.state = 'posted'
                   -- the practice's clients and their payers only, not the company's
                   -- other customers (res.partner.billing_party_sql)
                   AND {billing_party_sql("m.partner_id", "m.company_id")}
                UNION ALL
                SELECT s.id * 4 + 1, 'statement', s.name, s.partner_id, s.company_id,
                       c.currency_id, s.date, s.balance_end, s.billing_delivery_method,
                       s.billing_delivery_state, FALSE, FALSE, 'practice.statement', s.id,
                       NULL, 0, 0, 0, NULL, 'nothing_due', NULL, NULL
                  FROM practice_statement s JOIN res_company c ON c.id = s.company_id
                UNION ALL
                SELECT b.id * 4 + 2, 'superbill', b.name, b.partner_id, b.company_id,
                       c.currency_id, b.date_end, b.amount_total, b.billing_delivery_method,
                       b.billing_delivery_state, FALSE, FALSE, 'practice.superbill', b.id,
                       NULL, 0, 0, 0, NULL, 'nothing_due', NULL, NULL
                  FROM practice_superbill b JOIN res_company c ON c.id = b.company_id
                 WHERE b.state = 'issued'
            )
            """
        )

    @api.model
    def _aging_bucket_sql(self):
        """SQL of the aging bucket of an invoice or credit note ``m`` of account_move;
        credits (negative amounts due) are current, as on statements. Days are counted to
        the database's date, as is_past_due is."""
        return """
            CASE WHEN m.amount_residual_signed = 0 THEN 'nothing_due'
                 WHEN m.amount_residual_signed < 0
                   OR m.invoice_date_due IS NULL
                   OR m.invoice_date_due >= CURRENT_DATE THEN 'current'
                 WHEN CURRENT_DATE - m.invoice_date_due <= 30 THEN '1_30'
                 WHEN CURRENT_DATE - m.invoice_date_due <= 60 THEN '31_60'
                 WHEN CURRENT_DATE - m.invoice_date_due <= 90 THEN '61_90'
                 ELSE '90_plus' END"""

    def _compute_clinician_id(self):
        for document in self:
            sessions = document._sessions()
            document.clinician_id = sessions.user_id[:1]

    def _sessions(self):
        """The sessions the document bills (none for statements)."""
        return self._source().sudo()._billing_sessions()

    def _search_clinician_id(self, operator, value):
        sessions = self.env["calendar.event"].sudo().search([("user_id", operator, value)])
        domains = [
            [("res_model", "=", model), ("res_id", "in", documents.ids)]
            for model in self._source_models()
            if (documents := self.env[model].sudo()._billing_documents_of_sessions(sessions))
        ]
        return expression.OR(domains) if domains else expression.FALSE_DOMAIN

    @api.model
    def _source_models(self):
        """The models whose documents the list shows (those the view reads)."""
        return [
            model
            for model in self._depends
            if model not in ("res.company", "calendar.event", "account.move.line")
        ]

    # ------------------------------------------------------------------ sources
    def _source(self):
        """The invoice, credit note, statement or superbill this row shows."""
        self.ensure_one()
        return self.env[self.res_model].browse(self.res_id)

    def _sources(self):
        """The source documents, one recordset per kind, for work done in batches."""
        return [
            self.env[model].browse(documents.mapped("res_id"))
            for model, documents in self.grouped("res_model").items()
        ]

    def action_open(self):
        source = self._source()
        return {
            "type": "ir.actions.act_window",
            "res_model": source._name,
            "res_id": source.id,
            "view_mode": "form",
        }

    # ------------------------------------------------------------------ export
    def _get_merged_pdf(self):
        """One PDF of all documents, in the order of self (the order the list shows), its
        pages numbered; a cover page listing them first when the context says
        ``billing_export_cover`` (see models/practice_billing_export.py)."""
        return self.env["practice.billing.export"]._merged_pdf(
            self._render_pdfs(), cover=self.env.context.get("billing_export_cover")
        )

    def _render_pdfs(self):
        """[(document, PDF bytes)] in order.

        Documents of one kind are rendered together (one wkhtmltopdf process, split back
        per document). What the client received is reused: an invoice's sent PDF, an issued
        superbill's frozen one (frozen now if it had none yet)."""
        pdfs = {}
        for documents in self.grouped("res_model").values():
            pdfs.update(documents._render_pdfs_of_one_kind())
        return [(document, pdfs[document.res_model, document.res_id]) for document in self]

    def _render_pdfs_of_one_kind(self):
        """{(res_model, res_id): PDF bytes} for documents of a single kind."""
        model = self[:1].res_model
        sources = self.env[model].browse(self.mapped("res_id"))
        pdfs = {(model, res_id): pdf for res_id, pdf in sources._billing_sent_pdfs().items()}
        to_render = [res_id for res_id in sources.ids if (model, res_id) not in pdfs]
        if to_render:
            Report = self.env["ir.actions.report"]
            rendered = Report._render_pdf_each(sources._billing_report, to_render)
            pdfs.update({(model, res_id): pdf for res_id, pdf in rendered.items()})
        return pdfs

    def _zip_name(self):
        client = "".join(ch if ch.isalnum() else "-" for ch in self.partner_id.name or "client")
        number = "".join(ch if ch.isalnum() else "-" for ch in self.name or str(self.res_id))
        return f"{self.document_type}-{number}-{client}.pdf"

    def _get_zip(self):
        """A ZIP with one PDF per document, named <type>-<number>-<client>.pdf."""
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for document, pdf in self._render_pdfs():
                archive.writestr(document._zip_name(), pdf)
        return stream.getvalue()

    def _download(self, content, name, mimetype):
        attachment = self.env["ir.attachment"].create(
            {"name": name, "raw": content, "mimetype": mimetype, "res_model": self._name}
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "download",
        }

    @api.autovacuum
    def _gc_exports(self):
        """Exports are downloaded at once: drop the files of those older than a day."""
        self.env["ir.attachment"].sudo().search(
            [
                ("res_model", "=", self._name),
                ("create_date", "<", fields.Datetime.now() - timedelta(days=1)),
            ]
        ).unlink()

    def action_export_pdf(self):
        """Download the selected documents as one PDF, in the order shown (many are
        prepared in the background: practice.billing.export)."""
        if self.env["practice.billing.export"]._runs_in_background(self):
            return self.env["practice.billing.export"]._start(
                self, "pdf", cover=self.env.context.get("billing_export_cover")
            )
        return self._download(self._get_merged_pdf(), "billing-documents.pdf", "application/pdf")

    def action_download_zip(self):
        if self.env["practice.billing.export"]._runs_in_background(self):
            return self.env["practice.billing.export"]._start(self, "zip")
        return self._download(self._get_zip(), "billing-documents.zip", "application/zip")

    # ------------------------------------------------------------------ delivery
    def action_send(self):
        """Send the selected documents by each client's delivery method."""
        kinds = self._sources()
        for sources in kinds:
            self._lock_for_sending(sources)
        for sources in kinds:
            sources._billing_deliver()
        self.invalidate_model()  # the view shows the sources' new delivery states

    @api.model
    def _lock_for_sending(self, sources):
        """Lock ``sources`` for this sending, or raise a UserError naming those another
        worker holds: Odoo's background sending (it locks what it sends, as this does) or
        the billing run at the start of the month. Waiting for it, then sending, would send
        them twice."""
        self.env.cr.execute(
            SQL(
                "SELECT id FROM %s WHERE id IN %s FOR UPDATE SKIP LOCKED",
                SQL.identifier(sources._table),
                tuple(sources.ids),
            )
        )
        busy = sources - sources.browse(row[0] for row in self.env.cr.fetchall())
        if busy:
            raise UserError(
                self.env._(
                    "Sending is in progress for %(documents)s: they are being sent right now. "
                    "Try again in a minute if they still show as not sent.",
                    documents=", ".join(busy.mapped("display_name")),
                )
            )

    def action_mark_delivered(self):
        """Staff printed or sent these themselves."""
        for sources in self._sources():
            sources._billing_delivery_done()
        self.invalidate_model()

    # ------------------------------------------------------------------ dashboard
    @api.model
    def retrieve_dashboard(self):
        """Figures of the strip above the list, in the current company's currency.

        Returns a dict: currency_id, uninvoiced (+ _count), invoiced_this_month (+ _count),
        past_due (+ _count), not_delivered_count, and with AutoPay on (autopay_enabled):
        autopay_next_7_days (+ _count, what the cards will be charged) and
        autopay_failed_count.
        Each figure matches a filter of the list (or, for uninvoiced, the sessions list),
        so that clicking it shows the documents it adds up."""
        company = self.env.company
        # The practice's month, as its invoices are dated by the practice's calendar.
        month_start = company._billing_local_date(fields.Datetime.now()).replace(day=1)
        next_month_start = month_start + relativedelta(months=1)
        # The companies selected in the switcher (record rules say the same, but not to the
        # superuser, and sessions have no company rule).
        mine = [("company_id", "in", self.env.companies.ids)]
        invoiced = self.search(
            [
                *mine,
                ("document_type", "in", ("invoice", "credit_note")),
                ("date", ">=", month_start),
                ("date", "<", next_month_start),
            ]
        )
        past_due = self.search([*mine, ("is_past_due", "=", True)])
        uninvoiced = self.env["calendar.event"].search(
            [
                ("billing_company_id", "in", self.env.companies.ids),
                ("billing_state", "=", "uninvoiced"),
            ]
        )
        return {
            "currency_id": company.currency_id.id,
            "uninvoiced": self._total(
                (s.billing_currency_id, s.billing_amount) for s in uninvoiced
            ),
            "uninvoiced_count": len(uninvoiced),
            "invoiced_this_month": self._total((d.currency_id, d.amount) for d in invoiced),
            "invoiced_this_month_count": len(invoiced),
            "past_due": self._total((d.currency_id, d.amount) for d in past_due),
            "past_due_count": len(past_due),
            "not_delivered_count": self.search_count(
                [*mine, ("delivery_state", "in", NOT_DELIVERED_STATES)]
            ),
            **self._autopay_figures(mine),
        }

    @api.model
    def _autopay_figures(self, mine):
        """AutoPay's figures: what the cards will be charged in the next 7 days (the
        filter "AutoPay next 7 days"), and the invoices whose charge failed."""
        if not any(self.env.companies.mapped("billing_autopay_enabled")):
            return {"autopay_enabled": False}
        today = self.env.company._billing_local_date(fields.Datetime.now())
        soon = self.search(
            [
                *mine,
                ("autopay_state", "in", ("scheduled", "failed")),
                ("autopay_date", "<=", today + timedelta(days=7)),
            ]
        )
        invoices = self.env["account.move"].browse(soon.mapped("res_id"))
        return {
            "autopay_enabled": True,
            "autopay_next_7_days": self._total(
                (invoice.currency_id, invoice.billing_autopay_amount) for invoice in invoices
            ),
            "autopay_next_7_days_count": len(invoices),
            "autopay_failed_count": self.search_count([*mine, ("autopay_state", "=", "failed")]),
        }

    @api.model
    def _total(self, amounts):
        """Sum of (currency, amount) pairs in the current company's currency; a practice with
        several companies in different currencies sees them converted at today's rate."""
        company = self.env.company
        today = fields.Date.context_today(self)
        total = 0.0
        for currency, amount in amounts:
            converted = currency and currency != company.currency_id
            total += (
                currency._convert(amount, company.currency_id, company, today)
                if converted
                else amount
            )
        return company.currency_id.round(total)
