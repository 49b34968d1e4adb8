use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::navigation::safe_return_to;
use crate::types::SignInRequest;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn SignInPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let query = use_query_map();
    let navigate = use_navigate();

    let submit = Action::new_local(move |request: &SignInRequest| {
        let request = request.clone();
        async move { api::sign_in(&request).await }
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => {
            let target = query
                .read_untracked()
                .get("return_to")
                .and_then(|r| safe_return_to(&r).map(str::to_owned))
                .unwrap_or_else(|| "/console".to_owned());
            navigate(&target, Default::default());
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        submit.dispatch(SignInRequest {
            email: email.get_untracked(),
            password: password.get_untracked(),
        });
    };

    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <ErrorBanner failure />
            <form on:submit=on_submit novalidate>
                <TextField
                    id="email"
                    label="Email"
                    input_type="email"
                    autocomplete="username"
                    value=email
                    error=field_error(failure, "email")
                />
                <TextField
                    id="password"
                    label="Password"
                    input_type="password"
                    autocomplete="current-password"
                    value=password
                    error=field_error(failure, "password")
                />
                <button type="submit" disabled=move || submit.pending().get()>
                    {move || if submit.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </section>
    }
}
