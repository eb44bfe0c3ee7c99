"""Benchmark: the 1st of the month, from the billing run to every client's inbox.

Run through ``./dev.sh bench-month [N]`` (default N = 1,000), which installs the addon into
a fresh database without demo data and runs this script. The script:

1. makes a practice with 2N clients who receive their invoices by email, four $150 sessions
   each last month, and an outgoing mail server pointing at an SMTP server it runs itself
   (``aiosmtpd`` on 127.0.0.1, a free port); it bills the N "plain" clients at once (the
   engine, delivery left to staff) so that their N invoices wait to be sent;
2. starts a real Odoo server in prefork mode (``--workers``, ``--max-cron-threads``) on free
   ports, as production runs it;
3. the practice's 1st: turns on the practice's automatic invoicing and triggers the
   scheduled billing job; Odoo's scheduler does everything else (the run, the invoices'
   sending by two jobs side by side, Odoo's "Send invoices automatically" and "Practice
   Billing: send invoices", the mail queue). Timed from the trigger until the SMTP server
   has accepted an email with its PDF for each of the N "month" clients;
4. the baseline, plain Odoo: the N waiting invoices sent with Odoo's Send & Print for many
   invoices (``account.move.send.batch.wizard``, as staff would), which Odoo's own "Send
   invoices automatically" job sends, 20 per execution. That job queues the emails for
   Odoo's mail queue, whose job runs hourly: it is called as soon as all are queued (plain
   Odoo's best case), and the time as scheduled (until its next call) is printed too.
   Timed from the wizard until the SMTP server has accepted the N emails.

A warm-up invoice goes first, so that neither measure pays the report assets' first build.
The server runs through bench/odoo_prefork.py (odoo-bin with an idle stand-in for the gevent
process, which cannot start in this project's virtualenv).

It prints both durations, the ratio, PDFs rendered per second, the peak memory (RSS) of the
server's processes and of its largest worker, and, counted at the SMTP server, emails sent
twice and emails lost. ``--kill-worker`` SIGKILLs the server worker that is rendering
invoices once a third of the month's emails are out (the prefork master starts another; the
scheduled jobs resume) and the counts must still be exact.

No clock is frozen: the sessions are dated last month and the practice has billed no period
yet, so "now" is the 1st in effect (the run bills the month that ended, invoices dated the
1st of this month).
"""

import argparse
import email
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from email import policy

import psutil
from aiosmtpd.controller import Controller

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config

CONTEXT = {
    "no_mail_to_attendees": True,
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_notrack": True,
}
SESSION_DAYS = (2, 9, 16, 23)
INVOICE_PDF = re.compile(r"(INV[_/]\d{4}[_/]\d+)")


