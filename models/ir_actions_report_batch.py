"""Printing several records of a report in one wkhtmltopdf process, with any wkhtmltopdf.

Why: Debian's wkhtmltopdf (0.12.6 with unpatched Qt) takes one input document per process
("Exit with code 1, due to unknown error" with two) and drops the layout's header and footer.
Odoo prints several records of a report as several input documents in one process, so with
it printing, emailing or exporting several records at once fails ("Cannot read an empty
file"), while a process per record is many times slower (measured: 0.85 against 15.6
documents/s). The builds with Odoo's recommended patched Qt take several documents and print
headers; printing with them is left to Odoo unchanged.

What, for every report of the database (not only the billing addon's):

- Two or more records printed together, when wkhtmltopdf has no patched Qt: the report's HTML
  is rendered once and must hold exactly one article per record, in order. The articles go
  into ONE HTML document, each on a new page and starting with an invisible link to its
  record (a "marker"); wkhtmltopdf keeps links as PDF link annotations, so the PDF is cut back
  per record at the page carrying each marker. Then each record goes alone through the rest
  of Odoo's rendering (the overrides of the addons loaded before this one, e.g. account's
  "Original Bills", which prints no HTML at all, and base), its part of that PDF standing in
  for its own wkhtmltopdf process: every addon's rendering runs for every record, as when it
  is printed alone. Its template is not rendered a second time for that, nor the layout around
  it: base only hands the record's HTML to wkhtmltopdf, so it gets a stand-in document of one
  empty article marking the record instead, which is its one body as is. A report that does
  not print one article per record, or a PDF whose markers cannot all be found in order, is
  printed one record per process instead: nothing is guessed. PDFs the report keeps
  (attachment_use) are not printed again: Odoo reuses them.
- ``_render_pdf_each(report_ref, res_ids)``: {res_id: PDF bytes}, one PDF per record.
- Templates are told whether the layout's header is printed (``layout_header_printed`` in the
  rendering context), so a document can repeat in its body what the header would have shown
  only when the header is lost.

This piece relies on these private methods of `base` (``ir.actions.report``), each marked
where it is used: ``_render_qweb_pdf_prepare_streams`` (overridden; its {res_id: {"stream",
"attachment"}} result), ``_pre_render_qweb_pdf`` and ``_prepare_pdf_report_attachment_vals_list``
(to print one PDF per record as printing does), ``_prepare_html`` (the per-record documents,
header, footer and paperformat arguments Odoo hands to wkhtmltopdf; overridden: the
stand-in document is its record's one body), ``_render_qweb_html`` (overridden: the stand-in
document), ``_run_wkhtmltopdf`` (overridden: called with the one document of one record) and
``_get_rendering_context``. It copies none of base's rendering: the layout is
base's.
"""

import functools
import io
import itertools
import logging
import secrets
import subprocess

import lxml.html
from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools.pdf import PdfReader, PdfWriter

# Depends on `base` (private): the path of the wkhtmltopdf binary Odoo runs.
from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

_logger = logging.getLogger(__name__)

# Odoo's own test for a record's article (base's _prepare_html finds the bodies so).
ARTICLE = "//div[contains(concat(' ', normalize-space(@class), ' '), ' article ')]"

# Marks where a record starts in a one-document PDF: wkhtmltopdf keeps links as PDF link
# annotations (even without patched Qt), so the PDF can be split back per record. 1px,
# invisible, and no text: nothing shows in print or in the PDF's text.
MARKER_LINK = (
    '<a href="{url}" aria-hidden="true" tabindex="-1" '
    'style="display: block; width: 1px; height: 1px; margin-bottom: -1px;"></a>'
)
PAGE_BREAK = '<div style="page-break-after: always;"></div>'

# Context key: (report id, res_id, PDF bytes) of a record printed together with others, for
# the rendering of that record alone (see _render_qweb_pdf_prepare_streams).
PRINTED_TOGETHER = "billing_report_printed_together"


