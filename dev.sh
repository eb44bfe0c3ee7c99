#!/usr/bin/env bash
# Practice Billing developer entry point.
#   ./dev.sh start   prepare everything and run Odoo with the demo practice on :8069
#   ./dev.sh test    run the whole suite (pytest-odoo --odoo-http) plus ruff and pylint-odoo
#   ./dev.sh test-odoo [pytest args]   Odoo's own tests of what the addon overrides, addon installed
#   ./dev.sh bench   billing-run benchmark (bench/monthly_run.py), N = 500 and 5000 unless given
#   ./dev.sh bench-export [N]   Billing Documents export benchmark (bench/export_pdf.py)
#   ./dev.sh bench-autopay [N]   AutoPay charging benchmark (bench/autopay.py), N = 500
#   ./dev.sh bench-month [N]   the 1st from the run to N clients' inboxes (bench/first_of_month.py), N = 1000
#   ./dev.sh bench-portal [N ...]   the client portal under load (bench/portal_load.py), N = 20 50
#   ./dev.sh screenshots [file.png ...]   remake docs/*.png from a fresh demo practice
# Odoo 18 source: $ODOO_SRC, else $PB_CACHE/odoo (default ~/.cache/practice-billing/odoo);
# `start` clones upstream 18.0 there when neither exists.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PB_CACHE=${PB_CACHE:-$HOME/.cache/practice-billing}
ODOO_DEFAULT=$PB_CACHE/odoo
VENV=${PB_VENV:-$PB_CACHE/venv}
# Per-checkout config and the addons-path link live outside the repository: a link back to
# the repository inside it would make Odoo's file walks (translation export) loop forever.
BUILD=${PB_BUILD:-$PB_CACHE/checkouts/$(printf %s "$REPO" | sha1sum | cut -c1-12)}
PORT=${PB_PORT:-8069}
DB=${PB_DB:-practice_billing}

