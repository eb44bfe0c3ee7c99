import { registry } from "@web/core/registry";

// Press and release the mouse in the first day of the week at ``time``, as a receptionist
// clicking an empty slot does (FullCalendar listens to mousedown/mouseup, not click).
function clickSlot(time) {
    const slot = document.querySelector(`.fc-timegrid-slot-lane[data-time="${time}"]`);
    slot.scrollIntoView({ block: "center" });
    const day = document.querySelector(".fc-timegrid-col[data-date]");
    const x = day.getBoundingClientRect().left + day.offsetWidth / 2;
    const y = slot.getBoundingClientRect().top + slot.offsetHeight / 2;
    const target = document.elementFromPoint(x, y);
    for (const type of ["mousedown", "mouseup"]) {
        target.dispatchEvent(
            new MouseEvent(type, { bubbles: true, which: 1, button: 0, clientX: x, clientY: y })
        );
    }
}

// Front desk books a session from Billing > Schedule: the calendar's quick create asks for the
// client and the service, the fee comes from the service; only the practice's services are
// offered, in the quick create and in the session's form.
registry.category("web_tour.tours").add("practice_billing_receptionist_tour", {
    url: "/odoo/action-practice_billing.action_billing_schedule",
    steps: () => [
        {
            content: "The schedule opens on the calendar, every session shown",
            trigger: ".o_calendar_view:has(.fc-timegrid-slot-lane)",
        },
        {
            content: "Nothing filtered away",
            trigger: ".o_searchview:not(:has(.o_searchview_facet))",
        },
        {
            content: "Click an empty slot at 10:00",
            trigger: ".fc-timegrid-slot-lane[data-time='10:00:00']",
            run: () => clickSlot("10:00:00"),
        },
        {
            content: "The quick create asks for a session",
            trigger: ".modal .modal-title:contains('New Session')",
        },
        {
            content: "Choose the client",
            trigger: ".modal .o_field_widget[name=billing_client_id] input",
            run: "edit Tour Client",
        },
        {
            content: "Pick them",
            trigger: ".o-autocomplete--dropdown-item a:contains('Tour Client')",
            run: "click",
        },
        {
            content: "Look for a product that is not one of the practice's services",
            trigger: ".modal .o_field_widget[name=billing_product_id] input",
            run: "edit Furniture",
        },
        {
            content: "It is not offered",
            trigger:
                ".o-autocomplete--dropdown-menu:not(:has(a:contains('Furniture Assembly'))):not(:has(.o_loading))",
        },
        {
            content: "Choose the service",
            trigger: ".modal .o_field_widget[name=billing_product_id] input",
            run: "edit Psychotherapy",
        },
        {
            content: "Pick the 53-minute psychotherapy",
            trigger: ".o-autocomplete--dropdown-item a:contains('Psychotherapy, 53 min')",
            run: "click",
        },
        {
            content: "The fee comes from the service",
            trigger: ".modal .o_field_widget[name=billing_fee] input:value(150.00)",
        },
        {
            content: "Save the session",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The session is on the calendar",
            trigger: ".o_calendar_view:not(:has(.modal)) .fc-event:contains('Tour Client')",
            run: "click",
        },
        {
            content: "Its summary shows the fee",
            trigger: ".o_cw_popover .o_cw_popover_field:contains('150.00')",
        },
        {
            content: "Open the session",
            trigger: ".o_cw_popover .o_cw_popover_edit",
            run: "click",
        },
        {
            content: "The session's form shows the fee",
            trigger: ".modal .o_field_widget[name=billing_fee] input:value(150.00)",
        },
        {
            content: "Look for the other product in the session's form",
            trigger: ".modal .o_field_widget[name=billing_product_id] input",
            run: "edit Furniture",
        },
        {
            content: "It is not offered there either",
            trigger:
                ".o-autocomplete--dropdown-menu:not(:has(a:contains('Furniture Assembly'))):not(:has(.o_loading))",
        },
        {
            content: "Close the form without changing anything",
            trigger: ".modal .o_form_button_cancel",
            run: "click",
        },
        {
            content: "Back on the calendar",
            trigger: ".o_calendar_view:not(:has(.modal)) .fc-event:contains('Tour Client')",
        },
    ],
});
