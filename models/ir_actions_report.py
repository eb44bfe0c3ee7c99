import functools
import logging
import re
import subprocess

import lxml.html
from markupsafe import Markup

from odoo import models

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

_logger = logging.getLogger(__name__)

# A report's stylesheet link: /web/assets/<unique>/<bundle>[.rtl][.min].css
ASSET_STYLESHEET = re.compile(
    r'<link[^>]*?href="/web/assets/[^"]*?/(?P<bundle>[\w.]+?)(?P<rtl>\.rtl)?(?:\.min)?\.css"[^>]*>'
)


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

    def _render_qweb_pdf_prepare_streams(self, report_ref, data, res_ids=None):
        """Override of `base`: with a wkhtmltopdf that takes one document per process,
        render several records one by one, so printing or emailing many still works."""
        if not res_ids or len(res_ids) < 2 or wkhtmltopdf_takes_several_documents():
            return super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=res_ids)
        _logger.info(
            "wkhtmltopdf without patched Qt: rendering %s records one by one", len(res_ids)
        )
        streams = {}
        for res_id in res_ids:
            streams.update(
                super()._render_qweb_pdf_prepare_streams(report_ref, data, res_ids=[res_id])
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
        inline = self._billing_inline_stylesheets
        return super()._run_wkhtmltopdf(
            [inline(body) for body in bodies],
            report_ref=report_ref,
            header=header and inline(header),
            footer=footer and inline(footer),
            landscape=landscape,
            specific_paperformat_args=specific_paperformat_args,
            set_viewport_size=set_viewport_size,
        )

    def _billing_inline_stylesheets(self, html):
        """``html`` with each asset-bundle stylesheet link replaced by the bundle's CSS."""
        return ASSET_STYLESHEET.sub(
            lambda link: self._billing_bundle_css(link["bundle"], bool(link["rtl"])), html
        )

    def _billing_bundle_css(self, bundle_name, rtl):
        bundle = self.env["ir.qweb"].sudo()._get_asset_bundle(bundle_name, js=False, rtl=rtl)
        css = "\n".join(attachment.raw.decode() for attachment in bundle.css())
        return f"<style>{css}</style>"

    def _render_qweb_pdf_as_one_document(self, report_ref, res_ids):
        """Render several records of one report as a single HTML document, one wkhtmltopdf.

        Works with any wkhtmltopdf (Debian's takes one input document per process) and is
        many times faster than a process per record. Each record starts a new page.
        """
        report = self._get_report(report_ref).sudo()
        html = self._render_qweb_html(report_ref, res_ids)[0]
        _bodies, _ids, header, footer, paperformat_args = report._prepare_html(
            html, report_model=report.model
        )
        body = report._billing_single_body(html)
        return self._run_wkhtmltopdf(
            [body],
            report_ref=report_ref,
            header=header,
            footer=footer,
            landscape=self.env.context.get("landscape"),
            specific_paperformat_args=paperformat_args,
            set_viewport_size=self.env.context.get("set_viewport_size"),
        )

    def _billing_single_body(self, html):
        """All the report's articles in Odoo's minimal layout, separated by page breaks."""
        root = lxml.html.fromstring(html)
        articles = root.xpath(
            "//div[contains(concat(' ', normalize-space(@class), ' '), ' article ')]"
        )
        breaker = '<div style="page-break-after: always;"></div>'
        joined = breaker.join(lxml.html.tostring(node, encoding="unicode") for node in articles)
        layout = self._get_layout()
        return self.env["ir.qweb"]._render(
            layout.id,
            {
                "subst": False,
                "body": Markup(joined),
                "base_url": self._get_report_url(layout=layout),
                "report_xml_id": self.xml_id,
                "debug": False,
            },
            raise_if_not_found=False,
        )
