import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { calendarView } from "@web/views/calendar/calendar_view";
import { CalendarController } from "@web/views/calendar/calendar_controller";

// Billing > Sessions calendar: Odoo's calendar, whose quick create (a form of its own, see
// quick_create_view_id) shows the new session once it is saved, as Odoo's Calendar app does.
export class SessionCalendarController extends CalendarController {
    get editRecordDefaultDisplayText() {
        return _t("New Session");
    }

    getQuickCreateFormViewProps(record) {
        return {
            ...super.getQuickCreateFormViewProps(record),
            title: _t("New Session"),
            size: "md",
            onRecordSaved: () => this.model.load(),
        };
    }
}

registry.category("views").add("practice_billing_session_calendar", {
    ...calendarView,
    Controller: SessionCalendarController,
});
