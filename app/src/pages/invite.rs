use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::types::AcceptInviteRequest;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

/// Where an invited admin sets a name and password.
#[component]
pub fn AcceptInvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let info = LocalResource::new(move || {
        let token = token();
        async move { api::invite(&token).await }
    });

    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let navigate = use_navigate();

    let submit = Action::new_local(move |(token, request): &(String, AcceptInviteRequest)| {
        let (token, request) = (token.clone(), request.clone());
        async move { api::accept_invite(&token, &request).await }
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => navigate("/console", Default::default()),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        submit.dispatch((
            token(),
            AcceptInviteRequest {
                name: name.get_untracked(),
                password: password.get_untracked(),
            },
        ));
    };

    view! {
        <section class="card narrow">
            <h1>"Accept your invitation"</h1>
            <ErrorBanner failure />
            {move || match info.get() {
                None => view! { <p aria-busy="true">"Checking the invitation…"</p> }.into_any(),
                Some(Ok(info)) => view! {
                    <p>
                        "You are invited to administer "<strong>{info.organization_name}</strong>
                        " as "<strong>{info.email}</strong>"."
                    </p>
                    <form on:submit=on_submit novalidate>
                        <TextField id="name" label="Your name" autocomplete="name"
                            value=name error=field_error(failure, "name") />
                        <TextField id="password" label="Password" input_type="password"
                            autocomplete="new-password" hint="At least 12 characters."
                            value=password error=field_error(failure, "password") />
                        <button type="submit" disabled=move || submit.pending().get()>
                            "Accept and sign in"
                        </button>
                    </form>
                }.into_any(),
                Some(Err(f)) => view! {
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                }.into_any(),
            }}
        </section>
    }
}
