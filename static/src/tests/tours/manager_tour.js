import { registry } from "@web/core/registry";

// A practice manager opens Next Run, reads what the run will make, bills now after the
// confirmation, then generates statements with Generate Billing Documents: what it will
// make before, what it made after. Two clients with $300 of sessions each last month.
registry.category("web_tour.tours").add("practice_billing_manager_tour", {
    url: "/odoo/action-practice_billing.action_billing_runs",
    steps: () => [
        { content: "No run yet", trigger: ".o_view_nocontent" },
        {
            content: "Open Next Run",
            trigger: ".o_main_navbar [data-menu-xmlid='practice_billing.menu_billing_next_run']",
            run: "click",
        },
        {
            content: "Next Run has a proper title",
            trigger: ".o_form_view .oe_title h1:contains('Next Run: ')",
        },
        {
            content: "It will invoice two clients",
            trigger: ".o_field_widget[name=client_count]:contains('2')",
        },
        {
            content: "for $600",
            trigger: ".o_field_widget[name=amount_total]:contains('600.00')",
        },
        {
            content: "It says who receives them, by which method",
            trigger: ".o_billing_plan_section[data-kind=invoices]:contains('Jane Doe'):contains('Marcus Webb')",
        },
        { content: "Bill now", trigger: "button[name=action_confirm_bill_now]", run: "click" },
        {
            content: "The confirmation says how many clients and how much",
            trigger: ".modal .o_billing_bill_now_confirmation:contains('Bill 2 clients for'):contains('600.00')",
        },
        { content: "Confirm", trigger: ".modal-footer button[name=action_bill_now]", run: "click" },
        {
            content: "The run reads as its outcome",
            trigger: ".o_form_view .o_field_widget[name=state] :contains('Done'):not(:contains('failures'))",
        },
        {
            content: "It made two invoices",
            trigger: "button[name=action_view_invoices] .o_stat_value:contains('2')",
        },
        {
            content: "Open Generate Billing Documents",
            trigger: ".o_main_navbar [data-menu-xmlid='practice_billing.menu_billing_generate']",
            run: "click",
        },
        {
            content: "Invoices: nothing left to bill",
            trigger: ".modal .o_billing_plan_section[data-kind=invoices] .o_billing_plan_count:contains('0')",
        },
        { content: "No invoices", trigger: ".modal div[name=generate_invoices] input", run: "click" },
        { content: "Statements", trigger: ".modal div[name=generate_statements] input", run: "click" },
        {
            content: "Before: two statements, delivered by hand",
            trigger: ".modal .o_billing_plan_section[data-kind=statements]:has(.o_billing_plan_count:contains('2')):contains('By hand')",
        },
        {
            content: "Invoices are no longer in the summary",
            trigger: ".modal:not(:has(.o_billing_plan_section[data-kind=invoices]))",
        },
        { content: "Generate", trigger: ".modal-footer button[name=action_generate]", run: "click" },
        {
            content: "After: the run reports the statements it made",
            trigger: "body:not(:has(.modal)) button[name=action_view_statements] .o_stat_value:contains('2')",
        },
        {
            content: "and reads as done",
            trigger: ".o_form_view .o_field_widget[name=state] :contains('Done'):not(:contains('failures'))",
        },
    ],
});
