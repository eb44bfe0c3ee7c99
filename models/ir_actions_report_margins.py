"""No empty band where a lost header or footer would have been, for every report.

Why: the paperformat's top and bottom margins (52 and 32 mm in Odoo's A4 and US Letter) are
the room of the layout's header and footer. Debian's wkhtmltopdf (unpatched Qt) drops both,
so every PDF it prints starts under an empty band of 5 cm and ends 3 cm early. Without
patched Qt the page keeps margins of its own size instead (a template's own smaller margin
is kept); with patched Qt, Odoo's paperformat is used unchanged.

This piece relies on `base`'s private ``_build_wkhtmltopdf_args`` (overridden: its arguments
are adjusted, nothing is copied).
"""

from odoo import models

from .ir_actions_report_batch import wkhtmltopdf_has_patched_qt

# Margins (mm) of a page whose header and footer are not printed: the top matches the side
# margins of Odoo's report layouts (11 mm); the bottom leaves room for a page number stamped
# afterwards (see models/practice_billing_export.py).
HEADERLESS_MARGINS = {"--margin-top": 11, "--margin-bottom": 14}


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    def _build_wkhtmltopdf_args(
        self,
        paperformat_id,
        landscape,
        specific_paperformat_args=None,
        set_viewport_size=False,
    ):
        """Override of `base` (private): without patched Qt, top and bottom margins no larger
        than HEADERLESS_MARGINS (see this module's docstring)."""
        args = super()._build_wkhtmltopdf_args(
            paperformat_id,
            landscape,
            specific_paperformat_args=specific_paperformat_args,
            set_viewport_size=set_viewport_size,
        )
        if wkhtmltopdf_has_patched_qt():
            return args
        return headerless_margins(args)


def headerless_margins(args):
    """wkhtmltopdf arguments ``args`` with their top and bottom margins lowered to
    HEADERLESS_MARGINS (margins already smaller are kept)."""
    args = list(args)
    for position, arg in enumerate(args[:-1]):
        if arg in HEADERLESS_MARGINS:
            try:
                margin = float(args[position + 1])
            except ValueError:  # a unit given ("20mm"): the template knows best
                continue
            args[position + 1] = str(min(margin, HEADERLESS_MARGINS[arg]))
    return args
