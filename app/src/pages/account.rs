use crate::api;
use crate::types::{AccountKind, Me};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Where a member lands after signing in with their organization's directory: who they are,
/// which organization, and signing out (of Gatehouse, and of Microsoft if they wish).
#[component]
pub fn AccountPage() -> impl IntoView {
    let me = LocalResource::new(api::me);
    let navigate = use_navigate();
    let signed_out = RwSignal::new(None::<Option<String>>);
    let sign_out = Action::new_local(|_: &()| api::sign_out());
    Effect::new(move |_| {
        if let Some(Ok(out)) = sign_out.value().get() {
            signed_out.set(Some(out.directory_sign_out_url));
        }
    });
    Effect::new(move |_| {
        if let Some(Err(f)) = me.get() {
            if f.is_unauthorized() && signed_out.with_untracked(Option::is_none) {
                navigate("/signin?return_to=%2Faccount", Default::default());
            }
        }
    });

    view! {
        <section class="card narrow" aria-labelledby="account-heading">
            <h1 id="account-heading">"Your account"</h1>
            {move || match (signed_out.get(), me.get()) {
                (Some(directory), _) => view! {
                    <p role="status" class="banner banner-ok" id="signed-out">"You are signed out of Gatehouse."</p>
                    {directory.map(|url| view! {
                        <p>"You may still be signed in to Microsoft on this computer. "
                            <a id="directory-sign-out" href=url>"Sign out of Microsoft too"</a></p>
                    })}
                    <p><a href="/signin">"Sign in again"</a></p>
                }.into_any(),
                (None, Some(Ok(m))) => view! { <Who me=m /> <button type="button"
                    on:click=move |_| { sign_out.dispatch(()); }
                    disabled=move || sign_out.pending().get()>"Sign out"</button> }.into_any(),
                (None, Some(Err(f))) if !f.is_unauthorized() => view! {
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                }.into_any(),
                _ => view! { <p aria-busy="true">"Loading…"</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Who(me: Me) -> impl IntoView {
    let organization = me.organization.clone();
    view! {
        <dl class="summary">
            <dt>"Name"</dt><dd id="account-name">{me.name.clone()}</dd>
            <dt>"Email"</dt><dd id="account-email">{me.email.clone().unwrap_or_else(|| "none yet: your admin can set it".into())}</dd>
            <dt>"Organization"</dt><dd id="account-organization">{organization.map(|o| o.name).unwrap_or_default()}</dd>
        </dl>
        {(me.kind != AccountKind::Member).then(|| view! {
            <p><a class="button" href="/console">"Open the console"</a></p>
        })}
    }
}
