"""A billing staff member's Odoo worker, in an OS process of its own (see
tests/test_staff_in_another_process.py). Not a test module: the test starts it.

    python staff_process.py DATABASE REPORT_URL [ODOO OPTIONS...]

Opens Odoo's registry on DATABASE with the test's Odoo options (its configuration file,
addons path, database server: as an Odoo server started with them would), then reads
requests on stdin, one JSON object a line: ``{"step": "invoice_now" | "print" | "export",
"args": [...], "company_id": practice}``. Each is done as the database's administrator
(Billing: Manager) in that practice, in a transaction of its own, retried on serialization
failures as Odoo retries an RPC request, and committed as a request is. Every request gets
two JSON lines on stdout: ``{"pid": backend pid}`` when it starts (the test watches that
connection in pg_stat_activity), then ``{"result": ...}``, or ``{"error": exception class,
"message": ...}`` (what the user would see), with the seconds it took. Odoo logs to stderr.
"""

import functools
import io
import json
import sys
import time
import zipfile

import odoo
from odoo import api
from odoo.modules.registry import Registry
from odoo.service.model import retrying

# A request that waits for a lock longer than this fails instead of hanging the test.
LOCK_TIMEOUT = "10s"


def reply(**values):
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def invoice_now(env, client_ids):
    """Staff's "Invoice now" on the clients' form or list: what the run made, whom it left."""
    action = env["res.partner"].browse(client_ids).action_billing_invoice_now()
    notice = action.get("params", {})
    run = env["practice.billing.run"].browse(notice.get("next", action).get("res_id"))
    return {
        "notice": notice.get("message"),
        "invoices": {move.partner_id.name: move.name for move in run.invoice_ids},
    }


def print_invoice(env, invoice_id):
    """Print an invoice (the report the invoice's Print menu renders)."""
    pdf, kind = env["ir.actions.report"]._render_qweb_pdf("account.account_invoices", [invoice_id])
    return {"kind": kind, "is_pdf": pdf.startswith(b"%PDF-")}


def export_zip(env, client_id):
    """Billing Documents: select the client's documents, Download ZIP."""
    documents = env["practice.billing.document"].search([("partner_id", "=", client_id)])
    action = documents.action_download_zip()
    attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
    raw = env["ir.attachment"].browse(attachment_id).raw
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {
            name: archive.read(name).startswith(b"%PDF-") for name in sorted(archive.namelist())
        }


STEPS = {"invoice_now": invoice_now, "print": print_invoice, "export": export_zip}


def serve(registry):
    with registry.cursor() as cr:
        admin_id = api.Environment(cr, odoo.SUPERUSER_ID, {}).ref("base.user_admin").id
    reply(ready=True)
    for line in sys.stdin:
        request = json.loads(line)
        registry = registry.check_signaling()
        with registry.cursor() as cr:
            cr.execute("SELECT set_config('lock_timeout', %s, false)", [LOCK_TIMEOUT])
            cr.execute("SELECT pg_backend_pid()")
            reply(pid=cr.fetchone()[0])
            env = api.Environment(cr, admin_id, {"allowed_company_ids": [request["company_id"]]})
            started = time.monotonic()
            step = functools.partial(STEPS[request["step"]], env, *request["args"])
            try:
                result = retrying(step, env)
            except Exception as error:  # reported to the test, as a request's error would be
                cr.rollback()
                reply(
                    error=type(error).__name__,
                    message=str(error),
                    seconds=time.monotonic() - started,
                )
                continue
            reply(result=result, seconds=time.monotonic() - started)


def main(database, report_url, *odoo_options):
    odoo.tools.config.parse_config([*odoo_options, "-d", database, "--log-level=warn"])
    registry = Registry(database)
    # wkhtmltopdf loads the report's styles from the test's HTTP server (see ODOO.md).
    registry["ir.actions.report"]._get_report_url = lambda self, layout=None: report_url
    serve(registry)


if __name__ == "__main__":
    main(*sys.argv[1:])