# ---------------------------------------------------------------------- the SMTP server
class Inbox:
    """An SMTP server's handler keeping, per recipient group, who got which invoice PDF."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []  # (time, group, message-id, to, invoice names of the PDFs)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        pdfs = [
            part.get_filename() or ""
            for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf"
            and part.get_content().startswith(b"%PDF")
        ]
        invoices = tuple(
            sorted(
                {m.group(1).replace("_", "/") for p in pdfs for m in [INVOICE_PDF.search(p)] if m}
            )
        )
        to = ",".join(envelope.rcpt_tos)
        group = to.rpartition("@")[2].partition(".")[0]  # month, plain, warm
        with self.lock:
            self.received.append((time.monotonic(), group, message["Message-Id"], to, invoices))
        return "250 OK"

    def with_pdf(self, group):
        with self.lock:
            return [r for r in self.received if r[1] == group and r[4]]

    def count(self, group):
        return len({(r[3], r[4]) for r in self.with_pdf(group)})

    def summary(self, group, expected):
        """Emails with a PDF per invoice: (distinct invoices received, sent twice, lost)."""
        received = self.with_pdf(group)
        per_invoice = Counter((r[3], r[4]) for r in received)
        twice = sum(count - 1 for count in per_invoice.values())
        return len(per_invoice), twice, max(expected - len(per_invoice), 0)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------- the practice
def make_clients(env, group, n, service, month_start):
    clients = env["res.partner"].create(
        [
            {
                "name": f"{group.title()} Client {i:05d}",
                "email": f"client{i:05d}@{group}.example.com",
                "billing_delivery_method": "email",
            }
            for i in range(n)
        ]
    )
    starts = [
        month_start.replace(day=day, hour=15, minute=0, second=0, microsecond=0)
        for day in SESSION_DAYS
    ]
    for chunk in range(0, n, 500):
        env["calendar.event"].create(
            [
                {
                    "name": f"{client.name} session",
                    "start": start,
                    "stop": start + timedelta(minutes=53),
                    "partner_ids": [Command.set(client.ids)],
                    "billing_product_id": service.id,
                }
                for client in clients[chunk : chunk + 500]
                for start in starts
            ]
        )
        env.cr.commit()
    return clients


def setup_practice(env, n, smtp_port, base_url):
    """The practice, its mail server and 2N clients (plus one for the warm-up); the N
    plain clients (and the warm-up's) already billed."""
    env["ir.config_parameter"].set_param("web.base.url", base_url)
    env["ir.config_parameter"].set_param("web.base.url.freeze", "True")
    env["ir.config_parameter"].set_param("report.url", base_url)
    env["ir.mail_server"].search([]).active = False
    env["ir.mail_server"].create(
        {"name": "Bench inbox", "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "sequence": 0}
    )
    company = env.company
    company.write(
        {
            "name": "Riverside Therapy",
            "email": "billing@riverside.example",
            # Turned on at the 1st (see first_of_month): the server must not bill before.
            "billing_auto_invoice": False,
            "billing_last_cutoff": False,
        }
    )
    company.partner_id.tz = "America/New_York"
    service = env["product.product"].create(
        {
            "name": "Psychotherapy, 53 min",
            "type": "service",
            "list_price": 150.0,
            "billing_cpt_code": "90837",
            "taxes_id": [],
        }
    )
    month_start = (datetime.now().replace(day=1) - timedelta(days=1)).replace(day=1)
    plain = make_clients(env, "plain", n, service, month_start)
    plain |= make_clients(env, "warm", 1, service, month_start)
    month = make_clients(env, "month", n, service, month_start)
    plain_invoices = bill_for_staff(env, company, plain)
    return company, month, plain_invoices


def bill_for_staff(env, company, clients):
    """The plain clients' invoices, made by the engine and left unsent (delivery by hand),
    as invoices staff then send with Odoo's Send & Print."""
    Run = env["practice.billing.run"]
    run = Run.create(
        {
            "company_id": company.id,
            "trigger": "manual",
            "cutoff": datetime.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0),
            "invoice_date": datetime.now().date().replace(day=1),
            "partner_ids": [Command.set(clients.ids)],
        }
    )
    clients.billing_delivery_method = "manual"
    run._execute()
    env.cr.commit()
    clients.billing_delivery_method = "email"
    invoices = run.invoice_ids
    assert len(invoices) == len(clients), f"{len(invoices)} plain invoices for {len(clients)}"
    assert set(invoices.mapped("billing_delivery_state")) == {"manual"}
    env.cr.commit()
    return invoices


# ---------------------------------------------------------------------- the server
class Server:
    """odoo-bin in prefork mode, on free ports, its log in a file."""

    def __init__(self, args, http_port):
        self.args = args
        self.http_port = http_port
        self.log_path = f"/tmp/first_of_month_{args.db}.log"
        self.process = None
        self.peak_total = 0
        self.peak_worker = 0
        self.peak_wkhtmltopdf = 0
        self.wkhtmltopdf_pids = set()
        self._watching = False

    def start(self):
        command = [
            sys.executable,
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "odoo_prefork.py"),
            "-c",
            self.args.config,
            "-d",
            self.args.db,
            f"--db-filter=^{self.args.db}$",
            f"--http-port={self.http_port}",
            f"--gevent-port={free_port()}",
            f"--workers={self.args.workers}",
            f"--max-cron-threads={self.args.cron_threads}",
            f"--limit-time-cpu={self.args.limit_time_cpu}",
            f"--limit-time-real={self.args.limit_time_real}",
            f"--limit-time-real-cron={self.args.limit_time_real_cron}",
            "--log-level=info",
            f"--logfile={self.log_path}",
        ]
        # Its own output too (a process failing before logging starts, e.g. the gevent
        # process where gevent's plugins cannot load).
        self.output = open(self.log_path + ".out", "w")
        self.process = subprocess.Popen(
            command, start_new_session=True, stdout=self.output, stderr=subprocess.STDOUT
        )
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the server did not start (log: {self.log_path})")
        self._watching = True
        threading.Thread(target=self._watch_memory, daemon=True).start()

    def log_size(self):
        return os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0

    def log_counts(self, since):
        """(wkhtmltopdf processes, executions of the sending jobs: Odoo's and the
        practice's "Practice Billing: send invoices") logged after ``since`` (Odoo logs a
        warning per wkhtmltopdf process with Debian's build: unpatched Qt)."""
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            log.seek(since)
            text = log.read()
        return (
            len(re.findall(r"ir_actions_report: wkhtmltopdf", text)),
            len(
                re.findall(
                    r"Job '(?:Send invoices automatically|Practice Billing: send invoices)' "
                    r"\(\d+\) done",
                    text,
                )
            ),
        )

    def processes(self):
        try:
            master = psutil.Process(self.process.pid)
            return master, master.children(recursive=True)
        except psutil.NoSuchProcess:
            return None, []

    def _watch_memory(self):
        while self._watching:
            master, children = self.processes()
            if master:
                odoo_rss, worker_rss, wk_rss = 0, 0, 0
                for proc in [master, *children]:
                    try:
                        rss = proc.memory_info().rss
                        name = proc.name()
                    except psutil.Error:
                        continue
                    if "wkhtmltopdf" in name:
                        wk_rss += rss
                        self.wkhtmltopdf_pids.add(proc.pid)
                    else:
                        odoo_rss += rss
                        if proc is not master:
                            worker_rss = max(worker_rss, rss)
                self.peak_total = max(self.peak_total, odoo_rss)
                self.peak_worker = max(self.peak_worker, worker_rss)
                self.peak_wkhtmltopdf = max(self.peak_wkhtmltopdf, wk_rss)
            time.sleep(0.2)

    def kill_rendering_worker(self, timeout=120):
        """SIGKILL the worker that runs wkhtmltopdf now (and its wkhtmltopdf): the middle
        of sending. Returns the worker's pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _master, children = self.processes()
            for proc in children:
                try:
                    if "wkhtmltopdf" in proc.name():
                        worker = proc.parent()
                        os.kill(worker.pid, signal.SIGKILL)
                        proc.kill()
                        return worker.pid
                except psutil.Error:
                    continue
            time.sleep(0.05)
        raise RuntimeError("no worker was rendering invoices to kill")

    def stop(self):
        self._watching = False
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


# ---------------------------------------------------------------------- the measures
class Phase:
    """One measure: how long until the inbox holds an email with its PDF for each of
    ``n`` invoices of a recipient ``group``, and what the server did meanwhile."""

    def __init__(self, label, group, n):
        self.label, self.group, self.n = label, group, n
        self.seconds = None
        self.received = self.twice = 0
        self.lost = n
        self.wkhtmltopdf = self.send_jobs = 0

    def wait(self, inbox, started, timeout, on_progress=None):
        last, last_change = -1, time.monotonic()
        while True:
            count = inbox.count(self.group)
            if on_progress:
                on_progress(count)
            if count >= self.n:
                self.seconds = max(r[0] for r in inbox.with_pdf(self.group)) - started
                return
            if count != last:
                last, last_change = count, time.monotonic()
                elapsed = time.monotonic() - started
                print(f"  {self.group}: {count}/{self.n} emails, {elapsed:.0f}s", flush=True)
            if time.monotonic() - last_change > timeout:
                print(f"  {self.group}: nothing new for {timeout}s, stopping", flush=True)
                return
            time.sleep(0.5)

    def count(self, inbox, server, log_start):
        self.received, self.twice, self.lost = inbox.summary(self.group, self.n)
        self.wkhtmltopdf, self.send_jobs = server.log_counts(log_start)

    def print(self):
        rate = f"{self.seconds:8.1f} {self.n / self.seconds:8.2f}" if self.seconds else " " * 17
        print(
            f"{self.label:34} {rate} {self.received:9d} {self.twice:6d} {self.lost:5d} "
            f"{self.wkhtmltopdf:11d} {self.send_jobs:9d}"
        )


def first_of_month(registry, company_id):
    """The practice's 1st: automatic invoicing on, the scheduled billing job triggered."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["res.company"].browse(company_id).billing_auto_invoice = True
        env.ref("practice_billing.ir_cron_billing_run")._trigger()


