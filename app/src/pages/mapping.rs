//! The console's tools for mapping members to directory users: the directory picker, adding
//! members from the directory, suggestions to confirm, CSV import and export, and the health
//! of the mapping on the overview.

use crate::api::{self, ApiFailure};
use crate::components::{chosen_file_text, ErrorBanner};
use crate::pages::short_time;
use crate::types::*;
use leptos::prelude::*;

/// Searches the directory by the start of a name, UPN or mail and offers each user found with a
/// button; `action_label` names what picking does.
#[component]
pub fn DirectoryPicker(
    org_id: String,
    /// Element id prefix, unique on the page.
    id: &'static str,
    label: &'static str,
    action_label: &'static str,
    on_pick: Callback<DirectoryUserView>,
) -> impl IntoView {
    let org_id = StoredValue::new(org_id);
    let text = RwSignal::new(String::new());
    let search = Action::new_local(move |text: &String| {
        let (org, text) = (org_id.get_value(), text.clone());
        async move { api::search_directory(&org, &text).await }
    });
    let input_id = format!("{id}-search");
    let results_id = format!("{id}-results");
    view! {
        <form class="inline-form" role="search" on:submit=move |ev| {
            ev.prevent_default();
            search.dispatch(text.get_untracked());
        }>
            <label for=input_id.clone()>{label}</label>
            <input id=input_id.clone() type="search" bind:value=text autocomplete="off"
                aria-controls=results_id.clone() />
            <button type="submit" disabled=move || search.pending().get()>"Search the directory"</button>
        </form>
        <div id=results_id aria-live="polite">
            {move || match search.value().get() {
                None => ().into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(found)) if found.access != DirectoryAccess::Readable => view! {
                    <p class="banner banner-warning" role="alert">{found.message.unwrap_or_default()}</p>
                }.into_any(),
                Some(Ok(found)) if found.users.is_empty() => view! {
                    <p>"No directory user starts with this name, UPN or mail."</p>
                }.into_any(),
                Some(Ok(found)) => view! {
                    <ul class="picker-results">
                        {found.users.into_iter().map(|user| {
                            let label = format!("{action_label} {}", user.display_name);
                            let picked = user.clone();
                            view! {
                                <li>
                                    <span>{user.display_name.clone()}" · "
                                        {user.user_principal_name.clone().unwrap_or_default()}
                                        {user.mapped_to.as_ref().map(|m| format!(" · mapped to {}", m.display_name))}
                                    </span>
                                    <button type="button" aria-label=label
                                        on:click=move |_| on_pick.run(picked.clone())>{action_label}</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </div>
    }
}

/// Adding members from the directory, and suggestions to confirm.
#[component]
pub fn DirectoryTools(org_id: String, on_change: Callback<()>) -> impl IntoView {
    let org = StoredValue::new(org_id.clone());
    let status = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let add = Action::new_local(move |object_id: &String| {
        let (org, object_id) = (org.get_value(), object_id.clone());
        async move { api::add_from_directory(&org, vec![object_id]).await }
    });
    Effect::new(move |_| match add.value().get() {
        Some(Ok(result)) => {
            let mut said: Vec<String> = result
                .added
                .iter()
                .map(|m| format!("{} added and mapped.", m.display_name))
                .collect();
            said.extend(
                result
                    .skipped
                    .iter()
                    .map(|s| format!("{} not added: {}", s.name, s.reason)),
            );
            status.set(Some(said.join(" ")));
            on_change.run(());
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    // Suggestions: the admin reviews them and confirms some or all in one action.
    let suggestions = Action::new_local(move |_: &()| {
        let org = org.get_value();
        async move { api::suggestions(&org).await }
    });
    let chosen = RwSignal::new(Vec::<SuggestionChoice>::new());
    let confirm = Action::new_local(move |choices: &Vec<SuggestionChoice>| {
        let (org, choices) = (org.get_value(), choices.clone());
        async move { api::confirm_suggestions(&org, choices).await }
    });
    Effect::new(move |_| match confirm.value().get() {
        Some(Ok(result)) => {
            let mut said = format!("{} members mapped.", result.mapped);
            for s in &result.skipped {
                said.push(' ');
                said.push_str(s);
            }
            status.set(Some(said));
            chosen.set(Vec::new());
            suggestions.dispatch(());
            on_change.run(());
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    let is_chosen =
        move |member_id: &str| chosen.with(|c| c.iter().any(|x| x.member_id == member_id));

    view! {
        <section class="card" aria-labelledby="directory-heading">
            <h2 id="directory-heading">"Map from the directory"</h2>
            <p role="status" id="directory-status">{move || status.get()}</p>
            <ErrorBanner failure />
            <h3>"Add members from the directory"</h3>
            <DirectoryPicker org_id=org_id.clone() id="add-from-directory"
                label="Find directory users to add" action_label="Add"
                on_pick=Callback::new(move |user: DirectoryUserView| {
                    failure.set(None);
                    add.dispatch(user.id);
                }) />
            <h3>"Suggestions"</h3>
            <p class="hint">"Directory users whose UPN or mail equals an unmapped member's email. Nothing is mapped until you confirm."</p>
            <button type="button" disabled=move || suggestions.pending().get()
                on:click=move |_| { failure.set(None); suggestions.dispatch(()); }>"Find suggestions"</button>
            {move || match suggestions.value().get() {
                None => ().into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(found)) if found.access != DirectoryAccess::Readable => view! {
                    <p class="banner banner-warning" role="alert">{found.message.unwrap_or_default()}</p>
                }.into_any(),
                Some(Ok(found)) if found.suggestions.is_empty() => view! {
                    <p id="suggestions-none">"No suggestions: every member whose email matches a directory user is mapped."</p>
                }.into_any(),
                Some(Ok(found)) => {
                    let all: Vec<SuggestionChoice> = found.suggestions.iter().map(|s| SuggestionChoice {
                        member_id: s.member_id.clone(),
                        object_id: s.object_id.clone(),
                    }).collect();
                    let total = found.total;
                    view! {
                        <div class="table-scroll">
                        <table>
                            <caption>{format!("{total} suggestions")}</caption>
                            <thead><tr>
                                <th scope="col">"Confirm"</th>
                                <th scope="col">"Member"</th>
                                <th scope="col">"Directory user"</th>
                                <th scope="col">"Matched on"</th>
                            </tr></thead>
                            <tbody>
                                {found.suggestions.into_iter().map(|s| {
                                    let choice = SuggestionChoice { member_id: s.member_id.clone(), object_id: s.object_id.clone() };
                                    let member_id = s.member_id.clone();
                                    let label = format!("Map {} to {}", s.member_name, s.directory_name);
                                    view! {
                                        <tr>
                                            <td><input type="checkbox" aria-label=label
                                                prop:checked=move || is_chosen(&member_id)
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    let choice = choice.clone();
                                                    chosen.update(|c| {
                                                        c.retain(|x| x.member_id != choice.member_id);
                                                        if on { c.push(choice); }
                                                    });
                                                } /></td>
                                            <td>{s.member_name.clone()}" · "{s.member_email.clone()}</td>
                                            <td>{s.directory_name.clone()}" · "{s.user_principal_name.clone().unwrap_or_default()}
                                                <br /><code>{s.object_id.clone()}</code></td>
                                            <td>{if s.matched_on == "upn" { "UPN" } else { "mail" }}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        <button type="button" on:click=move |_| chosen.set(all.clone())>"Select all"</button>
                        <button type="button" class="primary"
                            disabled=move || chosen.with(Vec::is_empty) || confirm.pending().get()
                            on:click=move |_| { failure.set(None); confirm.dispatch(chosen.get_untracked()); }>
                            {move || format!("Confirm {} selected", chosen.with(Vec::len))}
                        </button>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// Asks for the import until it stops checking or applying.
fn follow_import(
    org: String,
    id: String,
    current: RwSignal<Option<MemberImport>>,
    failure: RwSignal<Option<ApiFailure>>,
    on_applied: Callback<()>,
) {
    leptos::task::spawn_local(async move {
        match api::member_import(&org, &id).await {
            Ok(view) => {
                let busy = matches!(view.stage, ImportStage::Checking | ImportStage::Applying);
                if view.stage == ImportStage::Applied {
                    on_applied.run(());
                }
                current.set(Some(view));
                if busy {
                    set_timeout(
                        move || follow_import(org, id, current, failure, on_applied),
                        std::time::Duration::from_millis(300),
                    );
                }
            }
            Err(f) => failure.set(Some(f)),
        }
    });
}

/// CSV import (preview, then apply) and export.
#[component]
pub fn ImportExport(org_id: String, on_change: Callback<()>) -> impl IntoView {
    let org = StoredValue::new(org_id.clone());
    let current = RwSignal::new(None::<MemberImport>);
    let failure = RwSignal::new(None::<ApiFailure>);
    let file_problem = RwSignal::new(None::<String>);
    let upload = Action::new_local(move |_: &()| {
        let org = org.get_value();
        async move {
            match chosen_file_text(
                "import-file",
                IMPORT_MAX_BYTES,
                "Choose a CSV file first.",
                &format!(
                    "This file is larger than {} MB. Split it into smaller files.",
                    IMPORT_MAX_BYTES / (1024 * 1024)
                ),
            )
            .await
            {
                Ok(text) => Some(api::start_import(&org, text).await),
                Err(message) => {
                    file_problem.set(Some(message));
                    None
                }
            }
        }
    });
    Effect::new(move |_| match upload.value().get() {
        Some(Some(Ok(started))) => {
            let id = started.id.clone();
            current.set(Some(started));
            follow_import(org.get_value(), id, current, failure, on_change);
        }
        Some(Some(Err(f))) => failure.set(Some(f)),
        _ => {}
    });
    let confirm_promotions = RwSignal::new(false);
    let apply = Action::new_local(move |id: &String| {
        let (org, id) = (org.get_value(), id.clone());
        let request = ApplyImportRequest {
            confirm_promotions: confirm_promotions.get_untracked(),
        };
        async move { api::apply_import(&org, &id, &request).await }
    });
    Effect::new(move |_| match apply.value().get() {
        Some(Ok(applying)) => {
            let id = applying.id.clone();
            current.set(Some(applying));
            follow_import(org.get_value(), id, current, failure, on_change);
        }
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });

    view! {
        <section class="card" aria-labelledby="import-heading">
            <h2 id="import-heading">"Import and export"</h2>
            <p><a id="export-members" href=api::members_export_url(&org_id) download="members.csv">
                "Export every member with their mapping (CSV)"</a></p>
            <ErrorBanner failure />
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                failure.set(None);
                file_problem.set(None);
                current.set(None);
                upload.dispatch(());
            }>
                <div class="field">
                    <label for="import-file">"Members CSV file"</label>
                    <p class="hint" id="import-file-hint">
                        {format!("Columns: {}. Up to {} rows. Nothing changes until you apply the preview.",
                            MEMBER_CSV_COLUMNS.join(", "), IMPORT_MAX_ROWS)}
                    </p>
                    <input id="import-file" type="file" accept=".csv,text/csv"
                        aria-describedby="import-file-hint import-file-error" />
                    <p class="field-error" id="import-file-error" role="alert">{move || file_problem.get()}</p>
                </div>
                <button type="submit" disabled=move || upload.pending().get()>"Check the file"</button>
            </form>
            {move || current.get().map(|import| {
                let busy = matches!(import.stage, ImportStage::Checking | ImportStage::Applying);
                let id = import.id.clone();
                view! {
                    <div id="import-result" aria-live="polite">
                        {busy.then(|| view! {
                            <p>
                                <label for="import-progress">{if import.stage == ImportStage::Checking { "Checking rows" } else { "Applying" }}</label>" "
                                <progress id="import-progress" max=import.rows_total.max(1) value=import.rows_done></progress>
                                {format!(" {} of {} rows", import.rows_done, import.rows_total)}
                            </p>
                        })}
                        {(!busy).then(|| view! {
                            <p id="import-counts">{match import.stage {
                                ImportStage::Applied => format!("Imported: {} created, {} updated, {} unchanged.", import.to_create, import.to_update, import.unchanged),
                                ImportStage::Ready => format!("Preview: {} to create, {} to update, {} unchanged.", import.to_create, import.to_update, import.unchanged),
                                _ => format!("{} rows checked.", import.rows_total),
                            }}</p>
                        })}
                        {import.message.clone().map(|m| view! { <p class="banner banner-error" role="alert" id="import-message">{m}</p> })}
                        {(!import.problems.is_empty()).then(|| view! {
                            <div class="table-scroll">
                            <table id="import-problems">
                                <caption>{format!("{} problems", import.problem_count)}</caption>
                                <thead><tr><th scope="col">"Line"</th><th scope="col">"Column"</th><th scope="col">"Problem"</th></tr></thead>
                                <tbody>
                                    {import.problems.iter().map(|p| view! {
                                        <tr><td>{p.line}</td><td>{p.column.clone()}</td><td>{p.message.clone()}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        })}
                        {(import.stage == ImportStage::Ready && import.promotions > 0).then(|| view! {
                            <div class="choice">
                                <input type="checkbox" id="confirm-promotions"
                                    prop:checked=move || confirm_promotions.get()
                                    on:change=move |ev| confirm_promotions.set(event_target_checked(&ev)) />
                                <label for="confirm-promotions">{if import.promotions == 1 {
                                    "Make 1 member who signs in with the directory an admin".to_string()
                                } else {
                                    format!("Make {} members who sign in with the directory admins", import.promotions)
                                }}</label>
                                <p class="hint">"Admins reach this console. Check the file's role column if this is not intended."</p>
                            </div>
                        })}
                        {(import.stage == ImportStage::Ready).then(|| {
                            let needs = import.promotions > 0;
                            view! {
                                <button type="button" class="primary"
                                    disabled=move || apply.pending().get() || (needs && !confirm_promotions.get())
                                    on:click=move |_| { apply.dispatch(id.clone()); }>"Apply the import"</button>
                            }
                        })}
                    </div>
                }
            })}
        </section>
    }
}

/// Counts of mapped, unmapped and stale mappings, for the overview.
#[component]
pub fn MappingHealthCard(health: Resource<api::ApiResult<MappingHealth>>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="mapping-health-heading">
            <h2 id="mapping-health-heading">"Mapping"</h2>
            {move || match health.get() {
                None => view! { <p aria-busy="true">"Counting…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(h)) => view! {
                    <dl class="facts" id="mapping-health">
                        <dt>"Mapped"</dt><dd id="mapping-mapped">{h.mapped}</dd>
                        <dt>"Not mapped"</dt><dd id="mapping-unmapped">{h.unmapped}</dd>
                        <dt>"Stale (gone from the directory)"</dt>
                        <dd id="mapping-stale">{match h.stale {
                            Some(n) => n.to_string(),
                            None => "unknown".to_string(),
                        }}</dd>
                    </dl>
                    {h.checked_at.map(|t| view! { <p class="hint">"Directory read "{short_time(&t)}"."</p> })}
                    {h.message.map(|m| view! { <p class="banner banner-warning">{m}</p> })}
                }.into_any(),
            }}
        </section>
    }
}
