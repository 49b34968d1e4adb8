//! The vendor's applications that sign people in through Gatehouse (operators only): the list
//! with the form that registers one, and each application's page with what its developers
//! configure (discovery URL, client ID, a client secret shown once) and its settings.

use crate::api::{self, ApiFailure};
use crate::components::{field_error, CopyValue, ErrorBanner, TextField};
use crate::pages::short_time;
use crate::types::{Application, ApplicationInput, OrganizationName, DEFAULT_REFRESH_HOURS};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// One URI per line, as typed.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A labelled box of URIs, one per line, with its error announced.
#[component]
fn UriList(
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described_by = format!("{hint_id} {error_id}");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <p class="hint" id=hint_id>{hint}</p>
            <textarea id=id name=id rows="3" spellcheck="false"
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=described_by
                bind:value=value></textarea>
            <p class="field-error" id=error_id role="alert">{move || error.get()}</p>
        </div>
    }
}

/// The settings form's fields, shared by registering and editing.
#[derive(Clone, Copy)]
struct SettingsForm {
    name: RwSignal<String>,
    kind: RwSignal<String>,
    redirect_uris: RwSignal<String>,
    post_logout_redirect_uris: RwSignal<String>,
    backchannel_logout_uri: RwSignal<String>,
    allow_password_sessions: RwSignal<bool>,
    signing_alg: RwSignal<String>,
    /// Every organization may use it, or only `chosen`.
    every_organization: RwSignal<bool>,
    chosen: RwSignal<Vec<OrganizationName>>,
    /// Hours, as typed: the server says when it is out of bounds (or not a number).
    refresh_hours: RwSignal<String>,
}

impl SettingsForm {
    fn new() -> Self {
        SettingsForm {
            name: RwSignal::new(String::new()),
            kind: RwSignal::new("confidential".into()),
            redirect_uris: RwSignal::new(String::new()),
            post_logout_redirect_uris: RwSignal::new(String::new()),
            backchannel_logout_uri: RwSignal::new(String::new()),
            allow_password_sessions: RwSignal::new(false),
            signing_alg: RwSignal::new("ES256".into()),
            every_organization: RwSignal::new(true),
            chosen: RwSignal::new(Vec::new()),
            refresh_hours: RwSignal::new(DEFAULT_REFRESH_HOURS.to_string()),
        }
    }

    fn fill(&self, application: &Application) {
        self.name.set(application.name.clone());
        self.kind.set(application.kind.clone());
        self.redirect_uris.set(application.redirect_uris.join("\n"));
        self.post_logout_redirect_uris
            .set(application.post_logout_redirect_uris.join("\n"));
        self.backchannel_logout_uri.set(
            application
                .backchannel_logout_uri
                .clone()
                .unwrap_or_default(),
        );
        self.allow_password_sessions
            .set(application.allow_password_sessions);
        self.signing_alg.set(application.signing_alg.clone());
        self.every_organization
            .set(application.organizations.is_none());
        self.chosen
            .set(application.organizations.clone().unwrap_or_default());
        self.refresh_hours
            .set(application.refresh_token_lifetime_hours.to_string());
    }

    fn input(&self) -> ApplicationInput {
        let backchannel = self.backchannel_logout_uri.get_untracked();
        ApplicationInput {
            name: self.name.get_untracked(),
            kind: self.kind.get_untracked(),
            redirect_uris: lines(&self.redirect_uris.get_untracked()),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris.get_untracked()),
            backchannel_logout_uri: Some(backchannel.trim().to_string()).filter(|u| !u.is_empty()),
            organization_ids: (!self.every_organization.get_untracked()).then(|| {
                self.chosen
                    .get_untracked()
                    .into_iter()
                    .map(|o| o.id)
                    .collect()
            }),
            allow_password_sessions: self.allow_password_sessions.get_untracked(),
            // Not a number: 0, which the server refuses with the field's own message.
            refresh_token_lifetime_hours: Some(
                self.refresh_hours
                    .get_untracked()
                    .trim()
                    .parse()
                    .unwrap_or(0),
            ),
            signing_alg: Some(self.signing_alg.get_untracked()),
        }
    }
}