def send_and_print(registry, invoice_ids):
    """Staff select the invoices and use Send & Print (several invoices: Odoo's batch
    wizard, sent in the background by its "Send invoices automatically" job)."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        wizard = (
            env["account.move.send.batch.wizard"]
            .with_user(admin)
            .with_context(active_model="account.move", active_ids=invoice_ids)
            .create({})
        )
        assert len(wizard.move_ids) == len(invoice_ids)
        wizard.action_send_and_print()


def wait_until_queued(registry, invoice_ids, started, timeout):
    """Seconds until Odoo's sending job has made the emails of all ``invoice_ids``."""
    while True:
        with registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM account_move WHERE id IN %s AND sending_data IS NOT NULL",
                [tuple(invoice_ids)],
            )
            (waiting,) = cr.fetchone()
        if not waiting:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.5)


def mail_queue_next_call(registry):
    """Seconds until the mail queue's next scheduled (hourly) call."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cron = env.ref("mail.ir_cron_mail_scheduler_action")
        return (cron.nextcall - datetime.utcnow()).total_seconds()


def call_mail_queue(registry):
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        env.ref("mail.ir_cron_mail_scheduler_action")._trigger()


def report_db(registry, month_clients):
    """The scheduled runs, and the delivery states of the month's invoices."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        runs = env["practice.billing.run"].search([("trigger", "=", "cron")], order="id")
        invoices = env["account.move"].search(
            [("partner_id", "in", month_clients), ("move_type", "=", "out_invoice")]
        )
        unsent = env["mail.mail"].search_count([("state", "in", ("outgoing", "exception"))])
        print(
            f"scheduled runs (id, state, seconds, invoices): "
            f"{[(r.id, r.state, r.duration, len(r.invoice_ids)) for r in runs]}"
        )
        print(
            f"month invoices: {len(invoices)}, delivery "
            f"{dict(Counter(invoices.mapped('billing_delivery_state')))}; "
            f"emails not sent: {unsent}"
        )


