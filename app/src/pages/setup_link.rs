use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, TextField};
use crate::types::UseSetupLinkRequest;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

/// Where a setup link leads: the person creates their admin account for this one
/// organization and goes straight to the single sign-on wizard.
#[component]
pub fn SetupLinkPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let info = LocalResource::new(move || {
        let token = token();
        async move { api::setup_link(&token).await }
    });
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let navigate = use_navigate();
    let submit = Action::new_local(move |(token, request): &(String, UseSetupLinkRequest)| {
        let (token, request) = (token.clone(), request.clone());
        async move { api::use_setup_link(&token, &request).await }
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(me)) => {
            let org = me.organization.map(|o| o.id).unwrap_or_default();
            navigate(&format!("/console/orgs/{org}/sso"), Default::default());
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        submit.dispatch((
            token(),
            UseSetupLinkRequest {
                email: email.get_untracked(),
                name: name.get_untracked(),
                password: password.get_untracked(),
            },
        ));
    };
    view! {
        <section class="card narrow">
            <h1>"Set up single sign-on"</h1>
            <ErrorBanner failure />
            {move || match info.get() {
                None => view! { <p aria-busy="true">"Checking the link…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(info)) => view! {
                    <p>"This link sets up single sign-on for "<strong>{info.organization_name}</strong>
                        ". Create your admin account first; the setup wizard comes next."</p>
                    <form on:submit=on_submit novalidate>
                        <TextField id="email" label="Your work email" input_type="email" autocomplete="username"
                            value=email error=field_error(failure, "email") />
                        <TextField id="name" label="Your name" autocomplete="name"
                            value=name error=field_error(failure, "name") />
                        <TextField id="password" label="Password" input_type="password" autocomplete="new-password"
                            hint="At least 12 characters. You can always sign in with it, even when SSO is broken."
                            value=password error=field_error(failure, "password") />
                        <button type="submit" disabled=move || submit.pending().get()>"Create account and continue"</button>
                    </form>
                }.into_any(),
            }}
        </section>
    }
}
