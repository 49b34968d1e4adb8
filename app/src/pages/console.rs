use crate::api::{self, ApiFailure};
use crate::components::{field_error, ErrorBanner, Pager, TextField};
use crate::pages::short_time;
use crate::types::{AccountKind, CreateOrganizationRequest, Me};
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::{use_location, use_navigate};

/// The signed-in person, provided to every console page.
#[derive(Clone, Copy)]
pub struct CurrentUser(pub Signal<Option<Me>>);

/// Loads who is signed in (on the server too, so the first HTML is the page itself); sends
/// people who are not to the sign-in page, and members to their own page.
#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| api::me());
    let current = Signal::derive(move || me.get().and_then(Result::ok));
    provide_context(CurrentUser(current));
    let location = use_location();
    let navigate = use_navigate();
    let sign_out = Action::new_local(|_: &()| api::sign_out());
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_out.value().get() {
            navigate("/signin", Default::default());
        }
    });

    view! {
        <Transition fallback=|| view! { <p aria-busy="true">"Loading…"</p> }>
            {move || match me.get() {
                None => ().into_any(),
                // Members who signed in with their directory have their own page.
                Some(Ok(m)) if m.kind == AccountKind::Member => {
                    view! { <Redirect path="/account" /> }.into_any()
                }
                Some(Ok(m)) => view! {
                    <nav class="console-nav" aria-label="Console">
                        <span class="who">
                            {match m.email {
                                Some(email) => format!("{} ({email})", m.name),
                                None => m.name,
                            }}
                        </span>
                        <a href="/console">"Console"</a>
                        {(m.kind == AccountKind::Operator).then(|| view! {
                            <a href="/console/applications">"Applications"</a>
                        })}
                        <button type="button" on:click=move |_| { sign_out.dispatch(()); }>
                            "Sign out"
                        </button>
                    </nav>
                    <Outlet />
                }.into_any(),
                Some(Err(f)) if f.is_unauthorized() => {
                    let here = location.pathname.get_untracked();
                    view! {
                        <Redirect path=format!("/signin?return_to={}", api::encode_query(&here)) />
                    }.into_any()
                }
                Some(Err(f)) => view! {
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                }.into_any(),
            }}
        </Transition>
    }
}

/// Operators see every organization; an admin goes straight to their own.
#[component]
pub fn ConsoleHome() -> impl IntoView {
    let CurrentUser(me) = expect_context::<CurrentUser>();
    move || match me.get() {
        Some(Me {
            kind: AccountKind::Admin,
            organization: Some(org),
            ..
        }) => view! { <Redirect path=format!("/console/orgs/{}", org.id) /> }.into_any(),
        Some(Me {
            kind: AccountKind::Operator,
            ..
        }) => view! { <ExpiringCredentials /><OrganizationsPanel /> }.into_any(),
        _ => ().into_any(),
    }
}