def warm_up(registry, inbox, warm_up_ids, timeout):
    """One invoice sent through Odoo's sending and the mail queue, so that neither
    measure pays the first build of the report's assets."""
    started = time.monotonic()
    send_and_print(registry, warm_up_ids)
    wait_until_queued(registry, warm_up_ids, started, timeout)
    call_mail_queue(registry)
    Phase("warm-up", "warm", 1).wait(inbox, started, timeout)


def measure_first_of_month(args, registry, inbox, server, company_id):
    """The practice's 1st, the scheduler doing everything; a worker killed if asked."""
    phase = Phase("run + sending (scheduler)", "month", args.n)
    killed = []

    def maybe_kill(count):
        if args.kill_worker and not killed and count >= args.n // 3:
            killed.append(server.kill_rendering_worker())
            print(f"  killed worker {killed[0]} (SIGKILL) at {count}/{args.n}", flush=True)

    log_start = server.log_size()
    started = time.monotonic()
    first_of_month(registry, company_id)
    phase.wait(inbox, started, args.timeout, maybe_kill)
    time.sleep(args.settle)  # an email sent twice would come now
    phase.count(inbox, server, log_start)
    return phase, killed


def measure_plain_odoo(args, registry, inbox, server, invoice_ids):
    """Plain Odoo's Send & Print of as many invoices. Odoo's sending job queues their
    emails for the mail queue's hourly job: called here as soon as all are queued (plain
    Odoo's best case); returns the phase and the seconds it would have waited."""
    phase = Phase("plain Odoo Send & Print (batch)", "plain", args.n)
    log_start = server.log_size()
    started = time.monotonic()
    send_and_print(registry, invoice_ids)
    queued_s = wait_until_queued(registry, invoice_ids, started, args.timeout * 10)
    queue_wait_s = max(mail_queue_next_call(registry), 0)
    print(
        f"  plain: emails queued after {queued_s:.0f}s; the mail queue's next call is in "
        f"{queue_wait_s / 60:.0f} min: calling it now (best case)",
        flush=True,
    )
    call_mail_queue(registry)
    phase.wait(inbox, started, args.timeout)
    time.sleep(args.settle)
    phase.count(inbox, server, log_start)
    return phase, queue_wait_s


