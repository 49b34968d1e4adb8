use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::types::FirstRunRequest;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

/// Creates the first operator from the one-time link Gatehouse printed at its first start.
#[component]
pub fn FirstRunPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let status = LocalResource::new(move || {
        let token = token();
        async move { api::first_run_status(&token).await }
    });

    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let navigate = use_navigate();

    let submit = Action::new_local(move |request: &FirstRunRequest| {
        let request = request.clone();
        async move { api::complete_first_run(&request).await }
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => navigate("/console", Default::default()),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        submit.dispatch(FirstRunRequest {
            token: token(),
            email: email.get_untracked(),
            name: name.get_untracked(),
            password: password.get_untracked(),
        });
    };

    let form = move || {
        view! {
            <form on:submit=on_submit novalidate>
                <TextField id="email" label="Email" input_type="email" autocomplete="username"
                    value=email error=field_error(failure, "email") />
                <TextField id="name" label="Your name" autocomplete="name"
                    value=name error=field_error(failure, "name") />
                <TextField id="password" label="Password" input_type="password"
                    autocomplete="new-password" hint="At least 12 characters."
                    value=password error=field_error(failure, "password") />
                <button type="submit" disabled=move || submit.pending().get()>
                    "Create operator account"
                </button>
            </form>
        }
    };

    view! {
        <section class="card narrow">
            <h1>"Set up Gatehouse"</h1>
            <p>"Create the first operator account. Operators create organizations and invite their admins."</p>
            <ErrorBanner failure />
            {move || match status.get() {
                None => view! { <p aria-busy="true">"Checking the link…"</p> }.into_any(),
                Some(Ok(s)) if s.valid => form().into_any(),
                Some(Ok(_)) => view! {
                    <p class="banner banner-error" role="alert">
                        "This setup link has expired or was already used. Restart Gatehouse to print a new one."
                    </p>
                }.into_any(),
                Some(Err(f)) => view! {
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                }.into_any(),
            }}
        </section>
    }
}
