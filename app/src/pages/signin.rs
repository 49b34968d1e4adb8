use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::navigation::safe_return_to;
use crate::types::{SignInMethod, SignInMethodRequest, SignInRequest};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Leaves the app for a server address (the sign-in with a directory starts there).
fn open_server_page(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

/// Moves the keyboard focus to the element with this id once it has been rendered.
fn focus_soon(id: &'static str) {
    #[cfg(feature = "hydrate")]
    set_timeout(
        move || {
            use wasm_bindgen::JsCast;
            if let Some(element) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(id))
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = element.focus();
            }
        },
        std::time::Duration::ZERO,
    );
    #[cfg(not(feature = "hydrate"))]
    let _ = id;
}

/// Email first: an email whose organization signs in with its directory goes straight there;
/// any other email (operators, admins, password members) is asked for its password.
#[component]
pub fn SignInPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let asking_password = RwSignal::new(false);
    let redirecting = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let query = use_query_map();
    let navigate = use_navigate();
    let return_to = move || {
        query
            .read_untracked()
            .get("return_to")
            .and_then(|r| safe_return_to(&r).map(str::to_owned))
    };

    let method = Action::new_local(|request: &SignInMethodRequest| {
        let request = request.clone();
        async move { api::sign_in_method(&request).await }
    });
    Effect::new(move |_| match method.value().get() {
        Some(Ok(SignInMethod::Sso {
            organization_name,
            sso_url,
        })) => {
            redirecting.set(Some(organization_name));
            open_server_page(&sso_url);
        }
        Some(Ok(SignInMethod::Password)) => {
            asking_password.set(true);
            focus_soon("password");
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    let submit = Action::new_local(|request: &SignInRequest| {
        let request = request.clone();
        async move { api::sign_in(&request).await }
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => {
            let target = return_to().unwrap_or_else(|| "/console".to_owned());
            navigate(&target, Default::default());
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        if asking_password.get_untracked() {
            submit.dispatch(SignInRequest {
                email: email.get_untracked(),
                password: password.get_untracked(),
            });
        } else {
            method.dispatch(SignInMethodRequest {
                email: email.get_untracked(),
                return_to: return_to(),
            });
        }
    };
    let busy = move || {
        method.pending().get() || submit.pending().get() || redirecting.with(Option::is_some)
    };

    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <ErrorBanner failure />
            {move || redirecting.get().map(|org| view! {
                <p role="status" class="banner banner-ok">"Taking you to "{org}"'s sign-in page…"</p>
            })}
            <form on:submit=on_submit novalidate>
                <TextField
                    id="email"
                    label="Email"
                    input_type="email"
                    autocomplete="username"
                    value=email
                    error=field_error(failure, "email")
                />
                <Show when=move || asking_password.get()>
                    <TextField
                        id="password"
                        label="Password"
                        input_type="password"
                        autocomplete="current-password"
                        value=password
                        error=field_error(failure, "password")
                    />
                </Show>
                <button type="submit" class="primary" disabled=busy>
                    {move || match (asking_password.get(), busy()) {
                        (_, true) => "One moment…",
                        (true, false) => "Sign in",
                        (false, false) => "Continue",
                    }}
                </button>
            </form>
            <Show when=move || !asking_password.get()>
                <p class="hint">
                    "If your organization uses single sign-on, Continue takes you to its sign-in page. "
                    <button type="button" class="link" id="use-password"
                        on:click=move |_| {
                            asking_password.set(true);
                            focus_soon("password");
                        }>
                        "Sign in with a password instead"
                    </button>
                </p>
            </Show>
        </section>
    }
}
