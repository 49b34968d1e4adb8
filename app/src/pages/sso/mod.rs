//! The guided setup of single sign-on with Microsoft Entra ID. Each step saves to the draft, so
//! an admin can leave and come back; the active configuration changes only on "Activate". The
//! admin first says which protocol their Entra admin set up: OpenID Connect (an app
//! registration, steps 1 and 2 here) or SAML (an Enterprise application, steps 1 and 2 in
//! `saml`); verification, the test sign-in, the policy and activation are shared.

mod automatic;
mod saml;

use crate::api::{self, ApiFailure};
use crate::components::{field_error, CopyValue, TextField};
use crate::pages::short_time;
use crate::types::*;
use crate::validate::guid_problem;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The connection as last loaded or saved; every step reads and replaces it.
#[derive(Clone, Copy)]
struct Current(RwSignal<Option<ConnectionView>>);

impl Current {
    fn version(self) -> i64 {
        self.0
            .with_untracked(|v| v.as_ref().map(|v| v.draft_version).unwrap_or(0))
    }
}

#[component]
pub fn SsoWizardPage() -> impl IntoView {
    let params = use_params_map();
    let org_id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let loaded = LocalResource::new(move || {
        let id = org_id.get();
        async move { api::connection(&id).await }
    });
    let current = Current(RwSignal::new(None));
    Effect::new(move |_| {
        if let Some(Ok(v)) = loaded.get() {
            current.0.set(Some(v));
        }
    });
    let org = StoredValue::new(String::new());
    Effect::new(move |_| org.set_value(org_id.get()));
    // The protocol of the saved draft, until the admin chooses another.
    let protocol = RwSignal::new(Protocol::Oidc);
    let chosen = RwSignal::new(false);
    // Whether the admin lets Gatehouse create the app (offered when the operator registered
    // the setup client); chosen at once while a setup runs.
    let automatic = RwSignal::new(false);
    // A memo: the automatic steps are drawn again only when the offer itself changes.
    let clouds = Memo::new(move |_| {
        current
            .0
            .with(|v| v.as_ref().map(|v| v.automatic_clouds.clone()))
            .unwrap_or_default()
    });
    Effect::new(move |_| {
        let running = current
            .0
            .with(|v| v.as_ref().is_some_and(|v| v.automatic_running));
        if running && !chosen.get_untracked() {
            automatic.set(true);
        }
    });
    let manual = Callback::new(move |_| {
        chosen.set(true);
        automatic.set(false);
        protocol.set(Protocol::Oidc);
    });
    Effect::new(move |_| {
        if let Some(draft) = current.0.get().and_then(|v| v.draft) {
            if !chosen.get_untracked() {
                protocol.set(draft.protocol);
            }
        }
    });

    view! {
        <section class="card">
            <h1>"Single sign-on with Microsoft Entra ID"</h1>
            <p>
                "Connect your organization's Entra ID directory in six steps. Each step is saved: you can leave and come back."
            </p>
            <StatusLine current />
            <p><a href=move || format!("/console/orgs/{}", org_id.get())>"Back to the organization"</a></p>
        </section>
        {move || match loaded.get() {
            None => view! { <p aria-busy="true">"Loading the connection…"</p> }.into_any(),
            Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
            Some(Ok(_)) => ().into_any(),
        }}
        <Show when=move || current.0.with(Option::is_some)>
            <ProtocolStep protocol chosen automatic offered=Signal::derive(move || !clouds.with(Vec::is_empty)) />
            <Show when=move || automatic.get()
                fallback=move || view! {
                    <Show when=move || protocol.get() == Protocol::Saml
                        fallback=move || view! { <RegisterStep current /> <CredentialsStep current org /> }>
                        <Suspense fallback=|| view! { <p aria-busy="true">"Loading the SAML steps…"</p> }>
                            {move || Suspend::new(async move { saml::saml_steps(current, org).await })}
                        </Suspense>
                    </Show>
                }>
                <Suspense fallback=|| view! { <p aria-busy="true">"Loading the automatic setup…"</p> }>
                    {move || {
                        let clouds = clouds.get();
                        Suspend::new(async move { automatic::automatic_steps(current, org, clouds, manual).await })
                    }}
                </Suspense>
            </Show>
            <VerifyStep current org />
            <TestSignInStep current org />
            <PolicyStep current org />
            <ActivateStep current org />
        </Show>
    }
}

