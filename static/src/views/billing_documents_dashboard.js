import { Component, onWillStart, onWillUpdateProps } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { formatMonetary } from "@web/views/fields/formatters";

/**
 * The strip above Billing Documents: what is waiting to be billed, what was invoiced this
 * month, what is past due and what has not reached the client. Each figure applies the list
 * filters that show the documents behind it (uninvoiced opens the sessions waiting for the
 * next billing run).
 */
export class BillingDocumentsDashboard extends Component {
    static template = "practice_billing.BillingDocumentsDashboard";
    static props = { list: Object };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        onWillStart(() => this.load());
        // The list gets a new root each time it reloads (search, Send, Mark as Delivered):
        // the figures follow; ticking rows keeps the root and costs no call.
        onWillUpdateProps((next) => next.list !== this.props.list && this.load());
    }

    async load() {
        this.figures = await this.orm.call("practice.billing.document", "retrieve_dashboard");
    }

    money(value) {
        return formatMonetary(value, { currencyId: this.figures.currency_id });
    }

    /** "1 session", "3 sessions"... translated. */
    count(number, kind) {
        const labels = {
            session: () => (number === 1 ? _t("1 session") : _t("%s sessions", number)),
            document: () => (number === 1 ? _t("1 document") : _t("%s documents", number)),
            invoice: () => (number === 1 ? _t("1 invoice") : _t("%s invoices", number)),
        };
        return labels[kind]();
    }

    openUninvoicedSessions() {
        return this.action.doAction("practice_billing.action_billing_sessions");
    }

    /** Replace the search with the named filters (and the date filter on a period). */
    applyFilters(filterNames, datePeriod = null) {
        const searchModel = this.env.searchModel;
        const items = searchModel.getSearchItems((item) => filterNames.includes(item.name));
        searchModel.query = [];
        for (const item of items) {
            if (item.type === "dateFilter") {
                searchModel.toggleDateFilter(item.id, datePeriod);
            } else {
                searchModel.toggleSearchItem(item.id);
            }
        }
    }
}