/// Organizations whose single sign-on stops soon because a credential expires: the same
/// list the daily warnings are sent from.
#[component]
fn ExpiringCredentials() -> impl IntoView {
    let expiring = Resource::new(|| (), |_| api::list_expiring_credentials());
    view! {
        <section class="card" aria-labelledby="expiring-heading">
            <h2 id="expiring-heading">"Credentials expiring soon"</h2>
            <Transition fallback=|| view! { <p aria-busy="true">"Loading…"</p> }>
            {move || expiring.get().map(|result| match result {
                Err(f) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! {
                    <p>"No organization's single sign-on credential expires within 30 days."</p>
                }.into_any(),
                Ok(list) => view! {
                    <p class="banner banner-warning" role="alert">
                        {match list.len() {
                            1 => "1 credential expires within 30 days or has expired.".to_string(),
                            n => format!("{n} credentials expire within 30 days or have expired."),
                        }}
                    </p>
                    <table id="expiring-credentials">
                        <caption class="visually-hidden">"Credentials expiring soon"</caption>
                        <thead><tr>
                            <th scope="col">"Organization"</th>
                            <th scope="col">"Credential"</th>
                            <th scope="col">"Expires on"</th>
                            <th scope="col">"Days left"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|e| view! {
                                <tr>
                                    <td><a href=format!("/console/orgs/{}", e.organization_id)>{e.organization_name}</a></td>
                                    <td>{e.credential}</td>
                                    <td>{e.expires_on}</td>
                                    <td>{if e.days_left < 0 { "expired".to_string() } else { e.days_left.to_string() }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
            </Transition>
        </section>
    }
}

#[component]
fn OrganizationsPanel() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1_i64);
    let orgs = Resource::new(
        move || (search.get(), page.get()),
        |(q, p)| async move { api::list_organizations(&q, p).await },
    );

    let name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let created = RwSignal::new(None::<String>);
    // Suggest a slug from the name until the operator types their own.
    let slug_touched = RwSignal::new(false);
    let create = Action::new_local(|request: &CreateOrganizationRequest| {
        let request = request.clone();
        async move { api::create_organization(&request).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(org)) => {
            created.set(Some(format!("Organization “{}” created.", org.name)));
            slug_touched.set(false);
            name.set(String::new());
            slug.set(String::new());
            orgs.refetch();
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    Effect::new(move |_| {
        let n = name.get();
        if !slug_touched.get_untracked() {
            slug.set(suggest_slug(&n));
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        created.set(None);
        create.dispatch(CreateOrganizationRequest {
            name: name.get_untracked(),
            slug: slug.get_untracked(),
        });
    };

    view! {
        <section class="card">
            <h1>"Organizations"</h1>
            <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); page.set(1); }
                role="search">
                <label for="org-search">"Search organizations"</label>
                <input id="org-search" type="search" bind:value=search />
            </form>
            <Transition fallback=|| view! { <p aria-busy="true">"Loading organizations…"</p> }>
            {move || match orgs.get() {
                None => view! { <p aria-busy="true">"Loading organizations…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(list)) if list.items.is_empty() => view! {
                    <p>"No organizations yet."</p>
                }.into_any(),
                Some(Ok(list)) => {
                    let count = list.page_count();
                    view! {
                        <table>
                            <caption class="visually-hidden">"Organizations"</caption>
                            <thead><tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Slug"</th>
                                <th scope="col">"Members"</th>
                                <th scope="col">"Created"</th>
                            </tr></thead>
                            <tbody>
                                {list.items.into_iter().map(|org| view! {
                                    <tr>
                                        <td><a href=format!("/console/orgs/{}", org.id)>{org.name}</a></td>
                                        <td><code>{org.slug}</code></td>
                                        <td>{org.member_count}</td>
                                        <td>{short_time(&org.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <Pager page page_count=Signal::derive(move || count) />
                    }.into_any()
                }
            }}
            </Transition>
        </section>
        <section class="card">
            <h2>"Create an organization"</h2>
            <ErrorBanner failure />
            <p role="status">{move || created.get()}</p>
            <form on:submit=on_submit novalidate>
                <TextField id="name" label="Name" value=name error=field_error(failure, "name") />
                <div on:input=move |_| slug_touched.set(true)>
                    <TextField id="slug" label="Slug"
                        hint="3 to 40 characters: lowercase letters, digits and hyphens. Used in sign-in addresses."
                        value=slug error=field_error(failure, "slug") />
                </div>
                <button type="submit" disabled=move || create.pending().get()>"Create organization"</button>
            </form>
        </section>
    }
}

/// `Contoso Ltd.` → `contoso-ltd`.
pub fn suggest_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn slug_suggestions_are_valid_slugs() {
        assert_eq!(super::suggest_slug("Contoso Ltd."), "contoso-ltd");
        assert_eq!(super::suggest_slug("  Fabrikam  & Co "), "fabrikam-co");
    }
}
