import io
import logging
import zipfile
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools.pdf_pages import number_pages, page_count

_logger = logging.getLogger(__name__)

# Billing Documents exports of more documents than this are prepared in the background
# (ir.config_parameter practice_billing.background_documents overrides it): a browser
# request would time out rendering hundreds of PDFs.
BACKGROUND_DOCUMENTS = 100
EXPORT_STATES = [
    ("queued", "Waiting"),
    ("running", "Preparing"),
    ("done", "Ready"),
    ("failed", "Failed"),
]
EXPORT_FORMATS = [("pdf", "One PDF"), ("zip", "ZIP of PDFs")]
FILE_NAMES = {"pdf": "billing-documents.pdf", "zip": "billing-documents.zip"}
MIMETYPES = {"pdf": "application/pdf", "zip": "application/zip"}
COVER_REPORT = "practice_billing.action_report_billing_export_cover"
# A cover listing many documents takes several pages: its page numbers are computed again
# until the cover's own length is known (twice at most in practice).
COVER_LAYOUT_TRIES = 4


class PracticeBillingExport(models.Model):
    """A Billing Documents export: put together as one PDF with numbered pages and, when
    asked, a cover page listing what it holds (_merged_pdf, also for exports made at once);
    and, for many documents, prepared in the background, part by part.

    It is made as the staff member who asked, in the practices they had selected: it holds
    only what they could have exported themselves (the documents and reports check their
    access, as for a download), and only they can see it and its file (record rule; the
    file is attached to it). Exports are deleted after a day, with their files.
    """

    _name = "practice.billing.export"
    _description = "Billing Documents Export"
    _order = "id desc"

    # Documents rendered per part: each part is committed, so progress shows and a
    # restarted worker goes on from the last part.
    PART_SIZE = 50

    name = fields.Char(compute="_compute_name")
    user_id = fields.Many2one(
        "res.users",
        string="Asked By",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
    )
    company_ids = fields.Many2many(
        "res.company", string="Practices", readonly=True, help="The practices selected when asked."
    )
    file_format = fields.Selection(EXPORT_FORMATS, string="Format", required=True, readonly=True)
    cover = fields.Boolean(string="With a Cover Page", readonly=True)
    # practice.billing.document ids, in the order the list showed them.
    document_ids = fields.Json(readonly=True)
    document_count = fields.Integer(string="Documents", readonly=True)
    state = fields.Selection(EXPORT_STATES, default="queued", required=True, readonly=True)
    progress_done = fields.Integer(string="Documents Prepared", readonly=True)
    progress = fields.Float(compute="_compute_progress")
    attachment_id = fields.Many2one("ir.attachment", string="File", readonly=True)
    error = fields.Text(string="What Went Wrong", readonly=True)

    @api.depends("file_format", "document_count")
    def _compute_name(self):
        formats = dict(self._fields["file_format"]._description_selection(self.env))
        for export in self:
            export.name = self.env._(
                "%(format)s of %(count)s documents",
                format=formats.get(export.file_format, ""),
                count=export.document_count,
            )

    @api.depends("progress_done", "document_count")
    def _compute_progress(self):
        for export in self:
            count = export.document_count
            export.progress = 100.0 * export.progress_done / count if count else 0.0

    # ------------------------------------------------------------------ asking
    @api.model
    def _runs_in_background(self, documents):
        """Whether exporting ``documents`` takes longer than a browser should wait."""
        value = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("practice_billing.background_documents")
        )
        threshold = int(value) if value and value.isdigit() else BACKGROUND_DOCUMENTS
        return len(documents) > threshold

    @api.model
    def _start(self, documents, file_format, cover=False):
        """Queue the export of ``documents`` (as ``file_format``, a PDF with a cover page
        when ``cover``) and say so; the user is told when the file is ready."""
        documents.check_access("read")
        export = self.create(
            {
                "company_ids": [(6, 0, self.env.companies.ids)],
                "file_format": file_format,
                "cover": bool(cover),
                "document_ids": documents.ids,
                "document_count": len(documents),
            }
        )
        self.env.ref("practice_billing.ir_cron_billing_exports")._trigger()
        return export._action_open(target="new")

    # ------------------------------------------------------------------ preparing
    @api.model
    def _cron_prepare_exports(self):
        """Scheduled action "Practice Billing: prepare exports": the next part of the oldest
        waiting export per call (ir.cron calls again while parts remain)."""
        exports = self.sudo().search([("state", "in", ("queued", "running"))], order="id")
        if exports:
            exports[0]._as_requester()._prepare_next_part()
        remaining = sum(exports.mapped("document_count")) - sum(exports.mapped("progress_done"))
        self.env["ir.cron"]._notify_progress(done=len(exports[:1]), remaining=max(remaining, 0))

    def _as_requester(self):
        """This export as the staff member who asked, in the practices they had selected:
        their access decides what it may hold."""
        return self.with_user(self.user_id).with_context(allowed_company_ids=self.company_ids.ids)

    def _prepare_next_part(self):
        """Render the next part of the documents, or put the file together when all are."""
        self.ensure_one()
        try:
            ids = self.document_ids or []
            todo = ids[self.progress_done : self.progress_done + self.PART_SIZE]
            if todo:
                self._render_part(todo)
            else:
                self._assemble()
        except Exception as error:  # this export fails, not the job nor the others
            _logger.warning("Billing Documents export %s failed: %s", self.id, error)
            self._rollback()
            # Said as the system: the requester may have lost the access that failed it.
            self.sudo()._fail(self._error_text(error))
        self._commit()

    def _fail(self, reason):
        self.write({"state": "failed", "error": reason})
        self._notify_requester()

    def _readable(self, document_ids):
        """The documents of ``document_ids``, in order, that the requester may read; those
        gone since (an invoice reset to draft) are left out."""
        documents = self.env["practice.billing.document"].browse(document_ids).exists()
        documents.check_access("read")
        return documents

    def _render_part(self, document_ids):
        """Render the documents of ``document_ids`` (one wkhtmltopdf process per kind) and
        keep their PDFs as a part of the export, each named by its place in the list."""
        places = {doc_id: self.progress_done + i for i, doc_id in enumerate(document_ids)}
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for document, pdf in self._readable(document_ids)._render_pdfs():
                archive.writestr(f"{places[document.id]:06d}-{document.id}.pdf", pdf)
        self._attach(f"part-{self.progress_done:06d}.zip", stream.getvalue(), "application/zip")
        self.write({"state": "running", "progress_done": self.progress_done + len(document_ids)})

    def _parts(self):
        return (
            self.env["ir.attachment"]
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "=", self.id),
                    ("name", "=like", "part-%"),
                ]
            )
            .sorted("name")
        )

    def _rendered(self):
        """[(document, PDF bytes)] of every document rendered, in the list's order."""
        pdfs = {}
        for part in self._parts():
            with zipfile.ZipFile(io.BytesIO(part.raw)) as archive:
                pdfs.update({name: archive.read(name) for name in archive.namelist()})
        names = sorted(pdfs)
        document_ids = [int(name.split("-")[1].split(".")[0]) for name in names]
        documents = {document.id: document for document in self._readable(document_ids)}
        return [
            (documents[document_id], pdfs[name])
            for document_id, name in zip(document_ids, names, strict=True)
            if document_id in documents
        ]

    def _assemble(self):
        """The file staff download: one PDF in the order shown, or a ZIP with one
        <type>-<number>-<client>.pdf per document (as Billing Documents' own exports)."""
        rendered = self._rendered()
        if not rendered:
            raise UserError(
                self.env._("none of these documents can be exported any more (deleted or reset)")
            )
        if self.file_format == "pdf":
            content = self._merged_pdf(rendered, cover=self.cover)
        else:
            stream = io.BytesIO()
            with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
                for document, pdf in rendered:
                    archive.writestr(document._zip_name(), pdf)
            content = stream.getvalue()
        parts = self._parts()
        attachment = self._attach(
            FILE_NAMES[self.file_format], content, MIMETYPES[self.file_format]
        )
        parts.unlink()
        self.write({"state": "done", "attachment_id": attachment.id})
        self._notify_requester()

    def _attach(self, name, content, mimetype):
        return self.env["ir.attachment"].create(
            {
                "name": name,
                "raw": content,
                "mimetype": mimetype,
                "res_model": self._name,
                "res_id": self.id,
            }
        )

    def _error_text(self, error):
        message = error.args[0] if error.args and isinstance(error.args[0], str) else ""
        return self.env._(
            "The export could not be prepared: %(error)s. Export the documents again, in "
            "smaller selections if it happens again.",
            error=message or type(error).__name__,
        )

    def _commit(self):
        if self.env["practice.billing.run"]._can_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _rollback(self):
        if self.env["practice.billing.run"]._can_commit():
            self.env.cr.rollback()

    # ------------------------------------------------------------------ putting together
    @api.model
    def _merged_pdf(self, documents_pdfs, cover=False):
        """One PDF of ``documents_pdfs`` ([(practice.billing.document, PDF bytes)], in
        order), every page numbered, with a cover page listing the documents first when
        ``cover`` is true."""
        pdfs = [pdf for _document, pdf in documents_pdfs]
        if cover and documents_pdfs:
            pdfs.insert(0, self._cover_pdf(documents_pdfs))
        return number_pages(pdfs, self._page_label)

    @api.model
    def _page_label(self, page, total):
        """What each page says about its place in the export (the exporting user's
        language)."""
        return self.env._("Page %(page)s of %(total)s", page=page, total=total)

    @api.model
    def _cover_pdf(self, documents_pdfs):
        """The cover page(s): each document with its client, date, amount and the page of
        the export where it starts (the cover's own pages counted)."""
        lengths = [page_count(pdf) for _document, pdf in documents_pdfs]
        cover_pages = 1
        for _try in range(COVER_LAYOUT_TRIES):
            starts = [cover_pages + 1 + sum(lengths[:index]) for index in range(len(lengths))]
            rows = [
                (document, start)
                for (document, _pdf), start in zip(documents_pdfs, starts, strict=True)
            ]
            pdf = self._render_cover(rows, total_pages=cover_pages + sum(lengths))
            if page_count(pdf) == cover_pages:
                return pdf
            cover_pages = page_count(pdf)
        return pdf  # a cover whose length keeps changing: its last layout

    @api.model
    def _render_cover(self, rows, total_pages):
        """The cover printed by its report: ``rows`` [(document, starting page)]."""
        company = self.env.company
        data = {
            "billing_cover_rows": rows,
            "billing_cover_company": company,
            # Printed in the practice's time zone, without seconds.
            "billing_cover_exported_at": fields.Datetime.now(),
            "billing_cover_tz": company._billing_tz().zone,
            "billing_cover_total_pages": total_pages,
        }
        return (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(COVER_REPORT, res_ids=None, data=data)[0]
        )

    # ------------------------------------------------------------------ telling
    def _notify_requester(self):
        """Tell the staff member who asked that the file is ready (or why not), with a
        button to it."""
        ready = self.state == "done"
        self.user_id.partner_id._bus_send(
            "account_notification",
            {
                "type": "success" if ready else "danger",
                "title": self.env._("Your export is ready")
                if ready
                else self.env._("Your export failed"),
                "message": self.name if ready else self.error,
                "sticky": True,
                "action_button": {
                    "name": self.env._("Download") if ready else self.env._("Open"),
                    "action_name": self.env._("Billing Documents Export"),
                    "model": self._name,
                    "res_ids": self.ids,
                },
            },
        )

    # ------------------------------------------------------------------ screens
    def _action_open(self, target="current"):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Billing Documents Export"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": target,
        }

    def action_download(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.attachment_id.id}?download=true",
            "target": "download",
        }

    @api.autovacuum
    def _gc_old_exports(self):
        """Exports are downloaded once: drop those older than a day, with their files."""
        self.sudo().search(
            [("create_date", "<", fields.Datetime.now() - timedelta(days=1))]
        ).unlink()
