"""odoo-bin for bench/first_of_month.py: Odoo's own command line, except its gevent process.

In prefork mode Odoo's master also runs ``<this script> gevent ...`` for websockets (the
bus). Where gevent cannot start (this project's virtualenv: gevent's plugins ask
pkg_resources for "zope.interface", which does not match zope.interface 8's
"zope_interface" metadata), the master restarts it in a loop, a process a second that
takes CPU from the workers being measured. The benchmark needs no websocket: that process
is an idle stand-in here. Everything else is odoo-bin.
"""

import os
import signal
import sys

if len(sys.argv) > 1 and sys.argv[1] == "gevent":
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
    while True:
        signal.pause()

# As odoo-bin: the server's timezone is UTC before the time module is imported.
os.environ["TZ"] = "UTC"
import odoo

odoo.cli.main()