@functools.cache
def wkhtmltopdf_has_patched_qt():
    """Whether this wkhtmltopdf is built with patched Qt (Odoo's recommended build).

    Only those render several input documents in one process and print the layout's header
    and footer; Debian's (unpatched Qt) does neither. Asked once per server process.
    """
    try:
        version = subprocess.run(
            [_get_wkhtmltopdf_bin(), "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "patched qt" in version.lower()


def _link_uris(page):
    """The URIs of the link annotations of a PDF page."""
    annotations = page.get("/Annots")
    for annotation in annotations.get_object() if annotations else []:
        action = annotation.get_object().get("/A") or {}
        if action.get("/URI"):
            yield str(action["/URI"])


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    # ------------------------------------------------------------------ what templates see
    def _get_rendering_context(self, report, docids, data):
        """Override of `base` (private): templates also get ``layout_header_printed``,
        False when this rendering makes a PDF with a wkhtmltopdf that drops the layout's
        header and footer (unpatched Qt, Debian's), True otherwise (an HTML page shows the
        header). A template puts in its body what the header would show only when False.
        """
        data = super()._get_rendering_context(report, docids, data)
        data["layout_header_printed"] = (
            data.get("report_type") != "pdf" or wkhtmltopdf_has_patched_qt()
        )
        return data

    # ------------------------------------------------------------------ one PDF per record
    def _render_pdf_each(self, report_ref, res_ids):
        """{res_id: PDF bytes} of each record of ``res_ids``, printed together (one
        wkhtmltopdf process when the report allows it). A report that keeps its PDFs
        (attachment_use) reuses them, or keeps the new ones, exactly as printing does.
        Printing checks access (see _render_qweb_pdf_prepare_streams' overrides).
        """
        rendering = self.with_context(force_report_rendering=True)
        # Depends on `base` (private): _pre_render_qweb_pdf is printing without the merge of
        # the per-record streams (and with account's checks on invoices).
        streams, _report_type = rendering._pre_render_qweb_pdf(report_ref, res_ids=res_ids)
        report = self._get_report(report_ref)
        if report.attachment:
            # Depends on `base` (private): the attachments printing keeps, as base makes them.
            attachment_vals_list = self._prepare_pdf_report_attachment_vals_list(report, streams)
            if attachment_vals_list:
                self.env["ir.attachment"].create(attachment_vals_list)
        return {res_id: stream["stream"].getvalue() for res_id, stream in streams.items()}

    # ------------------------------------------------------------------ batch
    def _render_qweb_pdf_prepare_streams(self, report_ref, data, res_ids=None):
        """Override of `base` (private): with a wkhtmltopdf that takes one document per
        process, print two or more records in one process (see this module's docstring).

        The records are printed together first; then each record goes alone through the
        rest of the rendering (the overrides of addons loaded before this one, and base,
        which reuses a PDF the report keeps), its part of that print standing in for its own
        wkhtmltopdf process (see _run_wkhtmltopdf) and its template not rendered again (see
        _render_qweb_html). Returns base's {res_id: {"stream",
        "attachment"}}, in the order of ``res_ids``. Ids given twice are base's own case.
        """
        if (
            not res_ids
            or len(res_ids) < 2
            or len(set(res_ids)) != len(res_ids)
            or wkhtmltopdf_has_patched_qt()
        ):
            return super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=res_ids)
        printed = self._render_batch_print_together(report_ref, data, res_ids)
        streams = {}
        try:
            with self.env.cr.savepoint():
                for res_id in res_ids:
                    alone = self._render_batch_with_printed(report_ref, res_id, printed.get(res_id))
                    streams.update(
                        super(IrActionsReport, alone)._render_qweb_pdf_prepare_streams(
                            report_ref, data, res_ids=[res_id]
                        )
                    )
        except UserError:
            # A record that cannot be printed alone where Odoo prints the whole set (account's
            # Original Bills refuses a bill without an original alone, and leaves it out of a
            # print of several): Odoo's own handling of the whole print decides.
            return super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=res_ids)
        return streams

    def _render_batch_print_together(self, report_ref, data, res_ids):
        """{res_id: PDF bytes} of the records of ``res_ids`` printed in one wkhtmltopdf
        process and cut back per record, or {} when that cannot be done safely (then each
        record is printed by a process of its own). Records whose PDF the report keeps are
        not printed: base reuses their PDF."""
        kept = set(self._render_batch_kept_ids(report_ref, res_ids))
        to_print = [res_id for res_id in res_ids if res_id not in kept]
        if len(to_print) < 2:
            return {}
        pdf, markers = self._render_batch_as_one_document(report_ref, to_print, data=data)
        if pdf is None:
            _logger.info("%s: not one article per record, rendering one by one", report_ref)
            return {}
        parts = self._render_batch_split_pdf(pdf, markers)
        if parts is None:
            _logger.warning(
                "%s: could not split the PDF per record, rendering one by one", report_ref
            )
            return {}
        return dict(zip(to_print, parts, strict=True))

    def _render_batch_kept_ids(self, report_ref, res_ids):
        """The ids of ``res_ids`` whose PDF the report kept (attachment_use), decided as
        `base` does: the attachment's name is evaluated on the records in the caller's
        environment (never under sudo). Base reuses those PDFs; they are not printed."""
        report = self._get_report(report_ref)
        if not (report.attachment and report.attachment_use):
            return []
        if self.env.context.get("report_pdf_no_attachment"):
            return []
        records = self.env[report.model].browse(res_ids)
        return [record.id for record in records if report.retrieve_attachment(record)]

    def _render_batch_with_printed(self, report_ref, res_id, pdf):
        """This model, for rendering the record ``res_id`` alone: carrying ``pdf``, its part
        of the print together (None if it was not printed so), for _run_wkhtmltopdf."""
        printed = pdf and (self._get_report(report_ref).id, res_id, pdf)
        return self.with_context(**{PRINTED_TOGETHER: printed})

    @api.model
    def _render_qweb_html(self, report_ref, docids, data=None):
        """Override of `base`: a record rendered alone after being printed together with
        others (see _render_qweb_pdf_prepare_streams) is not rendered again. Base only cuts
        that HTML into the record's article (_prepare_html) and hands it to
        _run_wkhtmltopdf, which gives the record its part of the print together instead: it
        gets a document holding one empty article marking the record, as base reads it."""
        printed = self._render_batch_printed(report_ref)
        ids = [docids] if isinstance(docids, int) else list(docids or [])
        if printed and ids == [printed[1]] and (data or {}).get("report_type") == "pdf":
            report, res_id, _pdf = printed
            return self._render_batch_stand_in(report, res_id), "html"
        return super()._render_qweb_html(report_ref, docids, data=data)

    @api.model
    def _render_batch_stand_in(self, report, res_id):
        """The HTML standing in for the record ``res_id``'s when it was printed together:
        what base's _prepare_html reads (a <main> holding the record's article, marked with
        data-oe-model and data-oe-id) and nothing to print."""
        return (
            Markup(
                '<!DOCTYPE html><html><body><main><div class="article" data-oe-model="{}" '
                'data-oe-id="{}"></div></main></body></html>'
            )
            .format(report.model, res_id)
            .encode()
        )

    def _prepare_html(self, html, report_model=False):
        """Override of `base` (private): the stand-in of a record printed together (see
        _render_qweb_html) is its one body, for its record, with no header, footer or
        paperformat arguments: none of them is printed (_run_wkhtmltopdf gives the record's
        part of the print together), so the report's layout is not rendered for it."""
        printed = len(self) == 1 and self._render_batch_printed(self)
        if printed:
            report, res_id, _pdf = printed
            stand_in = self._render_batch_stand_in(report, res_id)
            if html == stand_in and report_model == report.model:
                return [stand_in.decode()], [res_id], "", "", {}
        return super()._prepare_html(html, report_model=report_model)

    @api.model
    def _run_wkhtmltopdf(self, bodies, report_ref=False, **kwargs):
        """Override of `base` (private): a record rendered alone after being printed
        together with others (see _render_qweb_pdf_prepare_streams) gets its part of that
        print instead of a wkhtmltopdf process of its own (and its styles are not inlined
        for nothing: this override runs before the styles', see models/__init__.py)."""
        printed = self._render_batch_printed_pdf(bodies, report_ref)
        if printed is not None:
            return printed
        return super()._run_wkhtmltopdf(bodies, report_ref=report_ref, **kwargs)

    def _render_batch_printed(self, report_ref):
        """(report, res_id, PDF bytes) of the record of ``report_ref`` being rendered alone
        after being printed together with others, or None (not that report, or no such
        rendering)."""
        printed = self.env.context.get(PRINTED_TOGETHER)
        if not printed or not report_ref:
            return None
        # A context can come from a request (/report/...?context=, RPC): only the tuple
        # _render_batch_with_printed made counts (JSON cannot carry bytes).
        if not (isinstance(printed, tuple) and len(printed) == 3):
            return None
        report_id, res_id, pdf = printed
        if not (isinstance(report_id, int) and isinstance(res_id, int) and isinstance(pdf, bytes)):
            return None
        report = self._get_report(report_ref)
        if report.id != report_id:
            return None
        return report, res_id, pdf

    def _render_batch_printed_pdf(self, bodies, report_ref):
        """The PDF printed together for the record ``bodies`` print, or None: only for one
        body, of the report printed together, holding that record's article alone (another
        print made meanwhile, of another report or record, runs wkhtmltopdf)."""
        printed = self._render_batch_printed(report_ref)
        if not printed or len(bodies) != 1:
            return None
        report, res_id, pdf = printed
        articles = lxml.html.document_fromstring(bodies[0]).xpath(ARTICLE)
        printing = [
            (article.get("data-oe-model"), article.get("data-oe-id")) for article in articles
        ]
        return pdf if printing == [(report.model, str(res_id))] else None

    def _render_batch_as_one_document(self, report_ref, res_ids, data=None):
        """Print several records of one report as a single HTML document, one wkhtmltopdf.

        Returns (pdf bytes, [marker URL of each record, in the order of ``res_ids``]), or
        (None, None) when the report does not print exactly one article per record, in
        order (a custom report may not): then there is nothing to mark.
        """
        report = self._get_report(report_ref)
        # As base prints: a PDF's HTML (report_type "pdf"), never in debug mode (its assets
        # are split in files wkhtmltopdf may not load in time).
        data = {"report_type": "pdf", "debug": False, **(data or {})}
        html = self.with_context(debug=False)._render_qweb_html(report_ref, res_ids, data=data)[0]
        # Depends on `base` (private): _prepare_html cuts the HTML into one document per
        # article (in Odoo's minimal layout, with the report's assets), the ids of the
        # records they print (None for another model's), the header and footer, and the
        # paperformat arguments the template asks for.
        bodies, html_ids, header, footer, paperformat_args = report.with_context(
            debug=False
        )._prepare_html(html, report_model=report.model)
        if html_ids != list(res_ids):
            return None, None
        # Each record's page is read as the requesting user, not as the report (sudo).
        # A token of this print in every marker: a link in a document's own HTML (terms
        # typed by staff) cannot point where the next record starts.
        token = secrets.token_hex(8)
        markers = [self._render_batch_marker_url(report.model, res_id, token) for res_id in res_ids]
        # Depends on `base` (private): _run_wkhtmltopdf, called as base's
        # _render_qweb_pdf_prepare_streams calls it.
        pdf = self._run_wkhtmltopdf(
            [self._render_batch_single_body(bodies, markers)],
            report_ref=report_ref,
            header=header,
            footer=footer,
            landscape=self.env.context.get("landscape"),
            specific_paperformat_args=paperformat_args,
            set_viewport_size=self.env.context.get("set_viewport_size"),
        )
        return pdf, markers

    @api.model
    def _render_batch_single_body(self, bodies, markers):
        """One HTML document: the first of ``bodies`` (one HTML document per record, as
        base's _prepare_html makes them) holding the article of each, in order, each on a
        new page and starting with its record's marker link (``markers``, in order)."""
        documents = [lxml.html.document_fromstring(body) for body in bodies]
        articles = [document.xpath(ARTICLE)[0] for document in documents]
        for article, marker in zip(articles, markers, strict=True):
            article.insert(0, lxml.html.fragment_fromstring(MARKER_LINK.format(url=marker)))
        for previous, article in itertools.pairwise(articles):
            page_break = lxml.html.fragment_fromstring(PAGE_BREAK)
            previous.addnext(page_break)
            page_break.addnext(article)
        return lxml.html.tostring(documents[0], encoding="unicode", doctype="<!DOCTYPE html>")

    def _render_batch_marker_url(self, model, res_id, token):
        """Where a record's marker link points: its page (portal or back end), with the
        print's ``token`` (unguessable: see _render_batch_as_one_document)."""
        record = self.env[model].browse(int(res_id))
        path = getattr(record, "access_url", None) or f"/odoo/{model}/{record.id}"
        return f"{record.get_base_url()}{path}#report-record-{model}-{record.id}-{token}"

    @api.model
    def _render_batch_split_pdf(self, pdf, markers):
        """The PDF cut at the pages carrying each marker link: [pdf bytes per marker], or
        None when the markers do not show where each record starts (never guess with money
        documents)."""
        reader = PdfReader(io.BytesIO(pdf))
        first_page = {}
        for number, page in enumerate(reader.pages):
            for uri in _link_uris(page):
                first_page.setdefault(uri, number)
        starts = [first_page.get(marker) for marker in markers]
        if not starts or None in starts or starts[0] != 0:
            return None
        if any(start >= following for start, following in itertools.pairwise(starts)):
            return None
        parts = []
        for start, end in zip(starts, [*starts[1:], len(reader.pages)], strict=True):
            writer = PdfWriter()
            for number in range(start, end):
                writer.add_page(reader.pages[number])
            stream = io.BytesIO()
            writer.write(stream)
            parts.append(stream.getvalue())
        return parts
