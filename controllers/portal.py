from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

# The client's documents, by URL segment: model and how the list sorts.
DOCUMENTS = {
    "superbills": {
        "model": "practice.superbill",
        "sortings": {
            "date": {"label": "Newest", "order": "date_start desc, id desc"},
            "oldest": {"label": "Oldest", "order": "date_start asc, id asc"},
        },
    },
    "statements": {
        "model": "practice.statement",
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
        for kind, spec in DOCUMENTS.items():
            key = f"{kind[:-1]}_count"
            if key in counters:
                values[key] = self._billing_count(request.env[spec["model"]])
        return values

    def _billing_count(self, Model):
        """The client's documents of a kind (record rules keep them to their own)."""
        return Model.search_count([]) if Model.has_access("read") else 0

    def _billing_list(self, kind, page, sortby):
        spec = DOCUMENTS[kind]
        Model = request.env[spec["model"]]
        sortby = sortby if sortby in spec["sortings"] else "date"
        total = self._billing_count(Model)
        pager = portal_pager(
            url=f"/my/{kind}",
            url_args={"sortby": sortby},
            total=total,
            page=page,
            step=self._items_per_page,
        )
        documents = (
            Model.search(
                [],
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
            }
        )
        return request.render(f"practice_billing.portal_my_{kind}", values)

    def _billing_detail(self, kind, document_id, access_token, report_type, download):
        spec = DOCUMENTS[kind]
        try:
            document = self._document_check_access(spec["model"], document_id, access_token)
        except (AccessError, MissingError):
            # Another client's document: as if it did not exist.
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

    @http.route(["/my/superbills/<int:document_id>"], type="http", auth="public", website=True)
    def portal_my_superbill(
        self, document_id, access_token=None, report_type=None, download=False, **kw
    ):
        return self._billing_detail("superbills", document_id, access_token, report_type, download)

    @http.route(
        ["/my/superbills/request"], type="http", auth="user", methods=["POST"], website=True
    )
    def portal_request_superbill(self, date_from=None, date_to=None, **kw):
        """The client asks for a superbill of a period; staff check and issue it."""
        partner = request.env.user.partner_id
        try:
            request.env["practice.superbill"].sudo()._request_from_portal(
                partner, date_from, date_to
            )
        except UserError as error:
            return request.redirect(f"/my/superbills?request_error={error.args[0]}")
        return request.redirect("/my/superbills?requested=1")

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
