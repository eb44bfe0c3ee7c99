"""Report stylesheets travel inside the HTML handed to wkhtmltopdf, for every report.

Why: Odoo's report layout links its CSS bundles (``/web/assets/…/web.report_assets_*.css``)
and wkhtmltopdf fetches them back from this server (``report.url``, else ``web.base.url``)
while the request that prints holds a worker (and, under tests, the only cursor). With few
workers, a wrong ``report.url`` or a proxy in between, PDFs come out unstyled or the print
hangs; from a script with no server running, wkhtmltopdf fails outright. So each bundle
link is replaced by a ``<style>`` element with the bundle's CSS.

Never written in the printing transaction: storing a bundle creates an ir.attachment and
deletes the bundle's older ones, which collides with any other request building the same
bundle (a serialization failure that failed the print). The stored bundle is read; a missing
one is built and stored in a transaction of its own (retried when another request builds it
at the same moment), else compiled for this print only; a bundle that cannot be had now keeps
its link, for wkhtmltopdf to fetch as before.

This piece relies on `base` internals, each marked where it is used: ``_run_wkhtmltopdf``
(overridden, private), ``ir.asset._get_asset_params`` and ``ir.qweb._get_asset_bundle``
(private), and the AssetsBundle API (``get_asset_url``, ``get_version``, ``css``,
``preprocess_css``, ``css_errors``, ``rx_css_import``).
"""

import logging
import re

from odoo import SUPERUSER_ID, api, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

_logger = logging.getLogger(__name__)

# A report's stylesheet link: /web/assets/<unique>/<bundle>[.rtl][.min].css
ASSET_STYLESHEET = re.compile(
    r'<link[^>]*?href="/web/assets/[^"]*?/(?P<bundle>[\w.]+?)(?P<rtl>\.rtl)?(?:\.min)?\.css"[^>]*>'
)

# Times a report's style bundle is built in a transaction of its own when other requests
# build it at the same moment (each retry reads what the other stored, if it committed).
BUNDLE_BUILD_TRIES = 3


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

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
        """Override of `base` (private): the report's stylesheets go into the HTML itself
        (see this module's docstring); each bundle's CSS is read once for the bodies, the
        header and the footer."""
        styles = {}

        def inline(html):
            return self._inline_report_stylesheets(html, styles)

        return super()._run_wkhtmltopdf(
            [inline(body) for body in bodies],
            report_ref=report_ref,
            header=header and inline(header),
            footer=footer and inline(footer),
            landscape=landscape,
            specific_paperformat_args=specific_paperformat_args,
            set_viewport_size=set_viewport_size,
        )

    @api.model
    def _inline_report_stylesheets(self, html, styles=None):
        """``html`` with each asset-bundle stylesheet link replaced by the bundle's CSS (a
        link whose CSS cannot be had now stays, for wkhtmltopdf to fetch); ``styles``
        caches the <style> elements by bundle across calls."""
        styles = {} if styles is None else styles

        def style(link):
            key = (link["bundle"], bool(link["rtl"]))
            if key not in styles:
                styles[key] = self._report_bundle_style(*key)
            return styles[key] or link.group(0)

        return ASSET_STYLESHEET.sub(style, html)

    @api.model
    def _report_bundle_style(self, bundle_name, rtl):
        """A <style> element with the CSS of a report's asset bundle, or None: the stored
        bundle, else built and stored on a cursor of its own, else compiled here."""
        # Depends on `base` (private): the asset parameters and bundle the layout's
        # t-call-assets uses, so the CSS is the one its link points at.
        assets_params = self.env["ir.asset"]._get_asset_params()
        bundle = (
            self.env["ir.qweb"]
            .sudo()
            ._get_asset_bundle(bundle_name, js=False, rtl=rtl, assets_params=assets_params)
        )
        css = self._stored_bundle_css(bundle)
        if css is None:
            css = self._store_bundle_css(bundle_name, rtl, assets_params)
        if css is None:
            css = self._compile_bundle_css(bundle)
        return None if css is None else f"<style>{css}</style>"

    @api.model
    def _stored_bundle_css(self, bundle):
        """The CSS of the bundle's current version as stored, or None; reads only (unlike
        AssetsBundle.get_attachments, which may store a copy of another version)."""
        # Depends on `base`: where AssetsBundle stores a bundle (its URL, a public
        # ir.attachment of ir.ui.view created by the superuser).
        url = bundle.get_asset_url(unique=bundle.get_version("css"), extension="min.css")
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

    @api.model
    def _store_bundle_css(self, bundle_name, rtl, assets_params):
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
                    # Depends on `base`: AssetsBundle.css() stores the bundle if missing.
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

    @api.model
    def _compile_bundle_css(self, bundle):
        """The bundle's CSS compiled here and stored nowhere, as AssetsBundle.css() builds
        it (@import rules first), or None if it does not compile."""
        try:
            # Depends on `base`: AssetsBundle.preprocess_css, css_errors and rx_css_import.
            css = bundle.preprocess_css()
        except Exception:  # the link stays, for wkhtmltopdf to fetch
            _logger.warning("Could not compile the styles %s", bundle.name, exc_info=True)
            return None
        if bundle.css_errors:
            return None
        imports = bundle.rx_css_import.findall(css)
        return "\n".join([*imports, bundle.rx_css_import.sub("", css)])