say() { printf '\033[1m[practice-billing]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[practice-billing] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

is_odoo18() { [[ -x "$1/odoo-bin" || -f "$1/odoo-bin" ]] && [[ -f "$1/requirements.txt" && -d "$1/addons" ]] &&
  grep -q "version_info = (18, 0" "$1/odoo/release.py" 2>/dev/null; }

find_odoo() { # $1 = "clone" to fetch upstream when nothing is found
  if [[ -n "${ODOO_SRC:-}" ]]; then
    is_odoo18 "$ODOO_SRC" || die "ODOO_SRC=$ODOO_SRC is not an Odoo 18.0 source tree (odoo-bin, odoo/, addons/, requirements.txt)."
    echo "$ODOO_SRC"; return
  fi
  if is_odoo18 "$ODOO_DEFAULT"; then echo "$ODOO_DEFAULT"; return; fi
  if [[ "${1:-}" == clone ]]; then
    say "ODOO_SRC is unset and $ODOO_DEFAULT is empty: cloning upstream odoo 18.0 there (a few minutes)."
    mkdir -p "$PB_CACHE"
    git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git "$ODOO_DEFAULT" >&2 ||
      die "Could not clone Odoo 18.0. Set ODOO_SRC=/path/to/odoo-18.0 (a checkout of the 18.0 branch) and run again."
    echo "$ODOO_DEFAULT"; return
  fi
  die "No Odoo 18.0 source found. Set ODOO_SRC=/path/to/odoo-18.0 (odoo-bin, odoo/, addons/, requirements.txt), or put it at $ODOO_DEFAULT, or run ./dev.sh start once to clone it there."
}

ensure_system() {
  local missing=()
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  command -v pg_config >/dev/null || missing+=(libpq-dev)
  [[ -f /usr/include/ldap.h ]] || missing+=(libldap2-dev)
  [[ -f /usr/include/sasl/sasl.h ]] || missing+=(libsasl2-dev)
  command -v wkhtmltopdf >/dev/null || missing+=(wkhtmltopdf)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v pdftotext >/dev/null || missing+=(poppler-utils)
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  ((${#missing[@]})) || return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "Installing system packages: ${missing[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
      die "apt-get could not install: ${missing[*]}"
  else
    die "Missing system packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
}

ensure_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "PostgreSQL is down: starting it."
    local ver; ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    [[ -n "$ver" ]] || die "PostgreSQL is not installed: apt-get install postgresql"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || die "Could not start PostgreSQL $ver (pg_ctlcluster $ver main start)."
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  local me; me=$(id -un)
  if ! psql -h 127.0.0.1 -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    say "Creating PostgreSQL role $me."
    su postgres -c "createuser --createdb --superuser $me" >&2 || die "Create a PostgreSQL role for $me: sudo -u postgres createuser -s $me"
  fi
}

ensure_venv() { # $1 = odoo source
  local src=$1 stamp
  stamp=$(cat "$src/requirements.txt" "$REPO/requirements-dev.txt" | sha1sum | cut -c1-12)
  [[ -f "$VENV/.stamp-$stamp" ]] && return 0
  say "Preparing the virtualenv $VENV (Odoo requirements + dev tools, about a minute)."
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  local pip="$VENV/bin/pip --disable-pip-version-check -q"
  $pip install 'setuptools<70' wheel >&2
  # cbor2 5.4.2 (pinned for Python < 3.12) does not build here; 5.4.6 has wheels.
  sed -e 's/^cbor2==5\.4\.2/cbor2==5.4.6/' "$src/requirements.txt" > "$VENV/odoo-requirements.txt"
  $pip install --no-build-isolation -r "$VENV/odoo-requirements.txt" >&2
  $pip install -r "$REPO/requirements-dev.txt" >&2
  rm -f "$VENV"/.stamp-* && touch "$VENV/.stamp-$stamp"
}

# The tree's own odoo/addons comes first: in an upstream checkout addons/ and odoo/addons/ hold
# different modules, but a packaged tree (nightly, as on these machines) holds the apps in both,
# an older copy in addons/; listed first, it would win and Odoo's web client would mix versions.
addons_path() { # $1 = odoo source
  if [[ -d "$1/odoo/addons/account" && -d "$1/addons/account" ]]; then
    say "Odoo's apps are in both $1/odoo/addons and $1/addons: using those of odoo/addons (listed first)."
  fi
  echo "$1/odoo/addons,$1/addons"
}

write_config() { # $1 = odoo source; addons path holds a link named after the addon
  mkdir -p "$BUILD/addons"
  ln -sfn "$REPO" "$BUILD/addons/practice_billing"
  cat > "$BUILD/odoo.conf" <<CONF
[options]
addons_path = $(addons_path "$1"),$BUILD/addons
db_host = 127.0.0.1
db_port = 5432
db_user = $(id -un)
admin_passwd = admin
http_port = $PORT
data_dir = $BUILD/data
CONF
}

prepare() { # $1 = clone|noclone ; sets ODOO
  ensure_system
  ODOO=$(find_odoo "$1")
  ensure_postgres
  ensure_venv "$ODOO"
  write_config "$ODOO"
  export PYTHONPATH="$ODOO${PYTHONPATH:+:$PYTHONPATH}"
}

odoo_bin() { "$VENV/bin/python" "$ODOO/odoo-bin" -c "$BUILD/odoo.conf" "$@"; }

cmd_start() {
  prepare clone
  if ! psql -h 127.0.0.1 -d postgres -Atc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    say "Creating database $DB with Practice Billing and its demo practice (about a minute)."
    odoo_bin -d "$DB" -i practice_billing --stop-after-init --log-level=warn
  else
    say "Updating Practice Billing in the existing database $DB."
    odoo_bin -d "$DB" -u practice_billing --stop-after-init --log-level=warn
  fi
  say "Odoo runs on http://localhost:$PORT  (database $DB, login admin / password admin). Ctrl-C stops it."
  exec "$VENV/bin/python" "$ODOO/odoo-bin" -c "$BUILD/odoo.conf" -d "$DB" --db-filter="^$DB\$"
}

check_translations() { # $1 = database with the addon: the committed .pot must be current
  local pot="$BUILD/practice_billing-$$.pot" out
  say "Checking i18n/practice_billing.pot against the code."
  out=$(odoo_bin -d "$1" --i18n-export="$pot" --modules=practice_billing --http-port=0 2>&1) || { echo "$out"; die "Translation export failed."; }
  if grep -E " (WARNING|ERROR) " <<<"$out"; then die "The translation export logged problems (above)."; fi
  if ! diff -q <(grep -v '^"\(POT-Creation-Date\|PO-Revision-Date\|Project-Id-Version\)' "$REPO/i18n/practice_billing.pot") \
    <(grep -v '^"\(POT-Creation-Date\|PO-Revision-Date\|Project-Id-Version\)' "$pot") >/dev/null; then
    cp "$pot" "$REPO/i18n/practice_billing.pot.new"
    die "i18n/practice_billing.pot is out of date: review i18n/practice_billing.pot.new and move it over the .pot."
  fi
  rm -f "$pot"
}

cmd_test() {
  prepare noclone
  local db="pb_test_$$" log="$BUILD/install-$$.log" rc=0
  say "Lint: ruff and pylint-odoo."
  (cd "$REPO" && "$VENV/bin/ruff" format --check . && "$VENV/bin/ruff" check .) || die "ruff found problems (ruff format . / ruff check --fix .)."
  (cd "$REPO" && "$VENV/bin/pylint" --rcfile=.pylintrc --load-plugins=pylint_odoo $(git ls-files '*.py' | grep -v '^\(bench\|docs\)/')) ||
    die "pylint-odoo found problems (see above)."
  local bare="${db}_nodemo" bare_log="$BUILD/install-$$-nodemo.log"
  trap 'dropdb -h 127.0.0.1 --if-exists '"$db"' 2>/dev/null || true; dropdb -h 127.0.0.1 --if-exists '"$bare"' 2>/dev/null || true' EXIT
  say "Installing practice_billing with and without demo data (must log no WARNING or ERROR)."
  odoo_bin -d "$bare" -i practice_billing --without-demo=all --stop-after-init --http-port=0 > "$bare_log" 2>&1 &
  local bare_pid=$!
  odoo_bin -d "$db" -i practice_billing --stop-after-init --http-port=0 > "$log" 2>&1 || { tail -50 "$log"; die "Install failed."; }
  wait "$bare_pid" || { tail -50 "$bare_log"; die "Install without demo data failed."; }
  # Odoo's demo payment provider is the demo's choice, never the addon's.
  if psql -h 127.0.0.1 -d "$bare" -Atc "select 1 from ir_module_module where name = 'payment_demo' and state = 'installed'" | grep -q 1; then
    die "Installed without demo data, the addon installed payment_demo: only its demo data may."
  fi
  if grep -E " (WARNING|ERROR|CRITICAL) " "$log" "$bare_log"; then die "An install logged warnings or errors (above; logs: $log, $bare_log)."; fi
  dropdb -h 127.0.0.1 --if-exists "$bare"
  check_translations "$db"
  say "Running the suite (pytest-odoo, HttpCases in Chromium)."
  # Collect through the link named after the addon: pytest-odoo imports the tests as
  # odoo.addons.<folder name>, and a clone's folder may be called anything.
  "$VENV/bin/pytest" -p no:cacheprovider --odoo-config="$BUILD/odoo.conf" --odoo-database="$db" --odoo-http \
    --odoo-log-level=warn --rootdir="$BUILD/addons/practice_billing" "$BUILD/addons/practice_billing/tests" "$@" || rc=$?
  return $rc
}

# ./dev.sh test-odoo: Odoo's own tests of the modules and models the addon overrides, run in a
# database with the addon installed, so that an override that breaks Odoo shows up. Paths under
# Odoo's odoo/addons; the whole of calendar, portal and account_payment, and only the files of
# account, base and web that exercise an override: about 320 tests, 5 minutes here (install 1).
# All of account's tests (about 750 in 59 files) would add some 15 minutes at the pace measured.
ODOO_TESTS=(
  calendar/tests        # calendar.event write/unlink and calendar.recurrence unlink guards, res.partner
  portal/tests          # portal controllers and templates (/my home counters, tours), portal users
  account_payment/tests # paying invoices online: posting, portal payment pages
  account/tests/test_account_move_send.py        # account.move.send overrides, _get_mail_template
  account/tests/test_account_move_out_invoice.py # account.move._post / account.move.line on invoices
  account/tests/test_account_move_entry.py       # _post and button_draft (reset to draft)
  account/tests/test_portal_invoice.py           # the invoice portal and its PDF download
  account/tests/test_portal_attachment.py        # portal uploads on invoices
  account/tests/test_ir_actions_report.py        # invoice PDFs through ir.actions.report
  account/tests/test_download_docs.py            # several invoices' PDFs at once
  base/tests/test_reports.py # ir.actions.report: every report rendered, several records in one PDF
  web/tests/test_reports.py  # wkhtmltopdf fetches images with the printing user's session
)
# Tests of ODOO_TESTS that fail here WITHOUT the addon too (a database with only account,
# account_payment, calendar, portal, mail and contacts): deselected, each with why, so that the
# run is green exactly when the addon breaks nothing. Node ids relative to odoo/addons, e.g.
#   "account/tests/test_x.py::TestX::test_y" # why it fails without the addon
# None now. (base's TestAggregatePdfReports fails without the addon, as Debian's wkhtmltopdf takes
# one document per process, and passes with it: the addon prints several records as one document.
# pdfminer is not in Odoo's requirements: base's TestReportsRendering skips, as under odoo-bin.)
ODOO_TESTS_KNOWN_FAILURES=(
)

# A pytest plugin that runs Odoo's tests as Odoo's own runner does (odoo/tests/suite.py, loader.py):
# - marks the running test in odoo.modules.module.current_test: Odoo's code then sends no real
#   mail, account.move.send does not commit, and HttpCase checks which request opens its cursor;
# - runs only tests tagged "standard", as Odoo does unless --test-tags asks for more.
write_odoo_suite_plugin() { # $1 = folder to write odoo_test_suite.py into
  mkdir -p "$1"
  cat > "$1/odoo_test_suite.py" <<'PY'
import pytest
from odoo.modules import module


def pytest_collection_modifyitems(config, items):
    odd = [item for item in items if "standard" not in getattr(item.cls, "test_tags", {"standard"})]
    if odd:
        config.hook.pytest_deselected(items=odd)
        items[:] = [item for item in items if item not in odd]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item):
    module.current_test = getattr(item, "instance", None) or True
    try:
        return (yield)
    finally:
        module.current_test = False
PY
}

cmd_test_odoo() {
  prepare noclone
  local db="pb_odoo_test_$$" log="$BUILD/install-odoo-test-$$.log" plugins="$BUILD/pytest-plugins"
  local addons="$ODOO/odoo/addons" paths=() deselect=() test rc=0
  trap 'dropdb -h 127.0.0.1 --if-exists '"$db"' 2>/dev/null || true' EXIT
  # Without demo data: Odoo's tests make their own companies, users and partners
  # (AccountTestInvoicingCommon, *WithUserDemo); the addon's demo practice would only be in the way.
  say "Installing practice_billing without demo data into $db."
  odoo_bin -d "$db" -i practice_billing --without-demo=all --stop-after-init --http-port=0 > "$log" 2>&1 ||
    { tail -50 "$log"; die "Install failed (log: $log)."; }
  write_odoo_suite_plugin "$plugins"
  for test in "${ODOO_TESTS[@]}"; do paths+=("$addons/$test"); done
  for test in "${ODOO_TESTS_KNOWN_FAILURES[@]}"; do deselect+=(--deselect "$test"); done
  say "Running Odoo's own tests of what the addon overrides (pytest-odoo, HttpCases in Chromium)."
  # pytest-odoo, not odoo-bin --test-tags: Odoo runs at_install tests while it installs a module,
  # before the addon (which depends on it) is loaded, so they would never meet its overrides.
  # No warnings summary: Odoo's and its libraries' deprecations (./dev.sh test shows the addon's).
  PYTHONPATH="$plugins:$PYTHONPATH" "$VENV/bin/pytest" -p no:cacheprovider -p no:warnings -p odoo_test_suite \
    --odoo-config="$BUILD/odoo.conf" --odoo-database="$db" --odoo-http --odoo-log-level=warn \
    --rootdir="$addons" "${paths[@]}" "${deselect[@]}" "$@" || rc=$?
  return $rc
}

cmd_bench() { # ./dev.sh bench [N ...]: bench/monthly_run.py, each N in a fresh database
  prepare noclone
  local template="pb_bench_template" sizes=("$@")
  ((${#sizes[@]})) || sizes=(500 5000)
  dropdb -h 127.0.0.1 --if-exists "$template"
  say "Installing practice_billing (no demo) into $template."
  odoo_bin -d "$template" -i practice_billing --without-demo=all --stop-after-init --http-port=0 \
    --log-level=warn || die "Install failed."
  for n in "${sizes[@]}"; do
    local db="pb_bench_$n"
    dropdb -h 127.0.0.1 --if-exists "$db"
    createdb -h 127.0.0.1 -T "$template" "$db"
    "$VENV/bin/python" "$REPO/bench/monthly_run.py" --config "$BUILD/odoo.conf" --db "$db" -n "$n"
    dropdb -h 127.0.0.1 --if-exists "$db"
  done
}

cmd_bench_export() { # ./dev.sh bench-export [N]: bench/export_pdf.py with a server for the styles
  prepare noclone
  local n="${1:-200}" db="pb_bench_export" port=8079
  dropdb -h 127.0.0.1 --if-exists "$db"
  odoo_bin -d "$db" -i practice_billing --without-demo=all --stop-after-init --http-port=0 \
    --log-level=warn || die "Install failed."
  # Not through odoo_bin: $! must be Odoo itself for the trap to stop it.
  "$VENV/bin/python" "$ODOO/odoo-bin" -c "$BUILD/odoo.conf" -d "$db" --http-port="$port" \
    --db-filter="^$db\$" --max-cron-threads=0 --log-level=warn &
  local server=$!
  trap 'kill '"$server"' 2>/dev/null || true' EXIT
  for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$port/web/login" && break; sleep 1; done
  "$VENV/bin/python" "$REPO/bench/export_pdf.py" --config "$BUILD/odoo.conf" --db "$db" \
    --report-url "http://127.0.0.1:$port" -n "$n"
}

cmd_bench_autopay() { # ./dev.sh bench-autopay [N]: bench/autopay.py, AutoPay against Register Payment
  prepare noclone
  local n="${1:-500}" db="pb_bench_autopay"
  dropdb -h 127.0.0.1 --if-exists "$db"
  odoo_bin -d "$db" -i practice_billing,payment_demo --without-demo=all --stop-after-init \
    --http-port=0 --log-level=warn || die "Install failed."
  "$VENV/bin/python" "$REPO/bench/autopay.py" --config "$BUILD/odoo.conf" --db "$db" -n "$n"
  dropdb -h 127.0.0.1 --if-exists "$db"
}

cmd_bench_month() { # ./dev.sh bench-month [N]: bench/first_of_month.py, the 1st from run to inbox
  prepare noclone
  local n="${1:-1000}" db="pb_bench_month"
  dropdb -h 127.0.0.1 --if-exists "$db"
  odoo_bin -d "$db" -i practice_billing --without-demo=all --stop-after-init --http-port=0 \
    --log-level=warn || die "Install failed."
  # The script starts its own SMTP server and a prefork Odoo server (free ports) itself.
  "$VENV/bin/python" "$REPO/bench/first_of_month.py" --config "$BUILD/odoo.conf" --db "$db" -n "$n"
  dropdb -h 127.0.0.1 --if-exists "$db"
}

cmd_bench_portal() { # ./dev.sh bench-portal [N ...]: bench/portal_load.py, the portal under load (N = 20 50)
  prepare noclone
  local db="pb_bench_portal" bench_venv="$PB_CACHE/bench-venv" stamp
  stamp=$(sha1sum < "$REPO/bench/requirements-load.txt" | cut -c1-12)
  if [[ ! -f "$bench_venv/.stamp-$stamp" ]]; then
    say "Preparing the load generator's virtualenv $bench_venv (locust, apart from Odoo's)."
    [[ -x "$bench_venv/bin/python" ]] || python3 -m venv "$bench_venv"
    "$bench_venv/bin/pip" --disable-pip-version-check -q install -r "$REPO/bench/requirements-load.txt" >&2
    rm -f "$bench_venv"/.stamp-* && touch "$bench_venv/.stamp-$stamp"
  fi
  dropdb -h 127.0.0.1 --if-exists "$db"
  odoo_bin -d "$db" -i practice_billing --without-demo=all --stop-after-init --http-port=0 \
    --log-level=warn || die "Install failed."
  # The script starts Odoo itself (prefork, 2 workers, no cron), seeds 200 portal clients, runs locust.
  "$VENV/bin/python" "$REPO/bench/portal_load.py" --config "$BUILD/odoo.conf" --db "$db" \
    --odoo-bin "$ODOO/odoo-bin" --locust "$bench_venv/bin/locust" --port 8077 --gevent-port 8177 "$@"
  dropdb -h 127.0.0.1 --if-exists "$db"
}

cmd_screenshots() { # ./dev.sh screenshots [file.png ...]: docs/make_screenshots.py on a fresh demo
  prepare noclone
  local db="pb_screenshots" port=8078
  dropdb -h 127.0.0.1 --if-exists "$db"
  say "Installing the demo practice into $db."
  odoo_bin -d "$db" -i practice_billing --stop-after-init --http-port=0 --log-level=warn || die "Install failed."
  "$VENV/bin/python" "$ODOO/odoo-bin" -c "$BUILD/odoo.conf" -d "$db" --http-port="$port" \
    --db-filter="^$db\$" --max-cron-threads=0 --log-level=warn &
  local server=$!
  trap 'kill '"$server"' 2>/dev/null || true; sleep 1; dropdb -h 127.0.0.1 --if-exists '"$db"' 2>/dev/null || true' EXIT
  for _ in $(seq 60); do curl -s -o /dev/null "http://127.0.0.1:$port/web/login" && break; sleep 1; done
  "$VENV/bin/python" "$REPO/docs/make_screenshots.py" --config "$BUILD/odoo.conf" --db "$db" \
    --url "http://127.0.0.1:$port" ${1:+--only "$@"}
  if (($# == 0)); then
    "$VENV/bin/python" "$REPO/docs/make_pdf_pictures.py" --url "http://127.0.0.1:$port" --db "$db"
  fi
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  test) shift; cmd_test "$@" ;;
  test-odoo) shift; cmd_test_odoo "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  bench-export) shift; cmd_bench_export "$@" ;;
  bench-autopay) shift; cmd_bench_autopay "$@" ;;
  bench-month) shift; cmd_bench_month "$@" ;;
  bench-portal) shift; cmd_bench_portal "$@" ;;
  screenshots) shift; cmd_screenshots "$@" ;;
  *) echo "usage: ./dev.sh start | ./dev.sh test [pytest args] | ./dev.sh test-odoo [pytest args] | ./dev.sh bench [N ...] | ./dev.sh bench-export [N] | ./dev.sh bench-autopay [N] | ./dev.sh bench-month [N] | ./dev.sh bench-portal [N ...] | ./dev.sh screenshots [file.png ...]" >&2; exit 2 ;;
esac
