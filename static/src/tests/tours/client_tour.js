import { registry } from "@web/core/registry";

// A client's first visit: from the portal home to their statement (its lines and running
// balance), then to Superbills, where they request one and find it listed as Requested.
// The test passes the period to request and how the list shows it (?from=&to=&period=).
registry.category("web_tour.tours").add("practice_billing_client_tour", {
    // No url: the tour runs where the test starts it, /my with the test's parameters (a tour
    // url other than the start url makes Odoo redirect to it, dropping them).
    steps: () => [
        {
            content: "Remember the period to request (passed by the test)",
            trigger: "body",
            run: () => {
                const params = new URLSearchParams(window.location.search);
                for (const key of ["from", "to", "period"]) {
                    if (!params.get(key)) {
                        throw new Error(`The test passes the request's ${key} (?${key}=)`);
                    }
                    sessionStorage.setItem(`pb_request_${key}`, params.get(key));
                }
            },
        },
        {
            content: "Open Statements from the home page",
            trigger: ".o_portal_index_card a[href='/my/statements']:has(img)",
            run: "click",
        },
        {
            content: "Open the statement",
            trigger: ".o_portal_my_doc_table a[href^='/my/statements/']",
            run: "click",
        },
        {
            content: "The statement lists the invoice with its charge",
            trigger: ".o_pb_statement_lines tr:has(td:contains('Invoice')):has(td:contains('150.00'))",
        },
        {
            content: "The running balance ends at the balance due",
            trigger: ".o_pb_statement_lines tr:last-child td:last-child:contains('150.00')",
        },
        {
            content: "The aging is shown",
            trigger: ".o_pb_statement_aging td:contains('150.00')",
        },
        {
            content: "Back to the home page",
            trigger: ".o_portal_submenu a[href='/my/home']",
            run: "click",
        },
        {
            content: "Open Superbills",
            trigger: ".o_portal_index_card a[href='/my/superbills']:has(img)",
            run: "click",
        },
        {
            content: "Choose the first day",
            trigger: "form[action='/my/superbills/request'] input[name=date_from]",
            run: ({ anchor }) => {
                anchor.value = sessionStorage.getItem("pb_request_from");
            },
        },
        {
            content: "Choose the last day",
            trigger: "form[action='/my/superbills/request'] input[name=date_to]",
            run: ({ anchor }) => {
                anchor.value = sessionStorage.getItem("pb_request_to");
            },
        },
        {
            content: "Request the superbill",
            trigger: "form[action='/my/superbills/request'] button[type=submit]",
            run: "click",
        },
        {
            content: "The practice has the request",
            trigger: ".alert-success:contains('the practice will check your superbill')",
        },
        {
            content: "It is listed as Requested, with its period",
            trigger: "tr.o_pb_superbill_requested:has(.badge:contains('Requested'))",
            run: ({ anchor }) => {
                const period = sessionStorage.getItem("pb_request_period");
                if (!anchor.textContent.includes(period)) {
                    throw new Error(`The request does not show its period ${period}`);
                }
            },
        },
    ],
});