/// Whether Gatehouse creates the app, else which protocol the organization's Entra admin set
/// up.
#[component]
fn ProtocolStep(
    protocol: RwSignal<Protocol>,
    chosen: RwSignal<bool>,
    automatic: RwSignal<bool>,
    offered: Signal<bool>,
) -> impl IntoView {
    let choice = move |value: Protocol,
                       id: &'static str,
                       label: &'static str,
                       hint: &'static str| {
        view! {
            <div class="choice">
                <input type="radio" name="protocol" id=id checked=move || !automatic.get() && protocol.get() == value
                    on:change=move |_| { chosen.set(true); automatic.set(false); protocol.set(value); } />
                <label for=id>{label}</label>
                <p class="hint">{hint}</p>
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="step-protocol">
            <h2 id="step-protocol">"How do you want to connect?"</h2>
            <fieldset>
                <legend>"Setup"</legend>
                <Show when=move || offered.get()>
                    <div class="choice">
                        <input type="radio" name="protocol" id="protocol-automatic" checked=move || automatic.get()
                            on:change=move |_| { chosen.set(true); automatic.set(true); protocol.set(Protocol::Oidc); } />
                        <label for="protocol-automatic">"Set up automatically (recommended)"</label>
                        <p class="hint">"Sign in once as your directory's admin; Gatehouse creates the app registration with only what it needs. Nothing to copy or paste."</p>
                    </div>
                </Show>
                {choice(Protocol::Oidc, "protocol-oidc", "By hand: OpenID Connect (an App registration your Entra admin set up)",
                    "Fewer values to copy than SAML, and a client secret or certificate Gatehouse can check for you.")}
                {choice(Protocol::Saml, "protocol-saml", "By hand: SAML (an Enterprise application with SAML-based sign-on)",
                    "Choose this when your directory already uses SAML for other applications, or your admin knows only that path.")}
            </fieldset>
        </section>
    }
}

#[component]
fn StatusLine(current: Current) -> impl IntoView {
    move || {
        current.0.get().map(|v| {
            let class = if v.status == ConnectionStatus::Active { "status status-active" } else { "status" };
            view! { <p>"Status: "<strong class=class id="connection-status">{v.status.label()}</strong></p> }
        })
    }
}

/// Shows a failed step: the message of a step-level field (such as "activate") when the server
/// named one, and a way to reload when someone else changed the draft.
#[component]
fn StepFailure(
    failure: RwSignal<Option<ApiFailure>>,
    #[prop(default = &[])] step_fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        failure.get().map(|f| {
            let stale = f.field("version");
            let message = stale
                .clone()
                .or_else(|| step_fields.iter().find_map(|name| f.field(name)))
                .unwrap_or(f.detail.message.clone());
            view! {
                <div class="banner banner-error" role="alert">
                    {message}
                    {stale.map(|_| view! {
                        <button type="button" on:click=|_| {
                            #[cfg(feature = "hydrate")]
                            if let Some(w) = web_sys::window() { let _ = w.location().reload(); }
                        }>"Reload"</button>
                    })}
                </div>
            }
        })
    }
}

#[component]
fn RegisterStep(current: Current) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="step-register">
            <h2 id="step-register">"Step 1 of 6: Register Gatehouse in Entra"</h2>
            <ol class="steps">
                <li>"In the Microsoft Entra admin center, open "<strong>"App registrations"</strong>" and choose "<strong>"New registration"</strong>"."</li>
                <li>"Name it (for example “Gatehouse”). Under "<strong>"Supported account types"</strong>", choose "<strong>"Accounts in this organizational directory only"</strong>" (recommended)."</li>
                <li>"Under "<strong>"Redirect URI"</strong>", choose the "<strong>"Web"</strong>" platform and paste the Redirect URI below, then register."</li>
                <li>"On the app's "<strong>"Branding & properties"</strong>" page, paste the Home page URL; on "<strong>"Authentication"</strong>", paste the front-channel logout URL."</li>
                <li>"Under "<strong>"Certificates & secrets"</strong>", create a client secret and copy its "<strong>"Value"</strong>" (shown only once) and its expiry date."</li>
            </ol>
            {move || current.0.get().map(|v| view! {
                <CopyValue label="Redirect URI" value=v.redirect_uri />
                <CopyValue label="Home page URL" value=v.home_page_url />
                <CopyValue label="Front-channel logout URL" value=v.logout_url />
            })}
        </section>
    }
}

