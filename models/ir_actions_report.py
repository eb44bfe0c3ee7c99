import functools
import logging
import subprocess

from odoo import models

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

_logger = logging.getLogger(__name__)


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
