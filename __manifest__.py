{
    "name": "Practice Billing",
    "summary": "Monthly billing for therapy and private practices: sessions from the calendar "
    "become one invoice per client, with superbills, statements and delivery.",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "author": "Practice Billing",
    "website": "https://github.com/practice-billing/practice_billing",
    "license": "LGPL-3",
    "depends": ["account", "calendar", "portal", "mail", "contacts"],
    "data": [
        "security/practice_billing_groups.xml",
        "security/ir.model.access.csv",
        "report/report_invoice.xml",
        "report/report_superbill.xml",
        "data/mail_template.xml",
        "data/ir_cron.xml",
        "data/ir_actions_server.xml",
        "wizards/practice_billing_generate_views.xml",
        "wizards/practice_billing_preview_views.xml",
        "views/practice_billing_run_views.xml",
        "views/account_move_views.xml",
        "views/practice_superbill_views.xml",
        "views/calendar_event_views.xml",
        "views/res_partner_views.xml",
        "views/res_users_views.xml",
        "views/res_config_settings_views.xml",
        "views/product_template_views.xml",
        "views/menus.xml",
    ],
    "demo": [
        "data/demo/practice_billing_demo.xml",
    ],
    "assets": {
        "web.report_assets_common": [
            "practice_billing/static/src/scss/report.scss",
        ],
        "web.assets_tests": [
            "practice_billing/static/src/tests/tours/*.js",
        ],
    },
    "application": True,
    "installable": True,
}
