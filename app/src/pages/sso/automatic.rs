//! "Set up automatically": the admin signs in once at Microsoft's device code page and
//! Gatehouse creates the app registration itself. Steps 1 and 2 of the automatic path; the
//! shared steps (verify, test sign-in, policy, activate) follow.

use super::{Current, StepFailure};
use crate::api::{self, ApiFailure};
use crate::components::{field_error, CopyValue, TextField};
use crate::types::*;
use leptos::prelude::*;

/// The automatic steps, in a WebAssembly module of their own: an admin who sets up by hand
/// never downloads them.
#[lazy]
pub(super) fn automatic_steps(
    current: Current,
    org: StoredValue<String>,
    clouds: Vec<Cloud>,
    manual: Callback<()>,
) -> AnyView {
    view! { <AutomaticStep current org clouds manual /> }.into_any()
}

fn running(stage: AutomaticSetupStage) -> bool {
    matches!(
        stage,
        AutomaticSetupStage::SignIn | AutomaticSetupStage::Confirm | AutomaticSetupStage::Working
    )
}

/// Asks for the setup every second while it runs; once it is done, reloads the connection so
/// the verification and the test sign-in show.
fn follow(org: String, setup: RwSignal<Option<AutomaticSetupView>>, current: Current) {
    leptos::task::spawn_local(async move {
        let Ok(state) = api::automatic_setup(&org).await else {
            return;
        };
        let stage = state.setup.as_ref().map(|s| s.stage);
        setup.set(state.setup);
        match stage {
            Some(stage) if running(stage) => {
                set_timeout(
                    move || follow(org, setup, current),
                    std::time::Duration::from_millis(1000),
                );
            }
            Some(AutomaticSetupStage::Done) => {
                if let Ok(v) = api::connection(&org).await {
                    current.0.set(Some(v));
                }
            }
            _ => {}
        }
    });
}

