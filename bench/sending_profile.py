"""Profile: CPU time per invoice of Odoo's sending of the practice's invoices, by part.

Not part of the suite. Needs an Odoo server of the same database reachable at
``--report-url`` (wkhtmltopdf may fetch static files from it; the styles are inlined) and
runs, in this process, on N invoices the billing run handed over to Odoo's sending
(``_billing_deliver_by_odoo("email")``):

1. ``account.move.send._generate_and_send_invoices(moves, from_cron=True)``, as Odoo's
   sending job calls it (one warm-up invoice first, so neither the report's assets nor the
   templates' compilation are counted), on N invoices without the profiler (the CPU time
   per invoice), then on N others with it (the parts; cProfile inflates them);
2. the mail queue's sending of the emails queued (``mail.mail.send``), to an SMTP server
   run here (``aiosmtpd`` on 127.0.0.1).

CPU time (``time.process_time``, and wkhtmltopdf's from the children's rusage), not wall
clock: the machine may be shared. Nothing is committed but the data the run needs; the
transaction of the profile is rolled back.
"""

import argparse
import cProfile
import pstats
import resource
import socket
import time
from datetime import datetime, timedelta

from aiosmtpd.controller import Controller

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config

# (label, path suffix of the file, function name): cumulative CPU time of each.
PARTS = [
    ("sending, all", "account/models/account_move_send.py", "_generate_and_send_invoices"),
    ("  PDF (prepare, all)", "account/models/account_move_send.py", "_prepare_invoice_pdf_report"),
    ("    QWeb render", "base/models/ir_actions_report.py", "_render_template"),
    ("      report values (addon)", "report_account_report_invoice.py", "_get_report_values"),
    ("    _prepare_html", "base/models/ir_actions_report.py", "_prepare_html"),
    ("    one document (addon)", "ir_actions_report_batch.py", "_render_batch_single_body"),
    ("    styles inlined (addon)", "ir_actions_report_styles.py", "_inline_report_stylesheets"),
    ("    wkhtmltopdf (Python side)", "base/models/ir_actions_report.py", "_run_wkhtmltopdf"),
    ("    PDF split (addon)", "ir_actions_report_batch.py", "_render_batch_split_pdf"),
    (
        "    access check (addon)",
        "practice_billing/models/ir_actions_report.py",
        "_billing_check_access",
    ),
    (
        "  Factur-X XML",
        "account_edi_ubl_cii/models/account_move_send.py",
        "_hook_invoice_document_before_pdf_report_render",
    ),
    (
        "  Factur-X embed",
        "account_edi_ubl_cii/models/account_move_send.py",
        "_hook_invoice_document_after_pdf_report_render",
    ),
    ("  attachments linked", "account/models/account_move_send.py", "_link_invoice_documents"),
    ("  emails (message_post)", "account/models/account_move_send.py", "_send_mails"),
    ("  sending settings", "account/models/account_move_send.py", "_get_default_sending_settings"),
    ("  success hook (addon)", "practice_billing/models/account_move_send.py", "_hook_if_success"),
    ("mail queue, all", "mail/models/mail_mail.py", "send"),
    ("  postprocess (addon)", "practice_billing/models/mail_mail.py", "_postprocess_sent_message"),
]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_invoices(env, n):
    """N practice invoices of last month, handed over to Odoo's sending by email."""
    company = env.company
    service = env["product.product"].create(
        {
            "name": "Psychotherapy, 53 min (profile)",
            "type": "service",
            "list_price": 150.0,
            "billing_cpt_code": "90837",
            "taxes_id": [],
        }
    )
    stamp = datetime.now().strftime("%H%M%S")
    clients = env["res.partner"].create(
        [
            {"name": f"Profile {stamp} {i:04d}", "email": f"c{i:04d}-{stamp}@example.com"}
            for i in range(n)
        ]
    )
    month_start = (datetime.now().replace(day=1) - timedelta(days=1)).replace(day=1)
    env["calendar.event"].with_context(no_mail_to_attendees=True).create(
        [
            {
                "name": f"{client.name} session",
                "start": month_start.replace(day=day, hour=15),
                "stop": month_start.replace(day=day, hour=15) + timedelta(minutes=53),
                "partner_ids": [Command.set(client.ids)],
                "billing_client_id": client.id,
                "billing_product_id": service.id,
            }
            for client in clients
            for day in (2, 9, 16, 23)
        ]
    )
    clients.billing_delivery_method = "manual"
    run = env["practice.billing.run"].create(
        {
            "company_id": company.id,
            "trigger": "manual",
            "cutoff": datetime.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0),
            "invoice_date": datetime.now().date().replace(day=1),
            "partner_ids": [Command.set(clients.ids)],
        }
    )
    run._execute()
    invoices = run.invoice_ids
    assert len(invoices) == n, f"{len(invoices)} invoices for {n} clients"
    clients.billing_delivery_method = "email"
    invoices._billing_deliver_by_odoo("email")
    return invoices


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(stats, n, wkhtmltopdf_s, total_s):
    by_part = {}
    for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        for label, suffix, function in PARTS:
            if name == function and path.endswith(suffix):
                by_part[label] = by_part.get(label, 0.0) + cumulative
    print(f"\nCPU ms per invoice, {n} invoices (cumulative, parts overlap as indented)")
    print(f"{'this process, all':34} {1000 * total_s / n:8.1f}")
    for label, _suffix, _function in PARTS:
        print(f"{label:34} {1000 * by_part.get(label, 0.0) / n:8.1f}")
    print(f"{'wkhtmltopdf processes (children)':34} {1000 * wkhtmltopdf_s / n:8.1f}")


def profiled(function, *args):
    profile = cProfile.Profile(time.process_time)
    started, children = time.process_time(), children_cpu()
    profile.enable()
    function(*args)
    profile.disable()
    return profile, time.process_time() - started, children_cpu() - children


def run(db, n, report_url, dump):
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    registry = Registry(db)
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ir.config_parameter"].set_param("report.url", report_url)
            env["ir.mail_server"].search([]).active = False
            env["ir.mail_server"].create(
                {"name": "Profile sink", "smtp_host": "127.0.0.1", "smtp_port": smtp.port}
            )
            invoices = make_invoices(env, 2 * n + 1)
            Send = env["account.move.send"]
            warm, timed, moves = invoices[:1], invoices[1 : n + 1], invoices[n + 1 :]
            Send._generate_and_send_invoices(warm, from_cron=True)
            env["mail.mail"].search([("state", "=", "outgoing")]).send()
            env.flush_all()

            def send(moves):
                Send._generate_and_send_invoices(moves, from_cron=True)
                env.flush_all()

            def mail_queue():
                env["mail.mail"].search([("state", "=", "outgoing")]).send()
                env.flush_all()

            # Without the profiler first: its tracing inflates Python's time several times.
            started = time.process_time()
            send(timed)
            mail_queue()
            plain_s = time.process_time() - started
            print(f"\nWithout profiler: {1000 * plain_s / n:.1f} CPU ms per invoice (this process)")
            sending, sending_s, wkhtmltopdf_s = profiled(send, moves)
            assert all(move.invoice_pdf_report_id for move in moves), "every PDF kept"
            queue, queue_s, _children = profiled(mail_queue)
            stats = pstats.Stats(sending)
            stats.add(queue)
            report(stats, n, wkhtmltopdf_s, sending_s + queue_s)
            if dump:
                stats.dump_stats(dump)
            cr.rollback()
    finally:
        smtp.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--report-url", required=True)
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--dump", help="write the cProfile stats to this file")
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    run(args.db, args.n, args.report_url, args.dump)


if __name__ == "__main__":
    main()
