"""The Billing Documents export as one PDF: every page numbered ("Page 3 of 40") and, when
asked, a cover page listing what it holds.

Why here and not in the report layout: Debian's wkhtmltopdf (unpatched Qt) drops the layout's
footer, which is where Odoo prints page numbers, and each document of an export is printed
(or was kept) on its own. So the pages are numbered once the export is put together.

How: each page gets a few PDF operators of its own appended (its number, in the standard
Helvetica font, which needs no embedding), the page's own content left as it is. pypdf's
merge_page would parse and rewrite every page's content (measured: 55 ms a page, and an
export ten times larger).
"""

import io
import itertools

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from odoo import api, fields, models
from odoo.tools.pdf import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    PdfFileReader,
    PdfFileWriter,
)

# The page number: in the bottom margin a page keeps when its footer is lost (see
# models/ir_actions_report_margins.py), right-aligned with the text of Odoo's layouts.
PAGE_NUMBER_RIGHT = 11 * mm
PAGE_NUMBER_BOTTOM = 6 * mm
PAGE_NUMBER_SIZE = 8
PAGE_NUMBER_FONT = NameObject("/PracticeBillingPageNumber")  # its name in page resources
# One of the PDF standard fonts: every reader has it, nothing is embedded; it writes the
# Windows-1252 characters only (Latin languages).
PAGE_NUMBER_FONT_DICT = DictionaryObject(
    {
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    }
)

COVER_REPORT = "practice_billing.action_report_billing_export_cover"
# A cover listing many documents takes several pages: its page numbers are computed again
# until the cover's own length is known (twice at most in practice).
COVER_LAYOUT_TRIES = 4


def page_count(pdf):
    """The number of pages of the PDF ``pdf`` (bytes)."""
    return len(PdfFileReader(io.BytesIO(pdf), strict=False).pages)


def number_pages(pdfs, label):
    """One PDF of the PDFs ``pdfs`` (bytes, in order), each page stamped with
    ``label(page, total)`` at the bottom right."""
    readers = [PdfFileReader(io.BytesIO(pdf), strict=False) for pdf in pdfs]
    pages = list(itertools.chain.from_iterable(reader.pages for reader in readers))
    writer = PdfFileWriter()
    # Depends on Odoo's pdf tools (private, in each of their pypdf versions): _addObject. A
    # font is an object of its own (PDF tools mishandle a font written inline).
    font = writer._addObject(PAGE_NUMBER_FONT_DICT)
    for number, page in enumerate(pages, start=1):
        stamp_page(writer, page, font, label(number, len(pages)))
        writer.add_page(page)
    stream = io.BytesIO()
    writer.write(stream)
    return stream.getvalue()


def stamp_page(writer, page, font, text):
    """Draw ``text`` in ``font`` (a reference to PAGE_NUMBER_FONT_DICT in ``writer``) at the
    bottom right of ``page`` (read by a pypdf reader, about to be added to ``writer``): its
    content is wrapped in q/Q, so that a state it leaves changed
    does not move the text, and followed by a content stream drawing the text."""
    try:
        encoded = text.encode("cp1252")
    except UnicodeEncodeError:  # a language Helvetica cannot write: the numbers say it
        text = " / ".join(part for part in text.split() if part.isdigit())
        encoded = text.encode("cp1252")
    escaped = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    box = page.mediabox
    x = float(box.left) + float(box.width) - PAGE_NUMBER_RIGHT
    x -= stringWidth(text, "Helvetica", PAGE_NUMBER_SIZE)
    y = float(box.bottom) + PAGE_NUMBER_BOTTOM
    resources = page.setdefault(NameObject("/Resources"), DictionaryObject()).get_object()
    fonts = resources.setdefault(NameObject("/Font"), DictionaryObject()).get_object()
    fonts[PAGE_NUMBER_FONT] = font
    # The page's content as references (a content stream must stay an indirect object).
    contents = page.raw_get("/Contents") if "/Contents" in page else ArrayObject()
    resolved = contents.get_object()
    originals = list(resolved) if isinstance(resolved, ArrayObject) else [contents]
    page[NameObject("/Contents")] = ArrayObject(
        [
            content_stream(writer, b"q\n"),
            *originals,
            content_stream(
                writer,
                b"Q\nq BT %s %d Tf 0.4 g %.2f %.2f Td (%s) Tj ET Q\n"
                % (PAGE_NUMBER_FONT.encode(), PAGE_NUMBER_SIZE, x, y, escaped),
            ),
        ]
    )


def content_stream(writer, data):
    """A new content stream of ``writer`` holding the operators ``data``."""
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._addObject(stream)


class PracticeBillingExport(models.AbstractModel):
    """Putting the Billing Documents export together (practice.billing.document's
    _get_merged_pdf): numbered pages, an optional cover page."""

    _name = "practice.billing.export"
    _description = "Billing Documents Export"

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
