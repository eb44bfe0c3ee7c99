import functools
import io
import itertools
import logging
import re
import subprocess

import lxml.html
from markupsafe import Markup

from odoo import SUPERUSER_ID, api, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools.pdf import PdfReader, PdfWriter

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

_logger = logging.getLogger(__name__)

# A report's stylesheet link: /web/assets/<unique>/<bundle>[.rtl][.min].css
ASSET_STYLESHEET = re.compile(
    r'<link[^>]*?href="/web/assets/[^"]*?/(?P<bundle>[\w.]+?)(?P<rtl>\.rtl)?(?:\.min)?\.css"[^>]*>'
)

# Times a report's style bundle is built in a transaction of its own when other requests
# build it at the same moment (each retry reads what the other stored, if it committed).
BUNDLE_BUILD_TRIES = 3

# Marks where each record starts in a one-document PDF: wkhtmltopdf keeps links as PDF link
# annotations (even without patched Qt), so the PDF can be split back per record. 1px,
# invisible, and no text: nothing shows in print or in the PDF's text.
MARKER_LINK = (
    '<a href="{url}" aria-hidden="true" tabindex="-1" '
    'style="display: block; width: 1px; height: 1px; margin-bottom: -1px;"></a>'
)


def _link_uris(page):
    """The URIs of the link annotations of a PDF page."""
    annotations = page.get("/Annots")
    for annotation in annotations.get_object() if annotations else []:
        action = annotation.get_object().get("/A") or {}
        if action.get("/URI"):
            yield str(action["/URI"])