fn minutes(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[component]
fn AutomaticStep(
    current: Current,
    org: StoredValue<String>,
    clouds: Vec<Cloud>,
    manual: Callback<()>,
) -> impl IntoView {
    let setup = RwSignal::new(None::<AutomaticSetupView>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let cloud = RwSignal::new(clouds.first().copied().unwrap_or_default());
    let authority_host = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::new());
    let picker = RwSignal::new(false);
    let remove_setup_access = RwSignal::new(true);
    Effect::new(move |_| follow(org.get_value(), setup, current));

    let start = Action::new_local(move |request: &StartAutomaticSetupRequest| {
        let (id, request) = (org.get_value(), request.clone());
        async move { api::start_automatic_setup(&id, &request).await }
    });
    let answer = Action::new_local(move |request: &ConfirmAutomaticSetupRequest| {
        let (id, request) = (org.get_value(), request.clone());
        async move { api::answer_automatic_setup(&id, &request).await }
    });
    for action in [start.value(), answer.value()] {
        Effect::new(move |_| match action.get() {
            Some(Ok(state)) => {
                setup.set(state.setup);
                follow(org.get_value(), setup, current);
            }
            Some(Err(f)) => failure.set(Some(f)),
            None => {}
        });
    }
    let on_start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        failure.set(None);
        start.dispatch(StartAutomaticSetupRequest {
            cloud: cloud.get_untracked(),
            authority_host: authority_host.get_untracked(),
            tenant: tenant.get_untracked(),
            directory_picker: picker.get_untracked(),
        });
    };
    let reply = move |proceed: bool| {
        if let Some(s) = setup.get_untracked() {
            failure.set(None);
            answer.dispatch(ConfirmAutomaticSetupRequest {
                id: s.id,
                proceed,
                remove_setup_access: remove_setup_access.get_untracked(),
            });
        }
    };
    let stage = move || setup.with(|s| s.as_ref().map(|s| s.stage));
    let show_start = move || !stage().is_some_and(running);
    let cloud_choices = StoredValue::new(clouds.clone());
    let several = clouds.len() > 1;

    view! {
        <section class="card" aria-labelledby="step-automatic">
            <h2 id="step-automatic">"Steps 1 and 2 of 6: Let Gatehouse create the app in Entra"</h2>
            <p>"You sign in once at Microsoft's page with a code. Gatehouse then creates the app registration in your directory with only the permissions it needs, gives it a certificate it generates, and grants admin consent. Gatehouse never keeps your sign-in: it lets go of it when it is done, or after 15 minutes."</p>
            <p class="hint">"You need a Global Administrator (or an Application Administrator together with someone who may grant admin consent) of the directory."</p>
            <StepFailure failure step_fields=&["automatic", "confirm"] />
            <Show when=show_start>
                <form novalidate on:submit=on_start>
                    <Show when=move || several>
                        <div class="field">
                            <label for="automatic-cloud">"Cloud"</label>
                            <select id="automatic-cloud" on:change=move |ev| {
                                cloud.set(match event_target_value(&ev).as_str() {
                                    "us_government" => Cloud::UsGovernment,
                                    "china" => Cloud::China,
                                    "custom" => Cloud::Custom,
                                    _ => Cloud::Global,
                                });
                            }>
                                {cloud_choices.get_value().into_iter().map(|c| {
                                    let value = serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                                    view! { <option value=value selected=move || cloud.get() == c>{c.label()}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                    </Show>
                    <Show when=move || cloud.get() == Cloud::Custom>
                        <TextField id="automatic-authority" label="Authority host" input_type="url"
                            hint="The sign-in host of your cloud."
                            value=authority_host error=field_error(failure, "authority_host") />
                    </Show>
                    <TextField id="automatic-tenant" label="Directory (optional)" required=false
                        hint="Your directory's domain (such as contoso.com) or its Directory (tenant) ID. Leave it empty and Gatehouse finds it from your sign-in, then asks you to confirm."
                        value=tenant error=field_error(failure, "tenant") />
                    <div class="choice">
                        <input type="checkbox" id="automatic-picker" prop:checked=move || picker.get()
                            on:change=move |ev| picker.set(event_target_checked(&ev)) />
                        <label for="automatic-picker">"Also let Gatehouse read your directory's users (Microsoft Graph User.Read.All), for the member picker"</label>
                        <p class="hint">"Off by default: without it you map members by pasting Object IDs or with a CSV file. It asks for one more permission at sign-in (AppRoleAssignment.ReadWrite.All)."</p>
                    </div>
                    <button type="submit" class="primary" disabled=move || start.pending().get()>
                        {move || if start.pending().get() { "Asking Microsoft for a code…" } else { "Sign in with Microsoft" }}
                    </button>
                </form>
            </Show>
            {move || setup.get().map(|s| view! { <Progress setup=s reply remove_setup_access manual /> })}
        </section>
    }
}

#[component]
fn Progress(
    setup: AutomaticSetupView,
    reply: impl Fn(bool) + Copy + Send + Sync + 'static,
    remove_setup_access: RwSignal<bool>,
    manual: Callback<()>,
) -> impl IntoView {
    let message = setup.message.clone();
    let stage = setup.stage;
    let code = (stage == AutomaticSetupStage::SignIn).then(|| {
        let uri = setup.verification_uri.clone().unwrap_or_default();
        view! {
            <div id="automatic-code">
                <p>"Open Microsoft's sign-in page, enter this code, and sign in with an admin account of your directory:"</p>
                <CopyValue label="Code" value=setup.user_code.clone().unwrap_or_default() />
                <CopyValue label="Sign-in page" value=uri.clone() />
                <p><a class="button" href=uri target="_blank" rel="noopener">"Open the sign-in page"</a></p>
                <p id="automatic-countdown">
                    {setup.code_seconds_left.map(|s| format!("The code works for {} more minutes. Waiting for your sign-in…", minutes(s)))}
                </p>
                <button type="button" on:click=move |_| reply(false)>"Cancel"</button>
            </div>
        }
    });
    let confirm = (stage == AutomaticSetupStage::Confirm)
        .then(|| setup.directory.clone())
        .flatten()
        .map(|d| {
            let name = d.name.clone();
            view! {
                <div id="automatic-confirm">
                    <h3>"Is this the right directory?"</h3>
                    <p>"You signed in "{d.admin.map(|a| format!("as {a} "))}"to "<strong id="automatic-directory">{d.name.clone()}</strong>" (Directory ID "<code>{d.tenant_id}</code>")."</p>
                    <p>"Its verified domains: "<span id="automatic-domains">{d.domains.join(", ")}</span>"."</p>
                    <p class="hint">"If you manage several directories (for customers, or as a guest), check this is the one whose people will sign in."</p>
                    <div class="choice">
                        <input type="checkbox" id="remove-setup-access" prop:checked=move || remove_setup_access.get()
                            on:change=move |ev| remove_setup_access.set(event_target_checked(&ev)) />
                        <label for="remove-setup-access">"When done, remove Gatehouse setup's own access from the directory (recommended: nothing standing is left behind)"</label>
                    </div>
                    <button type="button" class="primary" on:click=move |_| reply(true)>{format!("Create the app in {name}")}</button>
                    <button type="button" on:click=move |_| reply(false)>"No, stop"</button>
                </div>
            }
        });
    let failed = matches!(stage, AutomaticSetupStage::Failed);
    view! {
        {code}
        {confirm}
        {(!setup.steps.is_empty()).then(|| view! {
            <ol id="automatic-steps" aria-label="What Gatehouse did">
                {setup.steps.into_iter().map(|s| view! {
                    <li class=if s.done { "check check-passed" } else { "check" }>
                        {if s.done { "Done: " } else { "Working: " }}{s.label}
                    </li>
                }).collect_view()}
            </ol>
        })}
        {message.map(|m| {
            let class = if failed { "banner banner-error" } else { "banner" };
            view! { <p class=class role=if failed { "alert" } else { "status" } id="automatic-message">{m}</p> }
        })}
        {(!setup.leftovers.is_empty()).then(|| view! {
            <p>"Gatehouse could not remove these from your directory; delete them there:"</p>
            <ul id="automatic-leftovers">{setup.leftovers.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
        })}
        {failed.then(|| view! {
            <p><button type="button" on:click=move |_| manual.run(())>"Set up manually instead"</button></p>
        })}
    }
}
