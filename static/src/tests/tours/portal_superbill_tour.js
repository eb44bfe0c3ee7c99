import { registry } from "@web/core/registry";

// A client: open Superbills from the portal home, open one, download it, and find that
// another client's superbill does not exist for them.
registry.category("web_tour.tours").add("practice_billing_portal_tour", {
    // No url: the tour runs where the test starts it, /my with the test's parameters (a tour
    // url other than the start url makes Odoo redirect to it, dropping them).
    steps: () => [
        {
            content: "Remember the other client's superbill (passed by the test)",
            trigger: "body",
            run: () => {
                const other = new URLSearchParams(window.location.search).get("other");
                if (!other) {
                    throw new Error("The test passes the other client's superbill (?other=)");
                }
                sessionStorage.setItem("pb_other_superbill", other);
            },
        },
        { content: "Open Superbills", trigger: "a[href='/my/superbills']", run: "click" },
        { content: "Open the superbill", trigger: "a[href^='/my/superbills/']:not([href*='request'])", run: "click" },
        {
            content: "Download it",
            trigger: "a.o_pb_download[href*='report_type=pdf'][href*='download=true']",
            run: async ({ anchor }) => {
                const response = await fetch(anchor.getAttribute("href"));
                if (!response.ok || !response.headers.get("Content-Disposition").includes(".pdf")) {
                    throw new Error("The superbill did not download");
                }
            },
        },
        {
            content: "Another client's superbill does not exist for this client",
            trigger: "body",
            run: async () => {
                const other = sessionStorage.getItem("pb_other_superbill");
                for (const url of [`/my/superbills/${other}`, `/my/superbills/${other}?report_type=pdf&download=true`]) {
                    const response = await fetch(url);
                    if (response.status !== 404) {
                        throw new Error(`${url} answered ${response.status}`);
                    }
                }
            },
        },
    ],
});
