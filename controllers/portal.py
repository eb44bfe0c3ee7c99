import psycopg2

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

# The client's documents, by URL segment: model, which of them the portal shows, whether an
# access token may open one without a login, and how the list sorts.
DOCUMENTS = {
    "superbills": {
        "model": "practice.superbill",
        # Clinical: issued ones only (never a draft, a cancelled or a replaced one), and only
        # for a logged-in user allowed to read them.
        "domain": [("state", "=", "issued")],
        "tokens": False,
        "sortings": {
            "date": {"label": "Newest", "order": "date_start desc, id desc"},
            "oldest": {"label": "Oldest", "order": "date_start asc, id asc"},
        },
    },
    "statements": {
        "model": "practice.statement",
        "domain": [],
        "tokens": True,
        "sortings": {
            "date": {"label": "Newest", "order": "date desc, id desc"},
            "oldest": {"label": "Oldest", "order": "date asc, id asc"},
        },
    },
}


class PracticeBillingPortal(CustomerPortal):
    """Superbills and statements in the customer portal, beside Odoo's invoices."""

    def _prepare_home_portal_values(self, counters):
        """Override of `portal` to count the client's superbills and statements."""
        values = super()._prepare_home_portal_values(counters)
        for kind in DOCUMENTS:
            key = f"{kind[:-1]}_count"
            if key in counters:
                values[key] = self._billing_count(kind)
        return values

    def _billing_count(self, kind):
        """The client's documents of a kind (record rules keep them to their own)."""
        spec = DOCUMENTS[kind]
        Model = request.env[spec["model"]]
        return Model.search_count(spec["domain"]) if Model.has_access("read") else 0

    def _billing_list(self, kind, page, sortby, **extra_values):
        """The list page of a kind of document; ``extra_values`` go to the template."""
        spec = DOCUMENTS[kind]
        Model = request.env[spec["model"]]
        sortby = sortby if sortby in spec["sortings"] else "date"
        total = self._billing_count(kind)
        pager = portal_pager(
            url=f"/my/{kind}",
            url_args={"sortby": sortby},
            total=total,
            page=page,
            step=self._items_per_page,
        )
        documents = (
            Model.search(
                spec["domain"],
                order=spec["sortings"][sortby]["order"],
                limit=self._items_per_page,
                offset=pager["offset"],
            )
            if total
            else Model
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "documents": documents,
                "page_name": kind,
                "pager": pager,
                "default_url": f"/my/{kind}",
                "searchbar_sortings": spec["sortings"],
                "sortby": sortby,
                **extra_values,
            }
        )
        return request.render(f"practice_billing.portal_my_{kind}", values)

    def _billing_detail(self, kind, document_id, access_token, report_type, download):
        spec = DOCUMENTS[kind]
        access_token = access_token if spec["tokens"] else None
        try:
            document = self._document_check_access(spec["model"], document_id, access_token)
        except (AccessError, MissingError):
            # Another client's document: as if it did not exist.
            return request.not_found()
        if not document.filtered_domain(spec["domain"]):
            # Not for the portal (a cancelled or replaced superbill), even for staff.
            return request.not_found()
        if report_type in ("html", "pdf", "text"):
            return self._show_report(
                model=document,
                report_type=report_type,
                report_ref=document._billing_report,
                download=download,
            )
        values = self._get_page_view_values(
            document,
            access_token,
            {"document": document, "page_name": kind[:-1]},
            f"my_{kind}_history",
            False,
        )
        return request.render(f"practice_billing.portal_{kind[:-1]}_page", values)

    @http.route(
        ["/my/superbills", "/my/superbills/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_superbills(self, page=1, sortby=None, **kw):
        return self._billing_list("superbills", page, sortby)

    # auth="user": a logged-out visitor is sent to the login page and back here. Links sent
    # before superbills lost their tokens still carry one: it is ignored (see DOCUMENTS).
    @http.route(["/my/superbills/<int:document_id>"], type="http", auth="user", website=True)
    def portal_my_superbill(self, document_id, report_type=None, download=False, **kw):
        return self._billing_detail("superbills", document_id, None, report_type, download)

    @http.route(
        ["/my/superbills/request"], type="http", auth="user", methods=["POST"], website=True
    )
    def portal_request_superbill(self, date_from=None, date_to=None, **kw):
        """The client asks for a superbill of a period; staff check and issue it.

        A request the practice cannot take shows the page again with the reason (never
        text taken from the address, which anyone could write into a link)."""
        Superbill = request.env["practice.superbill"]
        if not Superbill.has_access("read"):
            return request.not_found()
        # Always for the requesting user's own client record: making the draft and the
        # staff to-do is the practice's work, hence sudo.
        client = request.env.user.partner_id.commercial_partner_id
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
            return request.redirect("/my/superbills?requested=1")
        return self._billing_list(
            "superbills",
            1,
            None,
            request_error=message,
            request_dates={"date_from": date_from, "date_to": date_to},
        )

    @http.route(
        ["/my/statements", "/my/statements/page/<int:page>"], type="http", auth="user", website=True
    )
    def portal_my_statements(self, page=1, sortby=None, **kw):
        return self._billing_list("statements", page, sortby)

    @http.route(["/my/statements/<int:document_id>"], type="http", auth="public", website=True)
    def portal_my_statement(
        self, document_id, access_token=None, report_type=None, download=False, **kw
    ):
        return self._billing_detail("statements", document_id, access_token, report_type, download)
