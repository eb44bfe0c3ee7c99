import { registry } from "@web/core/registry";

const lastMonth = () => luxon.DateTime.now().minus({ months: 1 }).toFormat("MMMM");
const rows = (count) =>
    `.o_list_view:has(.o_data_row:nth-child(${count})):not(:has(.o_data_row:nth-child(${count + 1})))`;

// Staff read the dashboard strip and follow its figures to their filters, filter last
// month's superbills, tick two and export them as one PDF, then open what is uninvoiced.
registry.category("web_tour.tours").add("practice_billing_documents_tour", {
    url: "/odoo/action-practice_billing.action_billing_documents",
    steps: () => [
        {
            content: "Nothing waits to be invoiced",
            trigger: ".o_billing_dashboard_uninvoiced:contains('0 sessions')",
        },
        {
            content: "Six documents wait to be delivered by hand",
            trigger: ".o_billing_dashboard_not_delivered .o_billing_dashboard_value:contains('6')",
        },
        {
            content: "Two invoices of $300 this month: follow the figure",
            trigger: ".o_billing_dashboard_invoiced:contains('2 documents') .o_billing_dashboard_value:contains('600.00')",
            run: "click",
        },
        {
            content: "The list shows this month's invoices",
            trigger: `.o_searchview_facet:contains('Invoices') ~ .o_searchview_facet:contains('${luxon.DateTime.now().toFormat("MMMM")}')`,
        },
        { content: "Both invoices", trigger: `${rows(2)}:has(.o_data_row:contains('INV'))` },
        { content: "Follow Not delivered", trigger: ".o_billing_dashboard_not_delivered", run: "click" },
        {
            content: "Every document not yet delivered",
            trigger: ".o_searchview_facet:contains('To deliver manually'):not(:contains('Invoices'))",
        },
        { content: "All six", trigger: rows(6) },
        { content: "Follow Past due", trigger: ".o_billing_dashboard_past_due", run: "click" },
        {
            content: "Nothing is past due",
            trigger: ".o_searchview_facet:contains('Past due'):not(:contains('To deliver manually'))",
        },
        { content: "No rows", trigger: ".o_content:not(:has(.o_data_row))" },
        { content: "Clear the search", trigger: ".o_searchview_facet .o_facet_remove", run: "click" },
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
        // Ticks made before the list reloads for the date filter would be lost with its rows:
        // close the menu, wait for both filters' facets, then for the two rows.
        { content: "Close the filters", trigger: ".o_searchview_dropdown_toggler", run: "click" },
        {
            content: "Superbills of last month",
            trigger: `.o_searchview_facet:contains('Superbills') ~ .o_searchview_facet:contains('${lastMonth()}'), .o_searchview_facet:contains('${lastMonth()}') ~ .o_searchview_facet:contains('Superbills')`,
        },
        { content: "Two superbills are listed", trigger: rows(2) },
        { content: "Tick the first", trigger: ".o_data_row:nth-child(1) .o_list_record_selector input", run: "click" },
        { content: "Tick the second", trigger: ".o_data_row:nth-child(2) .o_list_record_selector input", run: "click" },
        { content: "Export them as one PDF", trigger: "button:contains('Export PDF')", run: "click" },
        {
            // Buttons stay disabled while the export runs; the download follows.
            content: "The export is done",
            trigger: "button:contains('Export PDF'):not([disabled])",
        },
        { content: "Follow Uninvoiced", trigger: ".o_billing_dashboard_uninvoiced", run: "click" },
        {
            content: "The sessions waiting for the next run",
            trigger: ".o_action:has(.o_breadcrumb .active:contains('Sessions')) .o_searchview_facet:contains('Uninvoiced')",
        },
    ],
});
