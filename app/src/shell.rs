use crate::pages::{
    account::AccountPage,
    applications::{ApplicationPage, ApplicationsPage},
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
    lazy_route, path, Lazy, LazyRoute, SsrMode,
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
                    <Route path=path!("/signin") view={Lazy::<SignInRoute>::new()} />
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} />
                    <Route path=path!("/setup/:token") view={Lazy::<FirstRunRoute>::new()} />
                    <Route path=path!("/invite/:token") view={Lazy::<InviteRoute>::new()} />
                    <Route path=path!("/connect/:token") view={Lazy::<SetupLinkRoute>::new()} />
                    // The console's reading pages load their data while rendering on the
                    // server, and answer once it is there: they work without JavaScript.
                    <ParentRoute path=path!("/console") view=ConsoleLayout ssr=SsrMode::Async>
                        <Route path=path!("") view={Lazy::<ConsoleHomeRoute>::new()}
                            ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id") view={Lazy::<OrganizationRoute>::new()}
                            ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id/audit") view={Lazy::<AuditRoute>::new()}
                            ssr=SsrMode::Async />
                        <Route path=path!("orgs/:id/sso") view={Lazy::<SsoWizardRoute>::new()}
                            ssr=SsrMode::Async />
                        <Route path=path!("applications") view={Lazy::<ApplicationsRoute>::new()}
                            ssr=SsrMode::Async />
                        <Route path=path!("applications/:id") view={Lazy::<ApplicationRoute>::new()}
                            ssr=SsrMode::Async />
                    </ParentRoute>
                </Routes>
            </main>
        </Router>
    }
}

/// A page whose code the browser loads only when that page is shown (a WebAssembly module of
/// its own, split off by `cargo leptos build --split`): nobody downloads the operators' pages
/// to sign in or to run the wizard.
macro_rules! lazy_page {
    ($route:ident, $page:expr) => {
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page.into_any()
            }
        }
    };
}

lazy_page!(SignInRoute, view! { <SignInPage /> });
lazy_page!(AccountRoute, view! { <AccountPage /> });
lazy_page!(
    FirstRunRoute,
    view! { <OneTimeLinkPage link=OneTimeLink::FirstRun /> }
);
lazy_page!(
    InviteRoute,
    view! { <OneTimeLinkPage link=OneTimeLink::Invite /> }
);
lazy_page!(
    SetupLinkRoute,
    view! { <OneTimeLinkPage link=OneTimeLink::SetupLink /> }
);
lazy_page!(ConsoleHomeRoute, view! { <ConsoleHome /> });
lazy_page!(OrganizationRoute, view! { <OrganizationPage /> });
lazy_page!(AuditRoute, view! { <AuditPage /> });
lazy_page!(SsoWizardRoute, view! { <SsoWizardPage /> });
lazy_page!(ApplicationsRoute, view! { <ApplicationsPage /> });
lazy_page!(ApplicationRoute, view! { <ApplicationPage /> });

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
