import { registry } from "@web/core/registry";

const lastMonth = () => luxon.DateTime.now().minus({ months: 1 }).toFormat("MMMM");

// Staff: filter last month's superbills and tick two; Export PDF is offered.
registry.category("web_tour.tours").add("practice_billing_documents_tour", {
    url: "/odoo/action-practice_billing.action_billing_documents",
    steps: () => [
        { content: "Open the filters", trigger: ".o_searchview_dropdown_toggler", run: "click" },
        {
            content: "Superbills only",
            trigger: ".o_filter_menu .o_menu_item:contains('Superbills')",
            run: "click",
        },
        {
            content: "Open the date filter",
            trigger: ".o_filter_menu .o_menu_item:contains('Date')",
            run: "click",
        },
        {
            content: "Last month",
            trigger: `.o_filter_menu .o_item_option:contains('${lastMonth()}')`,
            run: "click",
        },
        {
            content: "Two superbills are listed",
            trigger: ".o_list_view:has(.o_data_row:nth-child(2)):not(:has(.o_data_row:nth-child(3)))",
        },
        { content: "Tick the first", trigger: ".o_data_row:nth-child(1) .o_list_record_selector input", run: "click" },
        { content: "Tick the second", trigger: ".o_data_row:nth-child(2) .o_list_record_selector input", run: "click" },
        // Clicking it renders in the same request as the test server's asset requests, which
        // deadlocks under HttpCase's test cursor; the export itself is tested server-side.
        { content: "Export PDF is offered for them", trigger: "button:contains('Export PDF')" },
    ],
});
