import { registry } from "@web/core/registry";

// A client enrolls in AutoPay in Chromium: from the portal home to AutoPay, saves a card with
// Odoo's payment form (the demo provider's inline form stands in for the card processor),
// lands back with it chosen, authorizes, and reads that they are enrolled.
registry.category("web_tour.tours").add("practice_billing_autopay_enroll_tour", {
    steps: () => [
        {
            content: "Open AutoPay from the home page",
            trigger: ".o_portal_index_card a[href='/my/autopay']",
            run: "click",
        },
        { content: "Not enrolled yet", trigger: ".o_pb_autopay_status:contains('not enrolled')" },
        {
            content: "Type the test card in the demo provider's form",
            trigger: "#o_payment_form input[name='customer_input']",
            run: "edit 4242",
        },
        { content: "Save the card", trigger: "button[name='o_payment_submit_button']", run: "click" },
        {
            content: "Back on AutoPay, the card just saved is chosen",
            trigger: ".o_pb_autopay_enroll input[name='token_id']:checked",
        },
        { content: "Set a limit", trigger: "input[name='limit']", run: "edit 300" },
        { content: "Authorize", trigger: "input[name='authorize']", run: "check" },
        { content: "Enroll", trigger: ".o_pb_autopay_enroll button[type='submit']", run: "click" },
        {
            content: "Enrolled, with the card and the limit",
            trigger: ".o_pb_autopay_enrolled",
        },
        { trigger: ".o_pb_autopay_status:contains('4242'):contains('300.00')" },
    ],
});