def print_results(args, server, month, plain, *, queue_wait_s, killed):
    mb = 1024 * 1024
    print(
        f"\nN = {args.n} clients by email, 4 sessions each; server --workers={args.workers} "
        f"--max-cron-threads={args.cron_threads}"
    )
    print(
        f"{'':34} {'seconds':>8} {'PDFs/s':>8} {'received':>9} {'twice':>6} {'lost':>5} "
        f"{'wkhtmltopdf':>11} {'send jobs':>9}"
    )
    month.print()
    if plain:
        plain.print()
    if plain and plain.seconds:
        scheduled_s = plain.seconds + queue_wait_s
        print(f"{'  as scheduled (hourly mail queue)':34} {scheduled_s:8.1f}")
        if month.seconds:
            print(
                f"plain (best case) / addon = {plain.seconds / month.seconds:.2f}x; "
                f"plain (as scheduled) / addon = {scheduled_s / month.seconds:.2f}x "
                f"(target >= 5)"
            )
    print(
        f"peak RSS: Odoo processes {server.peak_total / mb:.0f} MB, largest worker "
        f"{server.peak_worker / mb:.0f} MB, wkhtmltopdf {server.peak_wkhtmltopdf / mb:.0f} MB"
    )
    if killed:
        print(f"killed worker {killed[0]} mid-sending: sent twice {month.twice}, lost {month.lost}")
    print(f"server log: {server.log_path}", flush=True)


def run(args):
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's every command
    registry = Registry(args.db)
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http_port = free_port()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, CONTEXT)
        t0 = time.perf_counter()
        company, month, plain_invoices = setup_practice(
            env, args.n, smtp_port, f"http://127.0.0.1:{http_port}"
        )
        company_id, month_ids = company.id, month.ids
        warm_up_ids = plain_invoices.filtered(lambda m: "@warm." in m.partner_id.email).ids
        plain_invoice_ids = (plain_invoices - plain_invoices.browse(warm_up_ids)).ids
        print(f"N={args.n}: practice ready in {time.perf_counter() - t0:.0f}s", flush=True)
    server = Server(args, http_port)
    server.start()
    plain, queue_wait_s = None, 0
    try:
        time.sleep(3)  # the workers are up
        print("Warm-up: one invoice sent", flush=True)
        warm_up(registry, inbox, warm_up_ids, args.timeout)
        print("The 1st: the scheduled job bills and sends", flush=True)
        month, killed = measure_first_of_month(args, registry, inbox, server, company_id)
        report_db(registry, month_ids)
        if not args.no_baseline:
            print("Plain Odoo: Send & Print of as many invoices", flush=True)
            plain, queue_wait_s = measure_plain_odoo(
                args, registry, inbox, server, plain_invoice_ids
            )
    finally:
        server.stop()
        controller.stop()
    print_results(args, server, month, plain, queue_wait_s=queue_wait_s, killed=killed)
    failed = not month.seconds or month.twice or month.lost or (plain and plain.twice)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cron-threads", type=int, default=2)
    parser.add_argument("--limit-time-cpu", type=int, default=60)
    parser.add_argument("--limit-time-real", type=int, default=120)
    parser.add_argument("--limit-time-real-cron", type=int, default=-1)
    parser.add_argument(
        "--timeout", type=int, default=180, help="give up after this long without a new email"
    )
    parser.add_argument("--settle", type=int, default=5, help="seconds to wait for duplicates")
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    sys.exit(run(args))


if __name__ == "__main__":
    main()