#[component]
fn CredentialsStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let cloud = RwSignal::new(Cloud::Global);
    let authority_host = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let client_secret = RwSignal::new(String::new());
    let expires_on = RwSignal::new(String::new());
    let credential = RwSignal::new(ClientCredentialKind::Secret);
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let warnings = RwSignal::new(std::collections::BTreeMap::<String, String>::new());

    // Fill the form once from the stored draft.
    let filled = RwSignal::new(false);
    Effect::new(move |_| {
        if filled.get_untracked() {
            return;
        }
        if let Some(draft) = current.0.get().and_then(|v| v.draft) {
            cloud.set(draft.cloud);
            if draft.cloud == Cloud::Custom {
                authority_host.set(draft.authority_host.clone());
            }
            tenant.set(draft.tenant_id.unwrap_or_default());
            client_id.set(draft.client_id.unwrap_or_default());
            expires_on.set(draft.secret.map(|s| s.expires_on).unwrap_or_default());
            credential.set(draft.credential);
            filled.set(true);
        } else if current.0.with(Option::is_some) {
            filled.set(true);
        }
    });

    let save = Action::new_local(move |request: &SaveCredentialsRequest| {
        let request = request.clone();
        let id = org.get_value();
        async move { api::save_credentials(&id, &request).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(v)) => {
            warnings.set(v.warnings.clone());
            saved.set(Some("Saved. Next: verify the connection.".into()));
            client_secret.set(String::new());
            current.0.set(Some(v));
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    // As-you-type checks; the server checks again on save.
    let live_guid = |value: RwSignal<String>| {
        move || {
            let v = value.get();
            (!v.trim().is_empty()).then(|| guid_problem(&v)).flatten()
        }
    };
    let client_id_live = live_guid(client_id);
    let client_id_error = Signal::derive(move || {
        field_error(failure, "client_id")
            .get()
            .or_else(client_id_live)
    });
    let tenant_error = Signal::derive(move || field_error(failure, "tenant").get());
    let secret_error = Signal::derive(move || {
        field_error(failure, "client_secret").get().or_else(|| {
            let s = client_secret.get();
            guid_problem(&s).is_none().then(|| {
                "This looks like the Secret ID (a GUID), not the secret's Value.".to_string()
            })
        })
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        saved.set(None);
        let secret = client_secret.get_untracked();
        save.dispatch(SaveCredentialsRequest {
            version: current.version(),
            cloud: cloud.get_untracked(),
            authority_host: authority_host.get_untracked(),
            tenant: tenant.get_untracked(),
            client_id: client_id.get_untracked(),
            client_secret: (!secret.trim().is_empty()).then_some(secret),
            secret_expires_on: expires_on.get_untracked(),
            credential: credential.get_untracked(),
        });
    };
    let generate = draft_action(org, current, failure, |id, version| async move {
        api::generate_certificate(&id, version).await
    });
    let certificate = move || {
        current
            .0
            .get()
            .and_then(|v| v.draft)
            .and_then(|d| d.certificate)
    };
    let choice = move |value: ClientCredentialKind, id: &'static str, label: &'static str| {
        view! {
            <div class="choice">
                <input type="radio" name="credential" id=id checked=move || credential.get() == value
                    on:change=move |_| credential.set(value) />
                <label for=id>{label}</label>
            </div>
        }
    };

    let stored_secret = move || {
        current
            .0
            .get()
            .and_then(|v| v.draft)
            .and_then(|d| d.secret)
            .map(|s| {
                format!(
                    "A secret is set, ends in …{}, expires {}. Leave the field empty to keep it.",
                    s.last4, s.expires_on
                )
            })
    };

    view! {
        <section class="card" aria-labelledby="step-credentials">
            <h2 id="step-credentials">"Step 2 of 6: Paste what Entra shows"</h2>
            <StepFailure failure />
            <form novalidate on:submit=on_submit>
                <div class="field">
                    <label for="cloud">"Cloud"</label>
                    <select id="cloud" on:change=move |ev| {
                        cloud.set(match event_target_value(&ev).as_str() {
                            "us_government" => Cloud::UsGovernment,
                            "china" => Cloud::China,
                            "custom" => Cloud::Custom,
                            _ => Cloud::Global,
                        });
                    }>
                        {[Cloud::Global, Cloud::UsGovernment, Cloud::China, Cloud::Custom].into_iter().map(|c| {
                            let value = serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                            view! { <option value=value selected=move || cloud.get() == c>{c.label()}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <Show when=move || cloud.get() == Cloud::Custom>
                    <TextField id="authority_host" label="Authority host" input_type="url"
                        hint="The sign-in host of your cloud, such as https://login.microsoftonline.com."
                        value=authority_host error=field_error(failure, "authority_host") />
                </Show>
                <TextField id="tenant" label="Directory (tenant) ID"
                    hint="A GUID from the app's Overview page, or a verified domain such as contoso.onmicrosoft.com."
                    value=tenant error=tenant_error />
                <TextField id="client_id" label="Application (client) ID"
                    hint="The GUID on the app's Overview page."
                    value=client_id error=client_id_error />
                <fieldset>
                    <legend>"How Gatehouse proves it is the app"</legend>
                    {choice(ClientCredentialKind::Certificate, "credential-certificate",
                        "A certificate Gatehouse generates (recommended: its key never leaves Gatehouse, valid two years)")}
                    {choice(ClientCredentialKind::Secret, "credential-secret", "A client secret you paste")}
                </fieldset>
                <Show when=move || credential.get() == ClientCredentialKind::Certificate fallback=move || view! {
                    <TextField id="client_secret" label="Client secret Value" input_type="password"
                        autocomplete="off" required=false
                        hint="The Value column under Certificates & secrets, not the Secret ID."
                        value=client_secret error=secret_error />
                    <p class="hint">{stored_secret}</p>
                    <TextField id="secret_expires_on" label="Secret expires on" input_type="date"
                        hint="As the portal shows it under Expires."
                        value=expires_on error=field_error(failure, "secret_expires_on") />
                }>
                    <div id="certificate" aria-live="polite">
                        {move || match certificate() {
                            None => view! { <p>"Generate the certificate, then upload it to the app in Entra."</p> }.into_any(),
                            Some(c) => view! {
                                <p>"Thumbprint "<code id="certificate-thumbprint">{c.thumbprint}</code>", expires "{c.expires_on}"."</p>
                                <p><a class="button" href=c.download_url download="">"Download certificate (.cer)"</a></p>
                                <p class="hint">"In Entra, open the app's Certificates & secrets, then Certificates, then Upload certificate, and choose this file. Its Thumbprint there must match the one above."</p>
                            }.into_any(),
                        }}
                        <p class="field-error" role="alert">{move || field_error(failure, "credential").get()}</p>
                        <button type="button" disabled=move || generate.pending().get()
                            on:click=move |_| { failure.set(None); generate.dispatch(current.version()); }>
                            {move || if certificate().is_some() { "Generate a new certificate" } else { "Generate certificate" }}
                        </button>
                    </div>
                </Show>
                <button type="submit" disabled=move || save.pending().get()>"Save and continue"</button>
            </form>
            <p role="status">{move || saved.get()}</p>
            {move || warnings.get().into_values().map(|w| view! {
                <p class="banner banner-warning" role="alert">{w}</p>
            }).collect_view()}
        </section>
    }
}

/// A step's action on the draft at a version (`call` gets the organization's id and the
/// version): the connection it answers is shown at once, a failure beside the step.
fn draft_action<Fut>(
    org: StoredValue<String>,
    current: Current,
    failure: RwSignal<Option<ApiFailure>>,
    call: fn(String, i64) -> Fut,
) -> Action<i64, api::ApiResult<ConnectionView>>
where
    Fut: std::future::Future<Output = api::ApiResult<ConnectionView>> + 'static,
{
    let action = Action::new_local(move |version: &i64| call(org.get_value(), *version));
    Effect::new(move |_| match action.value().get() {
        Some(Ok(v)) => current.0.set(Some(v)),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    action
}

#[component]
fn VerifyStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let failure = RwSignal::new(None::<ApiFailure>);
    let verify = draft_action(org, current, failure, |id, version| async move {
        api::verify_connection(&id, version).await
    });
    let results = move || {
        current
            .0
            .get()
            .and_then(|v| v.draft)
            .and_then(|d| d.verification)
    };
    view! {
        <section class="card" aria-labelledby="step-verify">
            <h2 id="step-verify">"Step 3 of 6: Verify"</h2>
            <p>"Gatehouse checks the values live with Entra."</p>
            <StepFailure failure step_fields=&["verify"] />
            <button type="button" class="primary" disabled=move || verify.pending().get()
                on:click=move |_| { failure.set(None); verify.dispatch(current.version()); }>
                {move || if verify.pending().get() { "Verifying…" } else { "Verify connection" }}
            </button>
            {move || results().map(|r| view! {
                <p role="status" id="verify-summary">
                    {if r.passed { "All checks passed." } else { "Some checks failed: fix them, save, and verify again." }}
                    " Checked "{short_time(&r.checked_at)}"."
                </p>
                <ul class="checks" aria-label="Verification results">
                    {r.checks.into_iter().map(|c| {
                        let outcome = match c.outcome.as_str() {
                            "passed" => "Passed", "failed" => "Failed", "warning" => "Warning", _ => "Not checked",
                        };
                        view! {
                            <li class=format!("check check-{}", c.outcome) data-check=c.check.clone()>
                                <strong>{outcome}": "</strong>{c.title}
                                <p>{c.message}</p>
                                {c.details.map(|d| view! {
                                    <details><summary>"Details from Entra"</summary><pre>{d}</pre></details>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn PolicyStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let mode = RwSignal::new(SsoMode::Everyone);
    let allow_admins = RwSignal::new(true);
    let create_members = RwSignal::new(false);
    let new_member_role = RwSignal::new(MemberRole::Member);
    let domains = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiFailure>);
    let saved = RwSignal::new(None::<String>);
    let filled = RwSignal::new(false);
    Effect::new(move |_| {
        if filled.get_untracked() {
            return;
        }
        if let Some(p) = current.0.get().and_then(|v| v.draft).map(|d| d.policy) {
            mode.set(p.mode);
            allow_admins.set(p.allow_admins);
            create_members.set(p.create_members);
            new_member_role.set(p.new_member_role);
            domains.set(
                p.email_domains
                    .iter()
                    .map(|d| d.domain.clone())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            filled.set(true);
        }
    });
    let save = Action::new_local(move |request: &SavePolicyRequest| {
        let (id, request) = (org.get_value(), request.clone());
        async move { api::save_policy(&id, &request).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(v)) => {
            saved.set(Some("Policy saved. Next: review and activate.".into()));
            current.0.set(Some(v));
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let radio = move |value: SsoMode, label: &'static str, hint: &'static str| {
        let id = format!("mode-{value:?}").to_lowercase();
        view! {
            <div class="choice">
                <input type="radio" name="mode" id=id.clone() checked=move || mode.get() == value
                    on:change=move |_| mode.set(value) />
                <label for=id>{label}</label>
                <p class="hint">{hint}</p>
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="step-policy">
            <h2 id="step-policy">"Step 5 of 6: Who signs in with SSO"</h2>
            <StepFailure failure step_fields=&["policy"] />
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                failure.set(None);
                saved.set(None);
                save.dispatch(SavePolicyRequest {
                    version: current.version(),
                    mode: mode.get_untracked(),
                    allow_admins: allow_admins.get_untracked(),
                    create_members: create_members.get_untracked(),
                    new_member_role: new_member_role.get_untracked(),
                    email_domains: domains.get_untracked().split(['\n', ',']).map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect(),
                });
            }>
                <fieldset>
                    <legend>"SSO mode"</legend>
                    {radio(SsoMode::Everyone, "Everyone in the organization", "Every active member signs in with Entra.")}
                    {radio(SsoMode::SelectedMembers, "Selected members only", "Only members marked “SSO enabled” sign in with Entra.")}
                    {radio(SsoMode::Disabled, "Disabled", "Nobody signs in with Entra; the configuration is kept.")}
                </fieldset>
                <div class="choice">
                    <input type="checkbox" id="allow_admins" prop:checked=move || allow_admins.get()
                        on:change=move |ev| allow_admins.set(event_target_checked(&ev)) />
                    <label for="allow_admins">"Admins may sign in with SSO"</label>
                    <p class="hint">"Operators keep password sign-in for when SSO is broken."</p>
                </div>
                <div class="choice">
                    <input type="checkbox" id="create_members" prop:checked=move || create_members.get()
                        on:change=move |ev| create_members.set(event_target_checked(&ev)) />
                    <label for="create_members">"Create members on their first sign-in"</label>
                </div>
                <div class="field">
                    <label for="new_member_role">"Role for members created on first sign-in"</label>
                    <select id="new_member_role" on:change=move |ev| new_member_role.set(
                        if event_target_value(&ev) == "admin" { MemberRole::Admin } else { MemberRole::Member })>
                        <option value="member" selected=move || new_member_role.get() == MemberRole::Member>"Member"</option>
                        <option value="admin" selected=move || new_member_role.get() == MemberRole::Admin>"Admin"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="email_domains">"Email domains"</label>
                    <p class="hint" id="email_domains-hint">
                        "One per line. People with these email domains go straight to Entra from the sign-in page once you prove that your organization owns each domain, with a DNS record (below, after saving)."
                    </p>
                    <textarea id="email_domains" rows="3" aria-describedby="email_domains-hint email_domains-error"
                        prop:value=move || domains.get()
                        on:input=move |ev| domains.set(event_target_value(&ev))></textarea>
                    <p class="field-error" id="email_domains-error" role="alert">
                        {move || field_error(failure, "email_domains").get()}
                    </p>
                </div>
                <button type="submit" disabled=move || save.pending().get()>"Save policy"</button>
            </form>
            <p role="status">{move || saved.get()}</p>
            <DomainProofs current org />
        </section>
    }
}

/// What a domain's proof state means, in words (the wizard and the overview).
pub(crate) fn proof_text(proof: &EmailDomainProof) -> String {
    match proof.state {
        DomainProofState::Waiting => "Waiting for proof: email-first sign-in asks these people for a password until it is proven.".into(),
        DomainProofState::Proven => format!(
            "Proven by {} {}.",
            proof.proven_by.clone().unwrap_or_default(),
            proof.proven_at.as_deref().map(short_time).unwrap_or_default()
        ),
        DomainProofState::Missing => format!(
            "Proven, but its proof is missing since {}: put the DNS record back (or verify the domain in Entra again). Sign-in stops using this domain 7 days after that.",
            proof.missing_since.as_deref().map(short_time).unwrap_or_default()
        ),
        DomainProofState::Lapsed => "Its proof has been missing for 7 days: sign-in no longer uses this domain. Put the DNS record back and check again.".into(),
        DomainProofState::ClaimedElsewhere => "Another organization has proven this domain, so it cannot be proven here. If it is yours, ask your Gatehouse operator.".into(),
    }
}

/// Each listed email domain with its proof: the DNS record to add and a check, and for
/// operators an approval.
#[component]
fn DomainProofs(current: Current, org: StoredValue<String>) -> impl IntoView {
    let me = use_context::<crate::pages::console::CurrentUser>();
    let is_operator = move || {
        me.is_some_and(|m| {
            m.0.with(|m| m.as_ref().map(|m| m.kind) == Some(AccountKind::Operator))
        })
    };
    let failure = RwSignal::new(None::<ApiFailure>);
    let act = Action::new_local(move |(domain, approve): &(String, bool)| {
        let (id, domain, approve) = (org.get_value(), domain.clone(), *approve);
        async move {
            if approve {
                api::approve_email_domain(&id, &domain).await
            } else {
                api::check_email_domain(&id, &domain).await
            }
        }
    });
    Effect::new(move |_| match act.value().get() {
        Some(Ok(proof)) => {
            failure.set(None);
            current.0.update(|v| {
                if let Some(d) = v
                    .as_mut()
                    .and_then(|v| v.domains.iter_mut().find(|d| d.domain == proof.domain))
                {
                    *d = proof;
                }
            });
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let rows = move || {
        current
            .0
            .get()
            .map(|v| v.domains)
            .unwrap_or_default()
            .into_iter()
            .map(|proof| {
                let id = format!("domain-{}", proof.domain.replace('.', "-"));
                let text = proof_text(&proof);
                let needs_proof = matches!(
                    proof.state,
                    DomainProofState::Waiting | DomainProofState::Missing | DomainProofState::Lapsed
                );
                let (check_domain, approve_domain) = (proof.domain.clone(), proof.domain.clone());
                view! {
                    <li id=id.clone()>
                        <h4>{proof.domain.clone()}</h4>
                        <p class="domain-state" id=format!("{id}-state")>{text}</p>
                        {needs_proof.then(|| view! {
                            <p>"Add this TXT record at the domain's DNS host, then check it. Keep it in place: Gatehouse checks it again every day."</p>
                            <CopyValue label="Record name" value=proof.record_name.clone() />
                            <CopyValue label="Record value" value=proof.record_value.clone() />
                            <button type="button" disabled=move || act.pending().get()
                                on:click=move |_| { act.dispatch((check_domain.clone(), false)); }>
                                {format!("Check the DNS record of {}", proof.domain)}
                            </button>
                            <Show when=is_operator>
                                {
                                    let approve_domain = approve_domain.clone();
                                    view! {
                                        <button type="button" disabled=move || act.pending().get()
                                            on:click=move |_| { act.dispatch((approve_domain.clone(), true)); }>
                                            "Approve without a DNS record (operator)"
                                        </button>
                                    }
                                }
                            </Show>
                        })}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <Show when=move || current.0.with(|v| v.as_ref().is_some_and(|v| !v.domains.is_empty()))>
            <h3>"Prove your email domains"</h3>
            <p class="hint">"On Microsoft Entra's clouds, the test sign-in of step 4 proves each listed domain that your directory has verified. Prove any other domain with a DNS record."</p>
            <p class="field-error" id="domain-error" role="alert">
                {move || field_error(failure, "domain").get()}
            </p>
            <ul class="domains">{rows}</ul>
        </Show>
    }
}

#[component]
fn ActivateStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let failure = RwSignal::new(None::<ApiFailure>);
    let activate = draft_action(org, current, failure, |id, version| async move {
        api::activate_connection(&id, version).await
    });
    let confirm_disable = RwSignal::new(false);
    let disable = Action::new_local(move |_: &()| {
        let id = org.get_value();
        async move { api::disable_connection(&id).await }
    });
    Effect::new(move |_| match disable.value().get() {
        Some(Ok(v)) => {
            confirm_disable.set(false);
            current.0.set(Some(v));
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let summary = move || {
        current.0.get().and_then(|v| v.draft).map(|d| {
            let (credential_label, credential) = match (d.credential, d.certificate) {
                (ClientCredentialKind::Certificate, Some(c)) => ("Certificate", format!("Gatehouse's certificate {}, expires {} ({} days)", c.thumbprint, c.expires_on, c.days_left)),
                _ => ("Client secret", d.secret.map(|s| format!("set, ends in …{}, expires {} ({} days)", s.last4, s.expires_on, s.days_left))
                    .unwrap_or_else(|| "not set".into())),
            };
            let verified = match &d.verification {
                Some(v) if v.passed => format!("passed {}", short_time(&v.checked_at)),
                Some(_) => "failed: see step 3".into(),
                None => "not yet verified".into(),
            };
            let domains = if d.policy.email_domains.is_empty() {
                "none".to_string()
            } else {
                d.policy
                    .email_domains
                    .iter()
                    .map(|e| format!("{} ({})", e.domain, if e.verified { "proven" } else { "not proven yet: see step 5" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mode = match d.policy.mode {
                SsoMode::Everyone => "everyone in the organization",
                SsoMode::SelectedMembers => "selected members only",
                SsoMode::Disabled => "disabled",
            };
            let credentials = match d.saml {
                Some(saml) => {
                    let certificates = saml.certificates.iter()
                        .map(|c| format!("{}, expires {} ({} days)", c.thumbprint, c.expires_on, c.days_left))
                        .collect::<Vec<_>>()
                        .join("; ");
                    view! {
                        <dt>"Protocol"</dt><dd>"SAML"</dd>
                        <dt>"Microsoft Entra Identifier"</dt><dd>{saml.entity_id}</dd>
                        <dt>"Login URL"</dt><dd>{saml.login_url}</dd>
                        <dt>"Signing certificates"</dt><dd>{certificates}</dd>
                        <dt>"Sign-ins started at Entra"</dt><dd>{if saml.allow_idp_initiated { "accepted" } else { "not accepted" }}</dd>
                    }.into_any()
                }
                None => view! {
                    <dt>"Protocol"</dt><dd>"OpenID Connect"</dd>
                    <dt>"Application (client) ID"</dt><dd>{d.client_id.unwrap_or_default()}</dd>
                    <dt>{credential_label}</dt><dd>{credential}</dd>
                }.into_any(),
            };
            view! {
                <dl class="summary" id="review-summary">
                    <dt>"Cloud"</dt><dd>{d.cloud.label()}</dd>
                    <dt>"Directory (tenant) ID"</dt><dd>{d.tenant_id.unwrap_or_default()}</dd>
                    {credentials}
                    <dt>"Verification"</dt><dd>{verified}</dd>
                    <dt>"SSO mode"</dt><dd>{mode}</dd>
                    <dt>"Admins use SSO"</dt><dd>{if d.policy.allow_admins { "yes" } else { "no" }}</dd>
                    <dt>"Create members on first sign-in"</dt><dd>{if d.policy.create_members { "yes" } else { "no" }}</dd>
                    <dt>"Email domains"</dt><dd>{domains}</dd>
                </dl>
            }
        })
    };
    let is_active = move || {
        current
            .0
            .with(|v| v.as_ref().map(|v| v.status) == Some(ConnectionStatus::Active))
    };
    let notice = move || {
        current
            .0
            .get()
            .and_then(|v| v.warnings.get("activate").cloned())
    };
    view! {
        <section class="card" aria-labelledby="step-activate">
            <h2 id="step-activate">"Step 6 of 6: Review and activate"</h2>
            {summary}
            <p class="banner banner-warning" role="status" id="activate-notice" hidden=move || notice().is_none()>{notice}</p>
            <StepFailure failure step_fields=&["activate", "disable"] />
            <p>"Activating replaces the configuration that serves sign-ins, all at once."</p>
            <button type="button" class="primary" disabled=move || activate.pending().get()
                on:click=move |_| { failure.set(None); activate.dispatch(current.version()); }>
                "Activate"
            </button>
            <Show when=is_active>
                <h3>"Turn SSO off"</h3>
                <Show when=move || confirm_disable.get()
                    fallback=move || view! {
                        <button type="button" class="danger" on:click=move |_| confirm_disable.set(true)>"Disable SSO…"</button>
                    }>
                    <p role="alert">"Disable SSO now? Members cannot sign in with Entra until it is activated again."</p>
                    <button type="button" class="danger" on:click=move |_| { disable.dispatch(()); }>"Yes, disable SSO"</button>
                    <button type="button" on:click=move |_| confirm_disable.set(false)>"Cancel"</button>
                </Show>
            </Show>
        </section>
    }
}

#[component]
fn TestSignInStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let failure = RwSignal::new(None::<ApiFailure>);
    let start = Action::new_local(move |_: &()| {
        let id = org.get_value();
        async move { api::start_test_sign_in(&id).await }
    });
    Effect::new(move |_| match start.value().get() {
        Some(Ok(started)) => {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign(&started.authorize_url);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = started;
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let result = move || current.0.get().and_then(|v| v.test_sign_in);
    let is_saml = move || {
        current.0.with(|v| {
            v.as_ref()
                .and_then(|v| v.draft.as_ref())
                .map(|d| d.protocol)
                == Some(Protocol::Saml)
        })
    };
    view! {
        <section class="card" aria-labelledby="step-test-heading" id="step-test">
            <h2 id="step-test-heading">"Step 4 of 6: Test sign-in"</h2>
            <p>"Sign in at Entra with any account of the directory to see what Gatehouse receives. This signs nobody in to Gatehouse and changes no member."</p>
            <StepFailure failure step_fields=&["test_sign_in"] />
            <button type="button" class="primary" disabled=move || start.pending().get()
                on:click=move |_| { failure.set(None); start.dispatch(()); }>"Test sign-in"</button>
            {move || if is_saml() {
                let saml = current.0.get().map(|v| v.saml);
                let (identifier, reply) = saml.map(|s| (s.identifier, s.reply_url)).unwrap_or_default();
                view! {
                    <p class="hint" id="test-redirect-hint">
                        "Gatehouse sends the Identifier "<code id="test-identifier">{identifier}</code>
                        " and the Reply URL "<code id="test-reply-url">{reply}</code>
                        ". Microsoft shows these two errors on its own page, which cannot bring you back here: with AADSTS700016 (“application with identifier … was not found”), paste exactly this Identifier in Basic SAML Configuration; with AADSTS50011 (“the reply URL … does not match”), add exactly this Reply URL there. Save, and run the test again."
                    </p>
                }.into_any()
            } else {
                view! {
                    <p class="hint" id="test-redirect-hint">
                        "Gatehouse sends this redirect URI: "
                        <code id="test-redirect-uri">{current.0.get().map(|v| v.redirect_uri).unwrap_or_default()}</code>
                        ". If Microsoft stops on its own error page with AADSTS50011 (“the redirect URI specified in the request does not match”), that page cannot bring you back here: in Entra, open the app's Authentication page, add exactly this URI under the Web platform, save, and run the test again."
                    </p>
                }.into_any()
            }}
            {move || result().map(|r| if r.passed {
                let email = r.email.clone().map(|e| format!("{e} ({})", if r.email_verified { "verified by the domain owner" } else { "not verified" }))
                    .unwrap_or_else(|| "none".into());
                view! {
                    <p role="status" class="banner banner-ok" id="test-summary">"The test sign-in worked ("{short_time(&r.at)}")."</p>
                    <dl class="summary" aria-label="What came back">
                        <dt>"Name"</dt><dd>{r.name.clone().unwrap_or_default()}</dd>
                        <dt>"User principal name"</dt><dd>{r.username.clone().unwrap_or_default()}</dd>
                        <dt>"Object ID (oid)"</dt><dd id="test-oid">{r.object_id.clone().unwrap_or_default()}</dd>
                        <dt>"Directory ID (tid)"</dt><dd>{r.tenant_id.clone().unwrap_or_default()}</dd>
                        <dt>"Email"</dt><dd>{email}</dd>
                        <dt>"Member"</dt><dd>{r.mapping.clone()}</dd>
                        <dt>"With the policy below"</dt><dd id="test-decision">{r.decision.clone()}</dd>
                        <dt>"Verified domains of the directory"</dt>
                        <dd id="test-directory-domains">{if r.directory_domains.is_empty() {
                            r.directory_domains_note.clone().unwrap_or_else(|| "none".into())
                        } else {
                            format!("{} (each one you list in step 5 is proven by them)", r.directory_domains.join(", "))
                        }}</dd>
                    </dl>
                    {r.saml.clone().map(|claims| view! {
                        <h3>"What the SAML response carried"</h3>
                        <dl class="summary" aria-label="SAML claims">
                            <dt>"NameID"</dt><dd id="test-name-id">{claims.name_id.unwrap_or_default()}</dd>
                            <dt>"NameID format"</dt><dd>{claims.name_id_format.unwrap_or_default()}</dd>
                            {claims.attributes.into_iter().map(|a| view! {
                                <dt>{a.name}</dt><dd>{a.values.join(", ")}</dd>
                            }).collect_view()}
                        </dl>
                    })}
                }.into_any()
            } else {
                view! {
                    <div class="banner banner-error" role="alert" id="test-summary">
                        <p>"The test sign-in failed ("{short_time(&r.at)}"): "{r.error.clone().unwrap_or_default()}</p>
                        {r.details.clone().map(|d| view! {
                            <details><summary>"Details from Entra"</summary><pre>{d}</pre></details>
                        })}
                    </div>
                }.into_any()
            })}
        </section>
    }
}
