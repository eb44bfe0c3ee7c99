"""Reading the PDFs the suite prints: text and fonts (pdftotext, pdffonts), a PNG of the first
page for a person to look at, the wkhtmltopdf processes a block starts, and the PDFs reports
keep. Every PDF a test reads is kept in test-artifacts/."""

import subprocess
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

from PIL import Image

from odoo.addons.base.models.ir_actions_report import IrActionsReport as BaseReport

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@contextmanager
def wkhtmltopdf_runs(env):
    """Collect the report of each wkhtmltopdf process started inside the block.

    Counted in `base`'s _run_wkhtmltopdf, below every override: each of its calls starts one
    process, while an override may answer without one (a record printed together with
    others gets its part of that print, see models/ir_actions_report_batch.py). ``env``'s
    report model, as every registry's, runs that method: the block counts them all.
    """
    run_wkhtmltopdf = BaseReport._run_wkhtmltopdf
    runs = []

    def counted(report, *args, **kwargs):
        runs.append(kwargs.get("report_ref"))
        return run_wkhtmltopdf(report, *args, **kwargs)

    with patch.object(BaseReport, "_run_wkhtmltopdf", counted):
        yield runs


def kept_pdf(record):
    """The PDF its report kept for ``record`` (an ir.attachment, attachment_use), if any."""
    return record.env.ref(record._billing_report).retrieve_attachment(record)


class PdfChecks:
    """Assertions on real PDFs, for test cases that print."""

    def _pdf_text(self, pdf_bytes, name):
        """Keep the PDF as a test artifact and return its text and its fonts."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(pdf_bytes)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        fonts = subprocess.run(
            ["pdffonts", str(path)], capture_output=True, text=True, check=True
        ).stdout
        return text, fonts

    def _rasterize(self, name):
        """A PNG of the PDF's first page beside it, for a person to look at."""
        path = ARTIFACTS / name
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(path)[:-4]],
            check=True,
        )
        return next(ARTIFACTS.glob(path.stem + "*.png"))

    def _assert_looks_printed(self, png):
        """A styled page: ink on paper, neither blank nor a black box."""
        with Image.open(png) as page:
            grey = page.convert("L")
            dark = sum(1 for value in grey.getdata() if value < 128)
            ratio = dark / (grey.width * grey.height)
        self.assertGreater(ratio, 0.005, f"{png.name} looks blank")
        self.assertLess(ratio, 0.3, f"{png.name} looks unstyled or black")