/// The form's fields; the caller adds the submit button.
#[component]
fn SettingsFields(form: SettingsForm, failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    view! {
        <TextField id="name" label="Name" value=form.name error=field_error(failure, "name") />
        <div class="field">
            <label for="kind">"Kind"</label>
            <p class="hint" id="kind-hint">"Confidential: a server that keeps a client secret. Public: a native or single-page app, which proves itself with PKCE instead."</p>
            <select id="kind" aria-describedby="kind-hint" bind:value=form.kind>
                <option value="confidential">"Confidential (web server)"</option>
                <option value="public">"Public (native or single-page app)"</option>
            </select>
            <p class="field-error" id="kind-error" role="alert">{move || field_error(failure, "kind").get()}</p>
        </div>
        <UriList id="redirect_uris" label="Redirect URIs"
            hint="One per line, each matched exactly. https, or http only on 127.0.0.1, [::1] or localhost."
            value=form.redirect_uris error=field_error(failure, "redirect_uris") />
        <UriList id="post_logout_redirect_uris" label="Post-logout redirect URIs"
            hint="Where the application may send people after signing them out. Optional."
            value=form.post_logout_redirect_uris error=field_error(failure, "post_logout_redirect_uris") />
        <TextField id="backchannel_logout_uri" label="Back-channel logout URI"
            hint="Gatehouse posts a logout token here when a person's session ends. Optional."
            required=false value=form.backchannel_logout_uri
            error=field_error(failure, "backchannel_logout_uri") />
        <div class="field">
            <label for="signing_alg">"ID token signature"</label>
            <select id="signing_alg" bind:value=form.signing_alg>
                <option value="ES256">"ES256 (recommended)"</option>
                <option value="RS256">"RS256 (for libraries that know only RSA)"</option>
            </select>
            <p class="field-error" id="signing_alg-error" role="alert">{move || field_error(failure, "signing_alg").get()}</p>
        </div>
        <TextField id="refresh_token_lifetime_hours" label="Refresh tokens work for (hours)"
            input_type="number"
            hint="720 hours is 30 days. Never longer than the person's Gatehouse session: when it ends, so do the application's refresh tokens."
            value=form.refresh_hours error=field_error(failure, "refresh_token_lifetime_hours") />
        <OrganizationsChoice form failure />
        <div class="field checkbox">
            <input id="allow_password_sessions" type="checkbox" bind:checked=form.allow_password_sessions />
            <label for="allow_password_sessions">"Also people signed in with a password (operators, break-glass admins)"</label>
        </div>
    }
}

