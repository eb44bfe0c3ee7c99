import { registry } from "@web/core/registry";

// Staff open Billing > Sessions: the uninvoiced session is listed, its Billing tab explains it.
registry.category("web_tour.tours").add("practice_billing_sessions_tour", {
    url: "/odoo/action-practice_billing.action_billing_sessions",
    steps: () => [
        {
            content: "The list opens on uninvoiced sessions",
            trigger: ".o_searchview_facet:contains('Uninvoiced')",
        },
        {
            content: "The client's uninvoiced session is listed with its fee",
            trigger: ".o_data_row:has(td:contains('Tour Client')):has(td:contains('150.00'))",
        },
        {
            content: "Its time reads to the minute, without seconds",
            trigger: ".o_data_row:has(td:contains('Tour Client')) td[name=start]",
            run() {
                const text = this.anchor.textContent.trim();
                if (!/\d{2}:\d{2}$/.test(text) || /\d{2}:\d{2}:\d{2}$/.test(text)) {
                    throw new Error(`The session's time shows seconds: ${text}`);
                }
            },
        },
        {
            content: "The future session is not",
            trigger: ".o_list_view:not(:has(td:contains('Future Client')))",
        },
        {
            content: "Open the session",
            trigger: ".o_data_row td:contains('Tour Client')",
            run: "click",
        },
        {
            content: "Open its Billing tab",
            trigger: ".o_notebook a:contains('Billing')",
            run: "click",
        },
        {
            content: "It waits for the next billing run",
            trigger: ".o_field_widget[name=billing_state]:contains('Uninvoiced')",
        },
    ],
});
