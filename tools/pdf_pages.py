"""Numbering the pages of PDFs put together ("Page 3 of 40"), for the Billing Documents
export (models/practice_billing_export.py).

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
