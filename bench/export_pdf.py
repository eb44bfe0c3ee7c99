"""Benchmark: exporting N billing documents as one PDF, against rendering them one by one.

Run through ``./dev.sh bench-export [N]`` (default 200): it prepares a fresh database, starts
an Odoo server (for static files a report may reference; the styles are inlined), and runs
this script, which times in one process, on the same N posted invoices:

- export: ``practice.billing.document._get_merged_pdf()`` (documents of one kind rendered as
  one wkhtmltopdf document, split back per document, merged in order);
- ZIP: ``practice.billing.document._get_zip()`` (the same rendering, one PDF per document);
- one by one: Odoo's ``_render_qweb_pdf`` per document (a wkhtmltopdf process each).
"""

import argparse
import time
from datetime import datetime, timedelta

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config


def make_invoices(env, n):
    service = env["product.product"].create(
        {
            "name": "Psychotherapy, 53 min",
            "type": "service",
            "list_price": 150.0,
            "taxes_id": [],
            "billing_cpt_code": "90837",
        }
    )
    clients = env["res.partner"].create([{"name": f"Client {i:04d}"} for i in range(n)])
    # Billing Documents lists the practice's clients only: the client of a session.
    start = datetime(2026, 1, 5, 15, 0)
    env["calendar.event"].with_context(no_mail_to_attendees=True).create(
        [
            {
                "name": client.name,
                "start": start,
                "stop": start + timedelta(minutes=53),
                "partner_ids": [Command.set(client.ids)],
                "billing_client_id": client.id,
                "billing_product_id": service.id,
            }
            for client in clients
        ]
    )
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": client.id,
                "invoice_line_ids": [
                    Command.create({"product_id": service.id, "price_unit": 150.0, "quantity": 1})
                    for _ in range(4)
                ],
            }
            for client in clients
        ]
    )
    invoices.action_post()
    env.cr.commit()
    return invoices


def run(db, n, report_url):
    registry = Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
        env["ir.config_parameter"].set_param("report.url", report_url)
        invoices = make_invoices(env, n)
        documents = env["practice.billing.document"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", invoices.ids)], order="name"
        )
        assert len(documents) == n, f"{len(documents)} of {n} invoices listed in Billing Documents"
        started = time.perf_counter()
        merged = documents._get_merged_pdf()
        export_s = time.perf_counter() - started
        assert merged.startswith(b"%PDF")
        started = time.perf_counter()
        archive = documents._get_zip()
        zip_s = time.perf_counter() - started
        assert archive.startswith(b"PK")
        Report = env["ir.actions.report"]
        started = time.perf_counter()
        for document in documents:
            pdf = Report._render_qweb_pdf("account.account_invoices", [document.res_id])[0]
            assert pdf.startswith(b"%PDF")
        one_by_one_s = time.perf_counter() - started
    print(f"\nExport of {n} invoices as one PDF")
    print(f"{'':28} {'documents/s':>12} {'seconds':>8}")
    print(f"{'export (merged)':28} {n / export_s:12.1f} {export_s:8.1f}")
    print(f"{'ZIP (one PDF each)':28} {n / zip_s:12.1f} {zip_s:8.1f}")
    print(f"{'one by one':28} {n / one_by_one_s:12.2f} {one_by_one_s:8.1f}")
    print(f"export / one by one = {one_by_one_s / export_s:.1f}x   (target >= 10)")
    print(f"ZIP / one by one = {one_by_one_s / zip_s:.1f}x", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--report-url", required=True)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    run(args.db, args.n, args.report_url)


if __name__ == "__main__":
    main()