@functools.cache
def wkhtmltopdf_takes_several_documents():
    """Whether this wkhtmltopdf renders several input documents in one process.

    Only builds with Odoo's recommended patched Qt do; Debian's (unpatched Qt) exits with
    "unknown error", and Odoo then fails with "Cannot read an empty file".
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


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    def _billing_check_access(self, report_ref, res_ids):
        """Raise AccessError unless the requesting user may read every record to print.

        Checked in the caller's environment before anything of the records is read or
        reused: a value read under sudo() stays in the ORM cache, and Odoo then serves it to
        the user without any check. A caller that is superuser (crons, the billing run, the
        portal's _show_report after its own check) passes.
        """
        if not res_ids:
            return
        ids = [res_ids] if isinstance(res_ids, int) else list(res_ids)
        model = self._get_report(report_ref).model
        self.env[model].browse(ids).check_access("read")

    @api.model
    def _render_qweb_html(self, report_ref, docids, data=None):
        """Override of `base`: only records the requesting user may read (/report/html)."""
        self._billing_check_access(report_ref, docids)
        return super()._render_qweb_html(report_ref, docids, data=data)

    @api.model
    def _render_qweb_text(self, report_ref, docids, data=None):
        """Override of `base`: only records the requesting user may read (/report/text)."""
        self._billing_check_access(report_ref, docids)
        return super()._render_qweb_text(report_ref, docids, data=data)

    def _render_qweb_pdf_prepare_streams(self, report_ref, data, res_ids=None):
        """Override of `base`: with a wkhtmltopdf that takes one document per process
        (Debian's), render the records as ONE document and split it back per record, so
        printing, emailing or exporting many records costs one process, not one each.

        Records whose PDF the report keeps (attachment_use) are left to `base`, which reuses
        the kept PDF; the streams come back in the order of ``res_ids``. Every PDF path
        (/report/pdf, /report/download, Print, _billing_render_each) comes here: the
        requesting user's access is checked first, before any kept PDF is looked up.
        """
        self._billing_check_access(report_ref, res_ids)
        if not res_ids or len(res_ids) < 2 or wkhtmltopdf_takes_several_documents():
            return super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=res_ids)
        kept = self._billing_kept_ids(report_ref, res_ids)
        streams = (
            super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=kept) if kept else {}
        )
        to_render = [res_id for res_id in res_ids if res_id not in kept]
        streams.update(self._billing_render_split(report_ref, data, to_render))
        return {res_id: streams[res_id] for res_id in res_ids}

    def _billing_render_each(self, report_ref, res_ids):
        """{res_id: PDF bytes} of each record, rendered together; a report that keeps its
        PDFs (attachment_use) reuses them, or keeps the new ones, exactly as printing does.
        Only records the requesting user may read (checked in _render_qweb_pdf_prepare_streams).
        """
        rendering = self.with_context(force_report_rendering=True)
        streams, _report_type = rendering._pre_render_qweb_pdf(report_ref, res_ids=res_ids)
        report = self._get_report(report_ref)
        if report.attachment:
            attachment_vals_list = self._prepare_pdf_report_attachment_vals_list(report, streams)
            if attachment_vals_list:
                self.env["ir.attachment"].create(attachment_vals_list)
        return {res_id: stream["stream"].getvalue() for res_id, stream in streams.items()}

    def _billing_kept_ids(self, report_ref, res_ids):
        """The ids of ``res_ids`` whose PDF the report kept (attachment_use), decided as
        `base` does: the attachment's name is evaluated on the records in the caller's
        environment (never under sudo), once their access is checked."""
        report = self._get_report(report_ref)
        if not (report.attachment and report.attachment_use):
            return []
        if self.env.context.get("report_pdf_no_attachment"):
            return []
        records = self.env[report.model].browse(res_ids)
        return [record.id for record in records if report.retrieve_attachment(record)]

    def _billing_render_split(self, report_ref, data, res_ids):
        """{res_id: stream} for ``res_ids``, rendered in one wkhtmltopdf process when the
        one-document PDF can be split back per record, else one by one."""
        if len(res_ids) < 2:
            return self._billing_render_one_by_one(report_ref, data, res_ids)
        pdf, markers = self._billing_render_as_one_document(report_ref, res_ids, data=data)
        if pdf is None:
            _logger.info("%s: not one article per record, rendering one by one", report_ref)
            return self._billing_render_one_by_one(report_ref, data, res_ids)
        parts = self._billing_split_pdf(pdf, markers)
        if parts is None:
            _logger.warning(
                "%s: could not split the PDF per record, rendering one by one", report_ref
            )
            return self._billing_render_one_by_one(report_ref, data, res_ids)
        return {
            res_id: {"stream": io.BytesIO(part), "attachment": None}
            for res_id, part in zip(res_ids, parts, strict=True)
        }

    def _billing_render_one_by_one(self, report_ref, data, res_ids):
        streams = {}
        for res_id in res_ids:
            streams.update(
                self._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=[res_id])
            )
        return streams

    def _run_wkhtmltopdf(  # noqa: PLR0917 (Odoo's signature)
        self,
        bodies,
        report_ref=False,
        header=None,
        footer=None,
        landscape=False,
        specific_paperformat_args=None,
        set_viewport_size=False,
    ):
        """Override of `base`: the report's stylesheets go into the HTML itself.

        Otherwise wkhtmltopdf requests them from this server while the request that prints
        holds a worker (and, under tests, the only cursor): with few workers, a wrong
        report.url or a proxy in between, PDFs come out unstyled or the print hangs.
        """
        styles = {}  # each bundle's CSS read once for the bodies, header and footer

        def inline(html):
            return self._billing_inline_stylesheets(html, styles)

        return super()._run_wkhtmltopdf(
            [inline(body) for body in bodies],
            report_ref=report_ref,
            header=header and inline(header),
            footer=footer and inline(footer),
            landscape=landscape,
            specific_paperformat_args=specific_paperformat_args,
            set_viewport_size=set_viewport_size,
        )

    def _billing_inline_stylesheets(self, html, styles=None):
        """``html`` with each asset-bundle stylesheet link replaced by the bundle's CSS (a
        link whose CSS cannot be had now stays, for wkhtmltopdf to fetch); ``styles``
        caches the <style> elements by bundle across calls."""
        styles = {} if styles is None else styles

        def style(link):
            key = (link["bundle"], bool(link["rtl"]))
            if key not in styles:
                styles[key] = self._billing_bundle_css(*key)
            return styles[key] or link.group(0)

        return ASSET_STYLESHEET.sub(style, html)

    def _billing_bundle_css(self, bundle_name, rtl):
        """A <style> element with the CSS of a report's asset bundle, or None.

        Never writes in the printing transaction: storing a bundle creates an ir.attachment
        and deletes the bundle's older ones, which collides with any other request building
        the same bundle (a serialization failure that failed the print). The stored bundle
        is read; a missing one is built and stored in a transaction of its own, else
        compiled here and stored nowhere.
        """
        assets_params = self.env["ir.asset"]._get_asset_params()
        bundle = (
            self.env["ir.qweb"]
            .sudo()
            ._get_asset_bundle(bundle_name, js=False, rtl=rtl, assets_params=assets_params)
        )
        css = self._billing_stored_css(bundle)
        if css is None:
            css = self._billing_store_css(bundle_name, rtl, assets_params)
        if css is None:
            css = self._billing_compile_css(bundle)
        return None if css is None else f"<style>{css}</style>"

    def _billing_stored_css(self, bundle):
        """The CSS of the bundle's current version as stored, or None; reads only (unlike
        AssetsBundle.get_attachments, which may store a copy of another version)."""
        extension = "min.css"
        url = bundle.get_asset_url(unique=bundle.get_version("css"), extension=extension)
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [
                    ("url", "=like", url),
                    ("res_model", "=", "ir.ui.view"),
                    ("public", "=", True),
                    ("create_uid", "=", SUPERUSER_ID),
                ],
                order="id desc",
                limit=1,
            )
        )
        return attachment.raw.decode() if attachment else None

    def _billing_store_css(self, bundle_name, rtl, assets_params):
        """Build and store the bundle in a new transaction, committed at once so every next
        print reads it, and return its CSS; None if that cannot be done now.

        Another request may build the same bundle meanwhile: the loser of the race retries
        in a fresh transaction, where AssetsBundle.css() finds the winner's bundle.
        """
        for attempt in range(1, BUNDLE_BUILD_TRIES + 1):
            try:
                with self.env.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    bundle = env["ir.qweb"]._get_asset_bundle(
                        bundle_name, js=False, rtl=rtl, assets_params=assets_params
                    )
                    css = "\n".join(attachment.raw.decode() for attachment in bundle.css())
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY as error:
                _logger.info(
                    "%s built by another request (%s), try %s of %s",
                    bundle_name,
                    error,
                    attempt,
                    BUNDLE_BUILD_TRIES,
                )
            except Exception as error:  # the print goes on without a stored bundle
                _logger.warning("Could not store the styles %s now: %s", bundle_name, error)
                return None
            else:
                return css
        return None

    def _billing_compile_css(self, bundle):
        """The bundle's CSS compiled here and stored nowhere, as AssetsBundle.css() builds
        it (@import rules first), or None if it does not compile."""
        try:
            css = bundle.preprocess_css()
        except Exception:  # the link stays, for wkhtmltopdf to fetch
            _logger.warning("Could not compile the styles %s", bundle.name, exc_info=True)
            return None
        if bundle.css_errors:
            return None
        imports = bundle.rx_css_import.findall(css)
        return "\n".join([*imports, bundle.rx_css_import.sub("", css)])

    def _billing_render_as_one_document(self, report_ref, res_ids, data=None):
        """Render several records of one report as a single HTML document, one wkhtmltopdf.

        Works with any wkhtmltopdf (Debian's takes one input document per process) and is
        many times faster than a process per record. Each record starts a new page, marked
        by an invisible link to the record (see _billing_split_pdf).
        Returns (pdf bytes, [marker URL of each record, in the order of res_ids]), or
        (None, None) when the report does not print exactly one article per record, in
        order (a custom report may not): then there is nothing to mark.
        """
        report = self._get_report(report_ref)
        html = self.with_context(debug=False)._render_qweb_html(report_ref, res_ids, data=data)[0]
        _bodies, _ids, header, footer, paperformat_args = report._prepare_html(
            html, report_model=report.model
        )
        articles = lxml.html.fromstring(html).xpath(
            "//div[contains(concat(' ', normalize-space(@class), ' '), ' article ')]"
        )
        printed = [(node.get("data-oe-model"), node.get("data-oe-id")) for node in articles]
        if printed != [(report.model, str(res_id)) for res_id in res_ids]:
            return None, None
        base_url = report._get_report_url(layout=report._get_layout())
        # Each record's page is read as the requesting user, not as the report (sudo).
        markers = [self._billing_marker_url(base_url, report.model, res_id) for res_id in res_ids]
        body = report._billing_single_body(articles, markers, base_url)
        pdf = self._run_wkhtmltopdf(
            [body],
            report_ref=report_ref,
            header=header,
            footer=footer,
            landscape=self.env.context.get("landscape"),
            specific_paperformat_args=paperformat_args,
            set_viewport_size=self.env.context.get("set_viewport_size"),
        )
        return pdf, markers

    def _billing_single_body(self, articles, markers, base_url):
        """The report's articles (one per record) in Odoo's minimal layout, separated by page
        breaks, each starting with its record's marker link (``markers``, in order)."""
        for article, marker in zip(articles, markers, strict=True):
            article.insert(0, lxml.html.fragment_fromstring(MARKER_LINK.format(url=marker)))
        breaker = '<div style="page-break-after: always;"></div>'
        joined = breaker.join(lxml.html.tostring(node, encoding="unicode") for node in articles)
        return self.env["ir.qweb"]._render(
            self._get_layout().id,
            {
                "subst": False,
                "body": Markup(joined),
                "base_url": base_url,
                "report_xml_id": self.xml_id,
                "debug": False,
            },
            raise_if_not_found=False,
        )

    def _billing_marker_url(self, base_url, model, res_id):
        """Where a record's marker link points: its page (portal or back end)."""
        record = self.env[model].browse(int(res_id))
        path = getattr(record, "access_url", None) or f"/odoo/{model}/{record.id}"
        return f"{base_url}{path}#billing-document-{model}-{record.id}"

    @api.model
    def _billing_split_pdf(self, pdf, markers):
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
