import { registry } from "@web/core/registry";
import { listView } from "@web/views/list/list_view";
import { ListRenderer } from "@web/views/list/list_renderer";
import { BillingDocumentsDashboard } from "./billing_documents_dashboard";

// Billing Documents: Odoo's list with the dashboard strip above it (as Purchase does).
export class BillingDocumentsListRenderer extends ListRenderer {
    static template = "practice_billing.BillingDocumentsListRenderer";
    static components = { ...ListRenderer.components, BillingDocumentsDashboard };
}

registry.category("views").add("practice_billing_documents_list", {
    ...listView,
    Renderer: BillingDocumentsListRenderer,
});
