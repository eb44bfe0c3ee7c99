"""Pictures of the practice's PDFs for docs/: an invoice, a superbill, a statement and a
Billing Documents export with its cover page, each the first page at 50 dpi.

It asks a running Odoo server (with the demo database) for the PDFs, as a user would print
them, and rasterises their first page with pdftoppm (poppler-utils)::

    python docs/make_pdf_pictures.py --url http://localhost:8069 --db practice_billing

Login admin/admin unless told otherwise; the PDFs themselves are kept with --keep-pdfs DIR.
Only the Python standard library is used, so any Python 3 runs it.
"""

import argparse
import http.cookiejar
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent

# (picture, model, domain of the record to print, report): the latest of each kind.
DOCUMENTS = [
    (
        "invoice",
        "account.move",
        [
            ["move_type", "=", "out_invoice"],
            ["state", "=", "posted"],
            ["billing_run_id", "!=", False],
            # one a client still owes: the amount due and the Pay online link show
            ["payment_state", "in", ["not_paid", "partial"]],
        ],
        "account.report_invoice",
    ),
    (
        "superbill",
        "practice.superbill",
        [["state", "=", "issued"]],
        "practice_billing.report_superbill",
    ),
    ("statement", "practice.statement", [], "practice_billing.report_statement"),
]
EXPORT_SIZE = 8  # documents in the export pictured with its cover page


class Odoo:
    """A logged-in session on an Odoo server (JSON-RPC as the web client speaks it)."""

    def __init__(self, url, db, login, password):
        self.url = url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.rpc("/web/session/authenticate", db=db, login=login, password=password)

    def rpc(self, path, **params):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}).encode()
        request = urllib.request.Request(
            self.url + path, body, {"Content-Type": "application/json"}
        )
        with self.opener.open(request, timeout=600) as response:
            answer = json.load(response)
        if answer.get("error"):
            sys.exit(f"{path}: {answer['error']['data']['message']}")
        return answer["result"]

    def call(self, model, method, *args, **kwargs):
        return self.rpc(
            "/web/dataset/call_kw", model=model, method=method, args=list(args), kwargs=kwargs
        )

    def get(self, path):
        with self.opener.open(self.url + path, timeout=600) as response:
            return response.read()


def first_page_png(pdf, png, resolution):
    """Rasterise the first page of the PDF ``pdf`` (bytes) into ``png``."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            [
                *("pdftoppm", "-png", "-r", str(resolution), "-f", "1", "-l", "1", "-singlefile"),
                *(str(source), str(png.with_suffix(""))),
            ],
            check=True,
        )


def documents_pdfs(odoo):
    """{picture name: PDF bytes} of the latest invoice, superbill and statement."""
    pdfs = {}
    for name, model, domain, report in DOCUMENTS:
        ids = odoo.call(model, "search", domain, limit=1, order="id desc")
        if not ids:
            sys.stderr.write(f"no {name} in this database: skipped\n")
            continue
        pdfs[name] = odoo.get(f"/report/pdf/{report}/{ids[0]}")
    return pdfs


def export_pdf(odoo):
    """A Billing Documents export with its cover page, as the Export PDF action makes it."""
    ids = odoo.call("practice.billing.document", "search", [], limit=EXPORT_SIZE)
    action = odoo.call(
        "practice.billing.document",
        "action_export_pdf",
        ids,
        context={"billing_export_cover": True},
    )
    return odoo.get(action["url"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="practice_billing")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--resolution", type=int, default=50)
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--keep-pdfs", type=Path, help="also keep the PDFs in this folder")
    options = parser.parse_args()
    odoo = Odoo(options.url, options.db, options.login, options.password)
    pdfs = documents_pdfs(odoo)
    pdfs["export-cover"] = export_pdf(odoo)
    for name, pdf in pdfs.items():
        if options.keep_pdfs:
            options.keep_pdfs.mkdir(parents=True, exist_ok=True)
            (options.keep_pdfs / f"{name}.pdf").write_bytes(pdf)
        png = options.out / f"{name}.png"
        first_page_png(pdf, png, options.resolution)
        sys.stdout.write(f"{png}\n")


if __name__ == "__main__":
    main()