/// Which organizations' people may use the application: every one, or those chosen here
/// (found by name or slug).
#[component]
fn OrganizationsChoice(form: SettingsForm, failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let found = Resource::new(
        move || search.get(),
        |q| async move {
            if q.trim().is_empty() {
                Ok(Vec::new())
            } else {
                api::list_organizations(q.trim(), 1).await.map(|p| p.items)
            }
        },
    );
    let add = move |org: OrganizationName| {
        form.chosen.update(|chosen| {
            if !chosen.iter().any(|o| o.id == org.id) {
                chosen.push(org);
            }
        })
    };
    view! {
        <fieldset>
            <legend>"Organizations"</legend>
            <div class="field checkbox">
                <input id="every_organization" type="checkbox" bind:checked=form.every_organization />
                <label for="every_organization">"Every organization's people may use it"</label>
            </div>
            <p class="field-error" id="organization_ids-error" role="alert">
                {move || field_error(failure, "organization_ids").get()}
            </p>
            <Show when=move || !form.every_organization.get()>
                <ul id="chosen-organizations" aria-label="Organizations that may use it">
                    {move || form.chosen.get().into_iter().map(|o| {
                        let id = o.id.clone();
                        view! {
                            <li>
                                {o.name.clone()}" "
                                <button type="button" aria-label=format!("Remove {}", o.name)
                                    on:click=move |_| form.chosen.update(|c| c.retain(|x| x.id != id))>
                                    "Remove"
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <label for="organization-search">"Add an organization"</label>
                <input id="organization-search" type="search" autocomplete="off" bind:value=search />
                <Transition fallback=|| ()>
                    {move || found.get().and_then(Result::ok).map(|orgs| view! {
                        <ul class="search-results" aria-live="polite">
                            {orgs.into_iter().take(8).map(|o| {
                                let choice = OrganizationName { id: o.id.clone(), name: o.name.clone() };
                                view! {
                                    <li>
                                        <button type="button" aria-label=format!("Add {}", o.name)
                                            on:click=move |_| add(choice.clone())>
                                            {format!("Add {} ({})", o.name, o.slug)}
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    })}
                </Transition>
            </Show>
        </fieldset>
    }
}

/// Every application, and the form that registers one.
#[component]
pub fn ApplicationsPage() -> impl IntoView {
    let applications = Resource::new(|| (), |_| api::list_applications());
    let form = SettingsForm::new();
    let failure = RwSignal::new(None::<ApiFailure>);
    let create = Action::new_local(|input: &ApplicationInput| {
        let input = input.clone();
        async move { api::create_application(&input).await }
    });
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => navigate(
            &format!("/console/applications/{}", created.id),
            Default::default(),
        ),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        create.dispatch(form.input());
    };
    view! {
        <section class="card">
            <h1>"Applications"</h1>
            <p>"The vendor's own applications sign people in through Gatehouse with any OpenID Connect library: Gatehouse finds the person's organization, signs them in with its directory, and tells the application who they are, in which organization and with which role."</p>
            <Transition fallback=|| view! { <p aria-busy="true">"Loading applications…"</p> }>
            {move || match applications.get() {
                None => view! { <p aria-busy="true">"Loading applications…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p>"No applications yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table>
                        <caption class="visually-hidden">"Applications"</caption>
                        <thead><tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Client ID"</th>
                            <th scope="col">"Registered"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|a| view! {
                                <tr>
                                    <td><a href=format!("/console/applications/{}", a.id)>{a.name}</a></td>
                                    <td>{a.kind}</td>
                                    <td><code>{a.id}</code></td>
                                    <td>{short_time(&a.created_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            </Transition>
        </section>
        <section class="card">
            <h2>"Register an application"</h2>
            <ErrorBanner failure />
            <form on:submit=on_submit novalidate>
                <SettingsFields form failure />
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    "Register application"
                </button>
            </form>
        </section>
    }
}

/// One application: what its developers configure it with, its client secrets, its settings.
#[component]
pub fn ApplicationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let application = Resource::new(
        move || id.get(),
        |id| async move { api::application(&id).await },
    );
    view! {
        <Transition fallback=|| view! { <p aria-busy="true">"Loading the application…"</p> }>
        {move || match application.get() {
            None => view! { <p aria-busy="true">"Loading the application…"</p> }.into_any(),
            Some(Err(f)) => view! {
                <section class="card">
                    <h1>"Application"</h1>
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                </section>
            }.into_any(),
            Some(Ok(a)) => view! { <ApplicationDetails application=a /> }.into_any(),
        }}
        </Transition>
    }
}

#[component]
fn ApplicationDetails(application: Application) -> impl IntoView {
    let id = StoredValue::new(application.id.clone());
    let form = SettingsForm::new();
    form.fill(&application);
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let save = Action::new_local(move |input: &ApplicationInput| {
        let (id, input) = (id.get_value(), input.clone());
        async move { api::update_application(&id, &input).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => saved.set(Some("Settings saved.".into())),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        saved.set(None);
        save.dispatch(form.input());
    };
    let secret_failure = RwSignal::new(None::<ApiFailure>);
    let create_secret = Action::new_local(move |_: &()| {
        let id = id.get_value();
        async move { api::create_application_secret(&id).await }
    });
    let revoke = Action::new_local(move |secret_id: &String| {
        let (id, secret_id) = (id.get_value(), secret_id.clone());
        async move { api::revoke_application_secret(&id, &secret_id).await }
    });
    // The secrets' list is read again after each change; the new secret stays on screen.
    let secrets = RwSignal::new(application.secrets.clone());
    let reload = Action::new_local(move |_: &()| {
        let id = id.get_value();
        async move { api::application(&id).await }
    });
    Effect::new(move |_| match reload.value().get() {
        Some(Ok(a)) => secrets.set(a.secrets),
        Some(Err(f)) => secret_failure.set(Some(f)),
        None => {}
    });
    Effect::new(move |_| match create_secret.value().get() {
        Some(Ok(_)) => {
            reload.dispatch(());
        }
        Some(Err(f)) => secret_failure.set(Some(f)),
        None => {}
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(())) => {
            reload.dispatch(());
        }
        Some(Err(f)) => secret_failure.set(Some(f)),
        None => {}
    });
    let confidential = application.kind == "confidential";
    view! {
        <section class="card">
            <h1>{application.name.clone()}</h1>
            <p>"Configure the application's OpenID Connect library with these values: the discovery document tells it everything else."</p>
            <CopyValue label="Discovery URL" value=application.discovery_url.clone() />
            <CopyValue label="Client ID" value=application.id.clone() />
            <p>"The ID token says who signed in: "<code>"sub"</code>" (the member's id), "<code>"name"</code>", "<code>"email"</code>", and Gatehouse's own "<code>"org_id"</code>", "<code>"org_slug"</code>", "<code>"org_name"</code>", "<code>"role"</code>", "<code>"tid"</code>" and "<code>"oid"</code>". Add "<code>"organization=<slug>"</code>" or a "<code>"login_hint"</code>" to the sign-in request to skip Gatehouse's email page."</p>
        </section>
        {confidential.then(|| view! {
            <section class="card">
                <h2>"Client secrets"</h2>
                <p>"To rotate a secret without an outage: create a new one, give it to the application, then revoke the old one."</p>
                <ErrorBanner failure=secret_failure />
                <button type="button" class="primary" disabled=move || create_secret.pending().get()
                    on:click=move |_| { secret_failure.set(None); create_secret.dispatch(()); }>
                    "Create a client secret"
                </button>
                {move || create_secret.value().get().and_then(Result::ok).map(|created| view! {
                    <div class="banner banner-ok" role="status">
                        <p>"Copy the secret now: it is shown only once. Gatehouse keeps only a hash."</p>
                        <CopyValue label="Client secret" value=created.secret.clone() />
                    </div>
                })}
                {move || (!secrets.with(Vec::is_empty)).then(|| view! {
                    <table>
                        <caption class="visually-hidden">"Client secrets"</caption>
                        <thead><tr>
                            <th scope="col">"Ends in"</th><th scope="col">"Created"</th>
                            <th scope="col">"Status"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {secrets.get().into_iter().map(|s| {
                                let secret_id = s.id.clone();
                                let valid = s.status == "valid";
                                let hint = s.hint.clone();
                                view! {
                                    <tr>
                                        <td><code>{format!("…{}", s.hint)}</code></td>
                                        <td>{short_time(&s.created_at)}</td>
                                        <td>{s.status.clone()}</td>
                                        <td>{valid.then(|| view! {
                                            <button type="button" aria-label=format!("Revoke the secret ending in {hint}")
                                                on:click=move |_| { revoke.dispatch(secret_id.clone()); }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                })}
            </section>
        })}
        <section class="card">
            <h2>"Settings"</h2>
            <ErrorBanner failure />
            <p role="status">{move || saved.get()}</p>
            <form on:submit=on_submit novalidate>
                <SettingsFields form failure />
                <button type="submit" class="primary" disabled=move || save.pending().get()>"Save settings"</button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_are_one_per_line_without_blanks() {
        assert_eq!(
            super::lines(" https://a.example/cb \n\n http://127.0.0.1/cb\n"),
            vec!["https://a.example/cb", "http://127.0.0.1/cb"]
        );
    }
}
