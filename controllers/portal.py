import psycopg2
from werkzeug.urls import url_encode

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request
from odoo.osv import expression

from odoo.addons.account_payment.controllers.portal import PortalAccount
from odoo.addons.portal.controllers.portal import pager as portal_pager


class PracticeBillingPortal(PortalAccount):
    """Superbills and statements in the customer portal, beside Odoo's invoices.

    Extends account's portal (through account_payment's, the most derived the addon depends
    on), so its own overrides of account's methods (My Account's delivery menu) come after
    account's.

    Built like `account`'s invoices: each kind of document has its domain, sortings, list
    values and page values in methods an addon can override."""

    def _prepare_home_portal_values(self, counters):
        """Override of `portal` to count the client's superbills and statements."""
        values = super()._prepare_home_portal_values(counters)
        if "superbill_count" in counters:
            # What the list shows: issued superbills and the client's open requests.
            values["superbill_count"] = self._billing_count(
                "practice.superbill",
                expression.OR(
                    [self._prepare_superbills_domain(), self._prepare_superbill_requests_domain()]
                ),
            )
        if "statement_count" in counters:
            values["statement_count"] = self._billing_count(
                "practice.statement", self._prepare_statements_domain()
            )
        return values

    # ------------------------------------------------------------------ my account
    # How a client may choose to receive documents in "My Account": the practice's own
    # methods for clients. Staff decide the others (Manual, by Post).
    CLIENT_DELIVERY_METHODS = ("email", "portal")

    def _prepare_portal_layout_values(self):
        """Override of `account`: "Receive invoices" in My Account offers email and the
        client portal, the client's current method first (the form submits the first one
        when none matches: saving an address must never move a portal client to email), and
        keeps a method staff set (Manual) as it is. Also says whether the home page shows
        the Superbills tile to a client who has none yet (``billing_superbills_offered``)."""
        values = super()._prepare_portal_layout_values()
        values["billing_superbills_offered"] = self._billing_superbills_offered()
        if "invoice_sending_methods" not in values:
            return values
        client = self._billing_own_client()
        labels = dict(client._fields["invoice_sending_method"]._description_selection(request.env))
        current = client.billing_delivery_method
        offered = [current] + [m for m in self.CLIENT_DELIVERY_METHODS if m != current]
        values["invoice_sending_methods"] = {
            method: labels.get(method, method) for method in offered if method
        }
        return values

    def details_form_validate(self, data, partner_creation=False):
        """Override of `portal`: a client chooses among the methods offered; one only staff
        may set (Manual: a crafted form could opt out of reminder emails) is not saved, and
        the client's method stays as it is. (Not an error: the page the form returns to
        cannot show one, and the menu never offers it.)"""
        method = data.get("invoice_sending_method")
        offered = self._prepare_portal_layout_values().get("invoice_sending_methods", {})
        if method and method not in offered:
            data.pop("invoice_sending_method")
        return super().details_form_validate(data, partner_creation)

    def _billing_superbills_offered(self):
        """Whether the practice issues superbills to the logged-in client: its practice has
        superbills on and the client needs them. Such a client sees the Superbills tile
        (and the request form behind it) before their first superbill.

        It decides what the home page shows, not what anybody may read (record rules do,
        on the pages the tile leads to)."""
        if not request.env["practice.superbill"].has_access("read"):
            return False
        client = self._billing_own_client()
        practice = client.company_id or request.env.company
        return bool(practice.billing_auto_superbill and client.billing_needs_superbill)

    def _billing_own_client(self):
        """The logged-in user's own contact, to read staff's billing fields of it (delivery
        method, "needs superbills") that a portal user may not read: never another record,
        and what is read only shapes the user's own pages."""
        return request.env.user.partner_id.sudo()

    def _billing_tz_name(self, document):
        """The time zone of ``document``'s practice, in which portal pages show its times:
        the client's browser or account may be set to another zone (or none, UTC)."""
        return document.company_id.sudo()._billing_tz().zone

    def _billing_count(self, model_name, domain):
        """How many of the user's documents match ``domain`` (record rules keep them to
        their own); 0 for a user who may not read the model at all."""
        Model = request.env[model_name]
        return Model.search_count(domain) if Model.has_access("read") else 0

    def _billing_records_pager(self, document, session_history):
        """Previous and next of ``document`` among the ids its list page stored in the
        session, as their plain portal addresses. (Odoo's ``get_records_pager`` adds
        ``?access_token=`` to each, which a superbill must never carry.)"""
        history = request.session.get(session_history, [])
        if document.id not in history:
            return {}
        index = history.index(document.id)
        previous = document.browse(history[index - 1]) if index else None
        following = document.browse(history[index + 1]) if index + 1 < len(history) else None
        return {
            "prev_record": previous and previous.access_url,
            "next_record": following and following.access_url,
        }

    def _billing_list_values(self, model_name, kind, *, domain, sortings, page, sortby, url):
        """The values of a list of the client's documents (see _prepare_my_superbills_values):
        ``kind`` ("superbills") names the page and the documents' key."""
        values = self._prepare_portal_layout_values()
        Model = request.env[model_name]
        if sortby not in sortings:
            sortby = "date"
        order = sortings[sortby]["order"]
        total = self._billing_count(model_name, domain)
        if total and self._billing_lists_others(model_name, domain):
            # A payer's list is grouped by client (see _billing_client_groups): a client's
            # documents stay together from one page to the next.
            order = f"partner_id, {order}"
        values.update(
            {
                kind: lambda offset: (
                    Model.search(domain, order=order, limit=self._items_per_page, offset=offset)
                    if total
                    else Model
                ),
                "page_name": kind,
                "pager": {
                    "url": url,
                    "url_args": {"sortby": sortby},
                    "total": total,
                    "page": page,
                    "step": self._items_per_page,
                },
                "default_url": url,
                "searchbar_sortings": sortings,
                "sortby": sortby,
            }
        )
        return values

    def _billing_lists_others(self, model_name, domain):
        """Whether the user's documents matching ``domain`` include those of another
        client (one they pay for: record rules keep the list to those)."""
        others = expression.AND([domain, [("partner_id", "!=", request.env.user.partner_id.id)]])
        return bool(request.env[model_name].search_count(others, limit=1))

    def _billing_client_groups(self, *documents):
        """``documents`` (recordsets of one model the user may read) split by client, for
        a payer's lists: ``[(client name, [part of each recordset])]``, the user's own first,
        then the clients they pay for by name, each part in its recordset's order. One group
        without a name when all are the user's own (a client who pays for nobody else).

        The names are read with sudo: a portal user may not read the contact of a client
        they pay for (Odoo shares contacts within a commercial partner), and the records
        they name were read under the user's record rules."""
        me = request.env.user.partner_id
        clients = request.env["res.partner"].union(*(docs.partner_id for docs in documents))
        if not clients - me:
            return [(None, list(documents))]
        ordered = clients.sudo().sorted(lambda client: (client != me, client.name or ""))
        return [
            (
                client.name,
                [docs.filtered(lambda d, c=client: d.partner_id == c) for docs in documents],
            )
            for client in ordered
        ]

    def _billing_client_name(self, document):
        """The name of ``document``'s client, for a page the user was allowed to open
        (_document_check_access): None when it is the user's own."""
        client = document.partner_id
        return None if client == request.env.user.partner_id else client.sudo().name

    def _billing_render_list(self, kind, values, **extra_values):
        """Render a list page from its values: the page of documents the pager points at,
        which become the previous/next history of their own pages."""
        pager = portal_pager(**values["pager"])
        documents = values[kind](pager["offset"])
        request.session[f"my_{kind}_history"] = documents.ids[:100]
        values.update(
            {
                kind: documents,
                "pager": pager,
                "billing_client_groups": self._billing_client_groups,
                **extra_values,
            }
        )
        return request.render(f"practice_billing.portal_my_{kind}", values)

    def _billing_page_view_values(self, document, access_token, values, history, **kwargs):
        """Odoo's page values of a document (chatter, token), with previous/next as plain
        addresses from the list's ``history`` (Odoo's pager would make tokens for the
        neighbours under sudo, and fail on one deleted since the list was shown)."""
        values = self._get_page_view_values(document, access_token, values, None, False, **kwargs)
        values.update(self._billing_records_pager(document, history))
        return values

    # ------------------------------------------------------------------ superbills
    def _prepare_superbills_domain(self):
        """The superbills the portal shows, in lists and on their own page: issued ones
        only (never a draft, a cancelled or a replaced one). Record rules add the client's
        own. An override may narrow it; widening it shows clinical documents."""
        return [("state", "=", "issued")]

    def _prepare_superbill_requests_domain(self):
        """The client's requests the superbills list shows as "Requested", with their
        period, until staff issue them: drafts the client asked for in the portal (record
        rules add the client's own). Their pages and PDFs stay closed: see
        _prepare_superbills_domain."""
        return [("state", "=", "draft"), ("requested_by_client", "=", True)]

    def _get_superbills_searchbar_sortings(self):
        """The sortings of the superbills list: key -> label and order."""
        return {
            "date": {"label": request.env._("Newest"), "order": "date_start desc, id desc"},
            "oldest": {"label": request.env._("Oldest"), "order": "date_start asc, id asc"},
        }

    def _prepare_my_superbills_values(self, page, sortby, domain=None, url="/my/superbills"):
        """The values of the superbills list, as `account` prepares invoices: ``pager``
        holds the pager's arguments and ``superbills`` a function of the pager's offset,
        so the route decides the page. ``domain`` narrows the list further.
        ``superbill_requests`` are the client's open requests, shown above the list."""
        values = self._billing_list_values(
            "practice.superbill",
            "superbills",
            domain=expression.AND([domain or [], self._prepare_superbills_domain()]),
            sortings=self._get_superbills_searchbar_sortings(),
            page=page,
            sortby=sortby,
            url=url,
        )
        Superbill = request.env["practice.superbill"]
        requests_domain = expression.AND([domain or [], self._prepare_superbill_requests_domain()])
        values["superbill_requests"] = (
            Superbill.search(requests_domain, order="date_start desc, id desc")
            if Superbill.has_access("read")
            else Superbill
        )
        values["billing_tz_name"] = self._billing_tz_name
        values["superbill_request_clients"] = self._billing_superbill_request_clients()
        return values

    def _billing_superbill_request_clients(self):
        """Whom the logged-in user may ask a superbill for: themselves, then the clients they
        are the responsible party of (a parent for a child without a login), by name.

        Read with sudo from the user's own contact (who pays for whom is staff's data), as
        _billing_own_client: never another contact's list, and only the names of these
        clients reach the user's page."""
        me = self._billing_own_client()
        return me | me.billing_dependent_ids.sorted(lambda client: client.name or "")

    def _render_my_superbills(self, page, sortby, **extra_values):
        """The superbills list page; ``extra_values`` go to the template (the request
        form's error and dates)."""
        values = self._prepare_my_superbills_values(page, sortby)
        return self._billing_render_list("superbills", values, **extra_values)

    def _superbill_get_page_view_values(self, superbill, access_token, **kwargs):
        """The values of a superbill's page, with previous/next from the list's history.

        ``access_token`` and ``kwargs`` are ignored: a superbill opens for its logged-in
        client only, so no token, and no signed chatter link's ``pid``/``hash``, reaches
        the page. An override may add values."""
        values = {
            "superbill": superbill,
            "page_name": "superbill",
            "billing_client_name": self._billing_client_name(superbill),
        }
        return self._billing_page_view_values(superbill, None, values, "my_superbills_history")

    @http.route(
        ["/my/superbills", "/my/superbills/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_superbills(self, page=1, sortby=None, **kw):
        return self._render_my_superbills(page, sortby)

    # auth="user": a logged-out visitor is sent to the login page and back here. Links sent
    # before superbills lost their tokens still carry one: it is accepted and ignored.
    @http.route(["/my/superbills/<int:superbill_id>"], type="http", auth="user", website=True)
    def portal_my_superbill(
        self, superbill_id, access_token=None, report_type=None, download=False, **kw
    ):
        try:
            superbill_sudo = self._document_check_access("practice.superbill", superbill_id)
        except (AccessError, MissingError):
            # Another client's superbill: as if it did not exist.
            return request.not_found()
        if not superbill_sudo.filtered_domain(self._prepare_superbills_domain()):
            # Not for the portal (a cancelled or replaced superbill), even for staff.
            return request.not_found()
        if report_type in ("html", "pdf", "text"):
            return self._show_report(
                model=superbill_sudo,
                report_type=report_type,
                report_ref=superbill_sudo._billing_report,
                download=download,
            )
        values = self._superbill_get_page_view_values(superbill_sudo, None, **kw)
        return request.render("practice_billing.portal_superbill_page", values)

    @http.route(
        ["/my/superbills/request"], type="http", auth="user", methods=["POST"], website=True
    )
    def portal_request_superbill(self, date_from=None, date_to=None, client_id=None, **kw):
        """The client asks for a superbill of a period; staff check and issue it. A payer
        may ask for one of a client they pay for (``client_id``, chosen in the form).

        A request the practice cannot take shows the page again with the reason (never
        text taken from the address, which anyone could write into a link)."""
        Superbill = request.env["practice.superbill"]
        if not Superbill.has_access("read"):
            return request.not_found()
        # For the requesting user's own client record (the person, not the household
        # account they may be filed under: a superbill is one person's, see the portal
        # rule), or one of the clients they pay for, never anybody else: making the draft
        # and the staff to-do is the practice's work, hence sudo.
        client = self._billing_requested_client(client_id)
        if not client:
            return request.not_found()
        try:
            with request.env.cr.savepoint():
                Superbill.sudo()._request_from_portal(client, date_from, date_to)
        except UserError as error:
            message = error.args[0]
        except psycopg2.errors.UniqueViolation:
            # The same request sent twice at once (a double click): the database keeps one.
            message = request.env._(
                "Your request was already received: the practice will check your superbill "
                "and issue it."
            )
        else:
            return request.redirect(f"/my/superbills?{url_encode({'requested': 1})}")
        return self._render_my_superbills(
            1,
            None,
            request_error=message,
            request_dates={"date_from": date_from, "date_to": date_to, "client_id": client.id},
        )

    def _billing_requested_client(self, client_id):
        """The client a superbill request is for: the user's own contact without
        ``client_id``, else that client if the user may ask for them
        (_billing_superbill_request_clients); an empty record otherwise."""
        clients = self._billing_superbill_request_clients()
        if not client_id:
            return clients[:1]
        try:
            chosen = int(client_id)
        except (TypeError, ValueError):
            return clients.browse()
        return clients.filtered(lambda client: client.id == chosen)

    # ------------------------------------------------------------------ statements
    def _prepare_statements_domain(self):
        """The statements the portal shows, in lists and on their own page: all of the
        client's (record rules). An override may narrow it."""
        return []

    def _get_statements_searchbar_sortings(self):
        """The sortings of the statements list: key -> label and order."""
        return {
            "date": {"label": request.env._("Newest"), "order": "date desc, id desc"},
            "oldest": {"label": request.env._("Oldest"), "order": "date asc, id asc"},
        }

    def _prepare_my_statements_values(self, page, sortby, domain=None, url="/my/statements"):
        """The values of the statements list, as `_prepare_my_superbills_values`."""
        return self._billing_list_values(
            "practice.statement",
            "statements",
            domain=expression.AND([domain or [], self._prepare_statements_domain()]),
            sortings=self._get_statements_searchbar_sortings(),
            page=page,
            sortby=sortby,
            url=url,
        )

    def _statement_get_page_view_values(self, statement, access_token, **kwargs):
        """The values of a statement's page, with previous/next from the list's history
        (Odoo's: the neighbours' links carry their token, as invoices' do)."""
        values = {
            "statement": statement,
            "page_name": "statement",
            "billing_client_name": self._billing_client_name(statement),
        }
        return self._billing_page_view_values(
            statement, access_token, values, "my_statements_history", **kwargs
        )

    @http.route(
        ["/my/statements", "/my/statements/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_statements(self, page=1, sortby=None, **kw):
        values = self._prepare_my_statements_values(page, sortby)
        return self._billing_render_list("statements", values)

    # auth="public": a statement holds no clinical data, its emailed link opens it with its
    # access token.
    @http.route(["/my/statements/<int:statement_id>"], type="http", auth="public", website=True)
    def portal_my_statement(
        self, statement_id, access_token=None, report_type=None, download=False, **kw
    ):
        try:
            statement_sudo = self._document_check_access(
                "practice.statement", statement_id, access_token
            )
        except (AccessError, MissingError):
            # Another client's statement, or a wrong token: as if it did not exist.
            return request.not_found()
        if not statement_sudo.filtered_domain(self._prepare_statements_domain()):
            return request.not_found()
        if report_type in ("html", "pdf", "text"):
            return self._show_report(
                model=statement_sudo,
                report_type=report_type,
                report_ref=statement_sudo._billing_report,
                download=download,
            )
        values = self._statement_get_page_view_values(statement_sudo, access_token, **kw)
        return request.render("practice_billing.portal_statement_page", values)
