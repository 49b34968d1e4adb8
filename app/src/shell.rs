use crate::pages::{
    account::AccountPage,
    audit::AuditPage,
    console::ConsoleHome,
    console::ConsoleLayout,
    home::HomePage,
    one_time_link::{OneTimeLink, OneTimeLinkPage},
    organization::OrganizationPage,
    signin::SignInPage,
    sso::SsoWizardPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around the app. The page's scripts carry a fresh nonce that the
/// server's Content-Security-Policy names, so no other inline script can run.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::csp::provide_nonce_and_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
                // After the app, so hydration never meets it; CSS shows it at the top.
                <noscript>
                    <p class="banner banner-warning noscript-banner" id="needs-javascript">
                        "Gatehouse's forms need JavaScript: turn it on in your browser, then reload this page. The console's lists and the audit log can be read without it."
                    </p>
                </noscript>
            </body>
        </html>
    }
}

/// Where the built stylesheet is served; `Leptos.toml` must agree (a server test checks).
pub const STYLESHEET: &str = "/pkg/gatehouse.css";

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="gatehouse" href=STYLESHEET />
        <Title text="Gatehouse" />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="topbar">
                <a class="brand" href="/">"Gatehouse"</a>
            </header>

            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/signin") view=SignInPage />
                    <Route path=path!("/account") view=AccountPage />
                    <Route path=path!("/setup/:token")
                        view=|| view! { <OneTimeLinkPage link=OneTimeLink::FirstRun /> } />
                    <Route path=path!("/invite/:token")
                        view=|| view! { <OneTimeLinkPage link=OneTimeLink::Invite /> } />
                    <Route path=path!("/connect/:token")
                        view=|| view! { <OneTimeLinkPage link=OneTimeLink::SetupLink /> } />
                    // The console's reading pages load their data while rendering on the
                    // server, and answer once it is there: they work without JavaScript.
                    <ParentRoute path=path!("/console") view=ConsoleLayout ssr=SsrMode::Async>
                        <Route path=path!("") view=ConsoleHome ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id") view=OrganizationPage ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id/audit") view=AuditPage ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id/sso") view=SsoWizardPage ssr=SsrMode::Async />
                    </ParentRoute>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p>"This address does not lead anywhere in Gatehouse."</p>
            <p><a href="/">"Go to the start page"</a></p>
        </section>
    }
}
