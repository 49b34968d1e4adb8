//! The SAML steps of the wizard, in the words of Entra's "SAML-based sign-on" page: the values
//! to register (step 1), and the directory's side brought back (step 2) — its Federation
//! Metadata XML, the App Federation Metadata URL, or the three values pasted by hand.

use super::{Current, StepFailure};
use crate::api::{self, ApiFailure};
use crate::components::{chosen_file_text, field_error, CopyValue, TextField};
use crate::types::*;
use leptos::prelude::*;

/// Federation metadata is a few kilobytes; the server refuses more than this.
const METADATA_MAX_BYTES: usize = 256 * 1024;

/// Steps 1 and 2 for SAML, in a WebAssembly module of their own: an admin who chooses OpenID
/// Connect never downloads them.
#[lazy]
pub(super) fn saml_steps(current: Current, org: StoredValue<String>) -> AnyView {
    view! {
        <SamlRegisterStep current />
        <SamlSettingsStep current org />
    }
    .into_any()
}

#[component]
fn SamlRegisterStep(current: Current) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="step-register">
            <h2 id="step-register">"Step 1 of 6: Add Gatehouse as an Enterprise application"</h2>
            <ol class="steps">
                <li>"In the Microsoft Entra admin center, open "<strong>"Enterprise applications"</strong>", choose "<strong>"New application"</strong>", then "<strong>"Create your own application"</strong>". Name it (for example “Gatehouse”) and choose "<strong>"Integrate any other application you don't find in the gallery (Non-gallery)"</strong>"."</li>
                <li>"Open "<strong>"Single sign-on"</strong>" and choose "<strong>"SAML"</strong>". In "<strong>"Basic SAML Configuration"</strong>", choose "<strong>"Edit"</strong>" and paste the four values below (or choose "<strong>"Upload metadata file"</strong>" with Gatehouse's metadata), then save."</li>
                <li>"Keep the default "<strong>"Attributes & Claims"</strong>": Gatehouse identifies people by the "<code>"objectidentifier"</code>" and "<code>"tenantid"</code>" claims, which must stay."</li>
                <li>"Under "<strong>"Users and groups"</strong>", assign the people who will sign in."</li>
            </ol>
            {move || current.0.get().map(|v| view! {
                <CopyValue label="Identifier (Entity ID)" value=v.saml.identifier />
                <CopyValue label="Reply URL (Assertion Consumer Service URL)" value=v.saml.reply_url />
                <CopyValue label="Sign on URL" value=v.saml.sign_on_url />
                <CopyValue label="Logout Url" value=v.saml.logout_url />
                <p><a href=v.saml.metadata_url download="gatehouse-metadata.xml">"Download Gatehouse's metadata file"</a></p>
            })}
        </section>
    }
}

/// How the admin brings the directory's side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    File,
    Url,
    Pasted,
}

#[component]
fn SamlSettingsStep(current: Current, org: StoredValue<String>) -> impl IntoView {
    let source = RwSignal::new(Source::File);
    let metadata_url = RwSignal::new(String::new());
    let login_url = RwSignal::new(String::new());
    let entity_id = RwSignal::new(String::new());
    let certificate = RwSignal::new(String::new());
    let allow_idp_initiated = RwSignal::new(false);
    let failure = RwSignal::new(None::<ApiFailure>);
    let file_problem = RwSignal::new(None::<String>);
    let saved = RwSignal::new(None::<String>);
    let warnings = RwSignal::new(std::collections::BTreeMap::<String, String>::new());

    let filled = RwSignal::new(false);
    Effect::new(move |_| {
        if filled.get_untracked() {
            return;
        }
        if let Some(saml) = current.0.get().and_then(|v| v.draft).and_then(|d| d.saml) {
            allow_idp_initiated.set(saml.allow_idp_initiated);
            if let Some(url) = saml.metadata_url {
                source.set(Source::Url);
                metadata_url.set(url);
            }
            filled.set(true);
        } else if current.0.with(Option::is_some) {
            filled.set(true);
        }
    });

    let save = Action::new_local(move |request: &SaveSamlRequest| {
        let (id, mut request) = (org.get_value(), request.clone());
        let from_file = source.get_untracked() == Source::File;
        async move {
            if from_file {
                match chosen_file_text(
                    "saml_metadata_file",
                    METADATA_MAX_BYTES,
                    "Choose the Federation Metadata XML file first.",
                    "This file is larger than Entra's federation metadata ever is (256 KiB).",
                )
                .await
                {
                    Ok(text) => request.metadata_xml = Some(text),
                    Err(problem) => return Err(ApiFailure::local("saml_metadata_file", problem)),
                }
            }
            api::save_saml(&id, &request).await
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(v)) => {
            warnings.set(v.warnings.clone());
            saved.set(Some("Saved. Next: verify the connection.".into()));
            current.0.set(Some(v));
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    Effect::new(move |_| {
        file_problem.set(
            field_error(failure, "saml_metadata_file")
                .get()
                .or_else(|| field_error(failure, "metadata").get()),
        )
    });

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        saved.set(None);
        let text = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.trim().is_empty());
        let (url, pasted) = match source.get_untracked() {
            Source::File => (None, false),
            Source::Url => (text(metadata_url), false),
            Source::Pasted => (None, true),
        };
        save.dispatch(SaveSamlRequest {
            version: current.version(),
            metadata_xml: None,
            metadata_url: url,
            login_url: pasted.then(|| login_url.get_untracked()),
            entity_id: pasted.then(|| entity_id.get_untracked()),
            certificate: pasted.then(|| certificate.get_untracked()),
            allow_idp_initiated: allow_idp_initiated.get_untracked(),
        });
    };

    let stored = move || {
        current
            .0
            .get()
            .and_then(|v| v.draft)
            .and_then(|d| d.saml)
            .map(|s| {
                let certificates = s
                    .certificates
                    .iter()
                    .map(|c| {
                        format!(
                            "{} (expires {}, {} days left)",
                            c.thumbprint, c.expires_on, c.days_left
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                view! {
                    <dl class="summary" id="saml-stored" aria-label="Saved SAML settings">
                        <dt>"Microsoft Entra Identifier"</dt><dd>{s.entity_id}</dd>
                        <dt>"Login URL"</dt><dd>{s.login_url}</dd>
                        <dt>"Signing certificates"</dt><dd>{certificates}</dd>
                    </dl>
                }
            })
    };
    let choice = move |value: Source, id: &'static str, label: &'static str| {
        view! {
            <div class="choice">
                <input type="radio" name="saml_source" id=id checked=move || source.get() == value
                    on:change=move |_| source.set(value) />
                <label for=id>{label}</label>
            </div>
        }
    };

    view! {
        <section class="card" aria-labelledby="step-credentials">
            <h2 id="step-credentials">"Step 2 of 6: Bring back what Entra shows"</h2>
            <StepFailure failure />
            <form novalidate on:submit=on_submit>
                <fieldset>
                    <legend>"From the SAML Certificates and Set up sections"</legend>
                    {choice(Source::File, "saml-source-file", "Upload the Federation Metadata XML")}
                    {choice(Source::Url, "saml-source-url", "Give the App Federation Metadata URL")}
                    {choice(Source::Pasted, "saml-source-pasted", "Paste the Login URL, Identifier and certificate")}
                </fieldset>
                <Show when=move || source.get() == Source::File>
                    <div class="field">
                        <label for="saml_metadata_file">"Federation Metadata XML"</label>
                        <p class="hint" id="saml_metadata_file-hint">"Download it from the SAML Certificates section."</p>
                        <input type="file" id="saml_metadata_file" accept=".xml,application/xml,text/xml"
                            aria-describedby="saml_metadata_file-hint saml_metadata_file-error" />
                        <p class="field-error" id="saml_metadata_file-error" role="alert">{move || file_problem.get()}</p>
                    </div>
                </Show>
                <Show when=move || source.get() == Source::Url>
                    <TextField id="metadata_url" label="App Federation Metadata URL" input_type="url"
                        hint="From the SAML Certificates section. Gatehouse reads it again every day to pick up Entra's next certificate."
                        value=metadata_url error=field_error(failure, "metadata_url") />
                </Show>
                <Show when=move || source.get() == Source::Pasted>
                    <TextField id="login_url" label="Login URL" input_type="url"
                        hint="From the “Set up” section, such as https://login.microsoftonline.com/<tenant ID>/saml2."
                        value=login_url error=field_error(failure, "login_url") />
                    <TextField id="entity_id" label="Microsoft Entra Identifier"
                        hint="From the “Set up” section, such as https://sts.windows.net/<tenant ID>/."
                        value=entity_id error=field_error(failure, "entity_id") />
                    <div class="field">
                        <label for="certificate">"Certificate (Base64)"</label>
                        <p class="hint" id="certificate-hint">"Download “Certificate (Base64)” from the SAML Certificates section and paste the whole file."</p>
                        <textarea id="certificate" rows="6" aria-describedby="certificate-hint certificate-error"
                            prop:value=move || certificate.get()
                            on:input=move |ev| certificate.set(event_target_value(&ev))></textarea>
                        <p class="field-error" id="certificate-error" role="alert">{move || field_error(failure, "certificate").get()}</p>
                    </div>
                </Show>
                <div class="choice">
                    <input type="checkbox" id="allow_idp_initiated" prop:checked=move || allow_idp_initiated.get()
                        on:change=move |ev| allow_idp_initiated.set(event_target_checked(&ev)) />
                    <label for="allow_idp_initiated">"Accept sign-ins started at Entra (My Apps tile, “Test this application”) without the Sign on URL"</label>
                    <p class="hint">"Off is safer: such a sign-in arrives unasked, so another site could sign a browser in as someone else. With the Sign on URL set, Entra starts sign-ins at Gatehouse anyway."</p>
                </div>
                <button type="submit" disabled=move || save.pending().get()>"Save and continue"</button>
            </form>
            <p role="status">{move || saved.get()}</p>
            {move || warnings.get().into_values().map(|w| view! {
                <p class="banner banner-warning" role="alert">{w}</p>
            }).collect_view()}
            {stored}
        </section>
    }
}
