use crate::api::{self, ApiFailure};
use crate::components::{field_error, CopyValue, ErrorBanner, Pager, TextField};
use crate::pages::console::CurrentUser;
use crate::pages::mapping::{DirectoryPicker, DirectoryTools, ImportExport, MappingHealthCard};
use crate::pages::short_time;
use crate::types::*;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

/// One organization: its members, and for operators renaming, inviting admins and deleting.
#[component]
pub fn OrganizationPage() -> impl IntoView {
    let params = use_params_map();
    let org_id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let CurrentUser(me) = expect_context::<CurrentUser>();
    let is_operator =
        move || me.with(|m| m.as_ref().map(|m| m.kind) == Some(AccountKind::Operator));
    // Everything the page loads is created here, once, so that the server (which renders it
    // with its data) and the browser (which takes that data over) make the same resources in
    // the same order.
    let org = Resource::new(
        move || org_id.get(),
        |id| async move { api::organization(&id).await },
    );
    let connection = Resource::new(
        move || org_id.get(),
        |id| async move { api::connection(&id).await },
    );
    let health = Resource::new(
        move || org_id.get(),
        |id| async move { api::mapping_health(&id).await },
    );
    let applications = Resource::new(
        move || org_id.get(),
        |id| async move { api::applications_used(&id).await },
    );
    let links = is_operator().then(|| {
        Resource::new(
            move || org_id.get(),
            |id| async move { api::setup_links(&id).await },
        )
    });
    let query = MembersQuery::default();
    let members = Resource::new(
        move || {
            (
                org_id.get(),
                query.search.get(),
                query.filter.get(),
                query.sort.get(),
                query.page.get(),
            )
        },
        |(id, q, f, s, p)| async move { api::list_members(&id, &q, f, s, p).await },
    );

    view! {
        <Transition fallback=|| view! { <p aria-busy="true">"Loading the organization…"</p> }>
        {move || match org.get() {
            None => view! { <p aria-busy="true">"Loading the organization…"</p> }.into_any(),
            Some(Err(f)) => view! {
                <section class="card">
                    <h1>"Organization"</h1>
                    <p class="banner banner-error" role="alert">{f.detail.message}</p>
                </section>
            }.into_any(),
            Some(Ok(o)) => {
                let tools_org = o.clone();
                let members_org_id = o.id.clone();
                view! {
                <section class="card">
                    <h1>{o.name.clone()}</h1>
                    <p>"Slug: "<code>{o.slug.clone()}</code>" · "
                        <a href=format!("/console/orgs/{}/audit", o.id)>"Audit log"</a>
                    </p>
                </section>
                <ConnectionCard org_id=o.id.clone() connection />
                <MappingHealthCard health />
                <ApplicationsUsed applications operator=is_operator() />
                {links.map(|links| view! {
                    <OperatorTools org=tools_org.clone() links on_change=move || org.refetch() />
                })}
                <MembersPanel org_id=members_org_id.clone() query members />
            }.into_any()},
        }}
        </Transition>
    }
}

/// The vendor's applications this organization's people signed in to through Gatehouse.
#[component]
fn ApplicationsUsed(
    applications: Resource<api::ApiResult<Vec<ApplicationUse>>>,
    operator: bool,
) -> impl IntoView {
    move || {
        applications.get().and_then(Result::ok).map(|used| view! {
            <section class="card" id="applications-used">
                <h2>"Applications"</h2>
                {if used.is_empty() {
                    view! { <p>"Nobody here has signed in to the vendor's applications yet."</p> }.into_any()
                } else {
                    view! {
                        <table>
                            <caption class="visually-hidden">"Applications people signed in to"</caption>
                            <thead><tr>
                                <th scope="col">"Application"</th>
                                <th scope="col">"People"</th>
                                <th scope="col">"Last sign-in"</th>
                            </tr></thead>
                            <tbody>
                                {used.into_iter().map(|u| view! {
                                    <tr>
                                        <td>{if operator {
                                            view! { <a href=format!("/console/applications/{}", u.application_id)>{u.name.clone()}</a> }.into_any()
                                        } else {
                                            u.name.clone().into_any()
                                        }}</td>
                                        <td>{u.people}</td>
                                        <td>{short_time(&u.last_used_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
        })
    }
}

/// The members list's search, filter, order and page.
#[derive(Clone, Copy)]
struct MembersQuery {
    search: RwSignal<String>,
    filter: RwSignal<MemberFilter>,
    sort: RwSignal<MemberSort>,
    page: RwSignal<i64>,
}

impl Default for MembersQuery {
    fn default() -> Self {
        MembersQuery {
            search: RwSignal::new(String::new()),
            filter: RwSignal::new(MemberFilter::All),
            sort: RwSignal::new(MemberSort::Name),
            page: RwSignal::new(1),
        }
    }
}

#[component]
fn OperatorTools(
    org: Organization,
    links: Resource<api::ApiResult<Vec<SetupLink>>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let org_id = org.id.clone();
    let new_name = RwSignal::new(org.name.clone());
    let rename_failure = RwSignal::new(None::<ApiFailure>);
    let rename = Action::new_local(move |(id, name): &(String, String)| {
        let (id, request) = (id.clone(), RenameOrganizationRequest { name: name.clone() });
        async move { api::rename_organization(&id, &request).await }
    });
    Effect::new(move |_| match rename.value().get() {
        Some(Ok(_)) => on_change(),
        Some(Err(f)) => rename_failure.set(Some(f)),
        None => {}
    });

    let invite_email = RwSignal::new(String::new());
    let invite_failure = RwSignal::new(None::<ApiFailure>);
    let invite = Action::new_local(move |(id, email, confirm): &(String, String, bool)| {
        let (id, request) = (
            id.clone(),
            CreateInviteRequest {
                email: email.clone(),
                confirm_promotion: *confirm,
            },
        );
        async move { api::create_invite(&id, &request).await }
    });
    // The invitee signs in with the directory today: the operator confirms before inviting.
    let needs_confirmation =
        move || invite_failure.with(|f| f.as_ref().is_some_and(|f| f.status == 409));
    Effect::new(move |_| {
        if let Some(Err(f)) = invite.value().get() {
            invite_failure.set(Some(f))
        }
    });

    let confirm_delete = RwSignal::new(false);
    let delete_failure = RwSignal::new(None::<ApiFailure>);
    let delete = Action::new_local(|id: &String| {
        let id = id.clone();
        async move { api::delete_organization(&id).await }
    });
    let navigate = use_navigate();
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(())) => navigate("/console", Default::default()),
        Some(Err(f)) => delete_failure.set(Some(f)),
        None => {}
    });

    let (rename_id, invite_id, delete_id) = (org_id.clone(), org_id.clone(), org_id.clone());
    let confirm_id = StoredValue::new(org_id.clone());
    let org_name = org.name.clone();
    view! {
        <section class="card">
            <h2>"Invite an admin"</h2>
            <p>"The invitee gets a link, valid for 7 days and usable once, to set a name and password."</p>
            <ErrorBanner failure=invite_failure />
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                invite_failure.set(None);
                invite.dispatch((invite_id.clone(), invite_email.get_untracked(), false));
            }>
                <TextField id="invite-email" label="Admin's email" input_type="email"
                    value=invite_email error=field_error(invite_failure, "email") />
                <button type="submit" disabled=move || invite.pending().get()>"Create invite link"</button>
            </form>
            <Show when=needs_confirmation>
                <button type="button" id="invite-confirm" disabled=move || invite.pending().get()
                    on:click=move |_| {
                        invite_failure.set(None);
                        invite.dispatch((confirm_id.get_value(), invite_email.get_untracked(), true));
                    }>
                    "Invite them anyway: they become an admin"
                </button>
            </Show>
            {move || match invite.value().get() {
                Some(Ok(created)) => view! {
                    <div class="banner banner-ok" role="status">
                        <p>"Send this link to "{created.email.clone()}". It is shown only once."</p>
                        <CopyValue label="Invite link" value=created.invite_url.clone() />
                    </div>
                }.into_any(),
                _ => ().into_any(),
            }}
        </section>
        <SetupLinks org_id=org_id links />
        <section class="card">
            <h2>"Rename"</h2>
            <ErrorBanner failure=rename_failure />
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                rename_failure.set(None);
                rename.dispatch((rename_id.clone(), new_name.get_untracked()));
            }>
                <TextField id="rename" label="Organization name" value=new_name
                    error=field_error(rename_failure, "name") />
                <button type="submit">"Rename"</button>
            </form>
        </section>
        <section class="card danger">
            <h2>"Delete this organization"</h2>
            <ErrorBanner failure=delete_failure />
            <Show when=move || confirm_delete.get()
                fallback=move || view! {
                    <button type="button" class="danger" on:click=move |_| confirm_delete.set(true)>
                        "Delete organization…"
                    </button>
                }>
                <p role="alert">
                    "Delete “"{org_name.clone()}"” with all its members? This cannot be undone."
                </p>
                <button type="button" class="danger" on:click={
                    let id = delete_id.clone();
                    move |_| { delete.dispatch(id.clone()); }
                }>"Yes, delete it"</button>
                <button type="button" on:click=move |_| confirm_delete.set(false)>"Cancel"</button>
            </Show>
        </section>
    }
}

#[component]
fn MembersPanel(
    org_id: String,
    query: MembersQuery,
    members: Resource<api::ApiResult<Page<Member>>>,
) -> impl IntoView {
    let org_id = StoredValue::new(org_id);
    let MembersQuery {
        search,
        filter,
        sort,
        page,
    } = query;

    // Adding a member.
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let role = RwSignal::new(MemberRole::Member);
    let add_failure = RwSignal::new(None::<ApiFailure>);
    let added = RwSignal::new(None::<String>);
    let add = Action::new_local(move |request: &CreateMemberRequest| {
        let request = request.clone();
        let id = org_id.get_value();
        async move { api::create_member(&id, &request).await }
    });
    Effect::new(move |_| match add.value().get() {
        Some(Ok(m)) => {
            added.set(Some(format!("{} added.", m.display_name)));
            email.set(String::new());
            display_name.set(String::new());
            members.refetch();
        }
        Some(Err(f)) => add_failure.set(Some(f)),
        None => {}
    });

    // Editing one member.
    let editing = RwSignal::new(None::<Member>);
    let edit_name = RwSignal::new(String::new());
    let edit_email = RwSignal::new(String::new());
    // Whether the member being edited has an email yet (one cannot be removed).
    let edit_had_email = RwSignal::new(false);
    let edit_role = RwSignal::new(MemberRole::Member);
    let edit_status = RwSignal::new(MemberStatus::Active);
    let edit_object_id = RwSignal::new(String::new());
    let edit_sso = RwSignal::new(false);
    let edit_failure = RwSignal::new(None::<ApiFailure>);
    let save = Action::new_local(
        move |(member_id, request): &(String, UpdateMemberRequest)| {
            let (member_id, request) = (member_id.clone(), request.clone());
            let id = org_id.get_value();
            async move { api::update_member(&id, &member_id, &request).await }
        },
    );
    Effect::new(move |_| match save.value().get() {
        Some(Ok(m)) => {
            added.set(Some(format!("{} saved.", m.display_name)));
            editing.set(None);
            members.refetch();
        }
        Some(Err(f)) => edit_failure.set(Some(f)),
        None => {}
    });
    // Mapping the member being edited to a directory user picked from the directory.
    let map = Action::new_local(move |(member_id, object_id): &(String, String)| {
        let (member_id, object_id) = (member_id.clone(), object_id.clone());
        let id = org_id.get_value();
        async move { api::map_to_directory_user(&id, &member_id, &object_id).await }
    });
    Effect::new(move |_| match map.value().get() {
        Some(Ok(m)) => {
            added.set(Some(format!(
                "{} mapped to {}.",
                m.display_name,
                m.directory_user_principal_name
                    .clone()
                    .or(m.directory_object_id.clone())
                    .unwrap_or_default()
            )));
            editing.set(None);
            members.refetch();
        }
        Some(Err(f)) => edit_failure.set(Some(f)),
        None => {}
    });
    let start_edit = move |m: Member| {
        edit_name.set(m.display_name.clone());
        edit_email.set(m.email.clone().unwrap_or_default());
        edit_had_email.set(m.email.is_some());
        edit_role.set(m.role);
        edit_status.set(m.status);
        edit_object_id.set(m.directory_object_id.clone().unwrap_or_default());
        edit_sso.set(m.sso_enabled);
        edit_failure.set(None);
        editing.set(Some(m));
    };

    view! {
        <section class="card">
            <h2>"Members"{move || members.get().and_then(Result::ok).map(|p| format!(" ({})", p.total))}</h2>
            <p role="status">{move || added.get()}</p>
            <form class="inline-form" role="search" on:submit=move |ev| { ev.prevent_default(); page.set(1); }>
                <label for="member-search">"Search members"</label>
                <input id="member-search" type="search" bind:value=search
                    aria-describedby="member-search-hint" />
                <span class="hint" id="member-search-hint">"Part of a name, email or UPN, or the start of an Object ID."</span>
                <label for="member-filter">"Show"</label>
                <select id="member-filter" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    filter.set(MemberFilter::ALL.into_iter().find(|f| f.as_str() == value).unwrap_or_default());
                    page.set(1);
                }>
                    {MemberFilter::ALL.into_iter().map(|f| view! {
                        <option value=f.as_str() selected=move || filter.get() == f>{f.label()}</option>
                    }).collect_view()}
                </select>
                <label for="member-sort">"Sort by"</label>
                <select id="member-sort" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    sort.set(MemberSort::ALL.into_iter().find(|s| s.as_str() == value).unwrap_or_default());
                    page.set(1);
                }>
                    {MemberSort::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || sort.get() == s>{s.label()}</option>
                    }).collect_view()}
                </select>
            </form>
            {move || match members.get() {
                None => view! { <p aria-busy="true">"Loading members…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(list)) if list.items.is_empty() => view! { <p>"No members match."</p> }.into_any(),
                Some(Ok(list)) => {
                    let count = list.page_count();
                    view! {
                        <div class="table-scroll">
                        <table>
                            <caption class="visually-hidden">"Members"</caption>
                            <thead><tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Email"</th>
                                <th scope="col">"Role"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Object ID"</th>
                                <th scope="col">"SSO"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {list.items.into_iter().map(|m| {
                                    let label = format!("Edit {}", m.display_name);
                                    let row = m.clone();
                                    view! {
                                        <tr>
                                            <td>{m.display_name}</td>
                                            <td>{m.email.unwrap_or_else(|| "—".into())}</td>
                                            <td>{m.role.as_str()}</td>
                                            <td>{m.status.as_str()}</td>
                                            <td><code>{m.directory_object_id.clone().unwrap_or_else(|| "not mapped".into())}</code></td>
                                            <td>{if m.sso_enabled { "enabled" } else { "—" }}
                                                {m.last_sso_sign_in_at.clone().map(|t| format!(" · last {}", crate::pages::short_time(&t)))}</td>
                                            <td><button type="button" aria-label=label
                                                on:click=move |_| start_edit(row.clone())>"Edit"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        <Pager page page_count=Signal::derive(move || count) />
                    }.into_any()
                }
            }}
        </section>
        {move || editing.get().map(|m| {
            let member_id = m.id.clone();
            let pick_member_id = m.id.clone();
            view! {
                <section class="card" aria-labelledby="edit-heading">
                    <h2 id="edit-heading">"Edit "{m.display_name.clone()}</h2>
                    <ErrorBanner failure=edit_failure />
                    <form novalidate on:submit=move |ev| {
                        ev.prevent_default();
                        edit_failure.set(None);
                        save.dispatch((member_id.clone(), UpdateMemberRequest {
                            email: {
                                let typed = edit_email.get_untracked();
                                (edit_had_email.get_untracked() || !typed.trim().is_empty()).then_some(typed)
                            },
                            display_name: Some(edit_name.get_untracked()),
                            role: Some(edit_role.get_untracked()),
                            status: Some(edit_status.get_untracked()),
                            sso_enabled: Some(edit_sso.get_untracked()),
                            directory_object_id: Some(edit_object_id.get_untracked()),
                        }));
                    }>
                        <TextField id="edit-email" label="Email"
                            input_type="email" value=edit_email error=field_error(edit_failure, "email") />
                        <TextField id="edit-display-name" label="Display name" value=edit_name
                            error=field_error(edit_failure, "display_name") />
                        <RoleSelect id="edit-role" role=edit_role />
                        <div class="field">
                            <label for="edit-status">"Status"</label>
                            <select id="edit-status" on:change=move |ev| {
                                edit_status.set(if event_target_value(&ev) == "disabled" {
                                    MemberStatus::Disabled
                                } else {
                                    MemberStatus::Active
                                });
                            }>
                                <option value="active" selected=move || edit_status.get() == MemberStatus::Active>"Active"</option>
                                <option value="disabled" selected=move || edit_status.get() == MemberStatus::Disabled>"Disabled"</option>
                            </select>
                        </div>
                        <TextField id="edit-object-id" label="Object ID in the directory (a GUID from the user's page in Entra; empty to unmap)"
                            value=edit_object_id error=field_error(edit_failure, "directory_object_id") />
                        <div class="field checkbox">
                            <input id="edit-sso-enabled" type="checkbox"
                                prop:checked=move || edit_sso.get()
                                on:change=move |ev| edit_sso.set(event_target_checked(&ev)) />
                            <label for="edit-sso-enabled">"SSO enabled (counts when SSO is on for selected members only)"</label>
                        </div>
                        <button type="submit" disabled=move || save.pending().get()>"Save member"</button>
                        <button type="button" on:click=move |_| editing.set(None)>"Cancel"</button>
                    </form>
                    <h3>"Or pick the directory user"</h3>
                    <DirectoryPicker org_id=org_id.get_value() id="edit-directory"
                        label="Find the directory user by name, UPN or mail" action_label="Map to"
                        on_pick=Callback::new({
                            let member_id = pick_member_id.clone();
                            move |user: DirectoryUserView| {
                                edit_failure.set(None);
                                map.dispatch((member_id.clone(), user.id));
                            }
                        }) />
                </section>
            }
        })}
        <section class="card">
            <h2>"Add a member"</h2>
            <ErrorBanner failure=add_failure />
            <form novalidate on:submit=move |ev| {
                ev.prevent_default();
                add_failure.set(None);
                added.set(None);
                add.dispatch(CreateMemberRequest {
                    email: email.get_untracked(),
                    display_name: display_name.get_untracked(),
                    role: role.get_untracked(),
                });
            }>
                <TextField id="member-email" label="Email" input_type="email" value=email
                    error=field_error(add_failure, "email") />
                <TextField id="member-display-name" label="Display name" value=display_name
                    error=field_error(add_failure, "display_name") />
                <RoleSelect id="member-role" role />
                <button type="submit" disabled=move || add.pending().get()>"Add member"</button>
            </form>
        </section>
        <DirectoryTools org_id=org_id.get_value() on_change=Callback::new(move |_| members.refetch()) />
        <ImportExport org_id=org_id.get_value() on_change=Callback::new(move |_| members.refetch()) />
    }
}

#[component]
fn RoleSelect(id: &'static str, role: RwSignal<MemberRole>) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>"Role"</label>
            <select id=id on:change=move |ev| {
                role.set(if event_target_value(&ev) == "admin" { MemberRole::Admin } else { MemberRole::Member });
            }>
                <option value="member" selected=move || role.get() == MemberRole::Member>"Member"</option>
                <option value="admin" selected=move || role.get() == MemberRole::Admin>"Admin"</option>
            </select>
        </div>
    }
}

/// Where single sign-on stands, with the secret's expiry countdown.
#[component]
fn ConnectionCard(
    org_id: String,
    connection: Resource<api::ApiResult<ConnectionView>>,
) -> impl IntoView {
    let id = StoredValue::new(org_id);
    view! {
        <section class="card" aria-labelledby="sso-heading">
            <h2 id="sso-heading">"Single sign-on"</h2>
            {move || connection.get().map(|result| match result {
                Err(f) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Ok(c) => {
                    let status = c.status.label();
                    let serving = c.active.clone().or(c.draft.clone());
                    // Credentials near their expiry come from the server, which warns by the
                    // same rule; the lines below only say when each one expires.
                    let expiring = (!c.expiring.is_empty()).then(|| {
                        let items = c.expiring.iter().map(|e| {
                            let class = if e.days_left < 0 { "banner banner-error" } else { "banner banner-warning" };
                            view! { <p class=class>{e.warning()}</p> }
                        }).collect_view();
                        view! { <div id="org-sso-expiring" role="alert">{items}</div> }
                    });
                    let certificate = serving.as_ref().and_then(|s| s.saml.as_ref()).and_then(|saml| {
                        saml.certificates.iter().max_by_key(|c| c.days_left).cloned()
                    }).map(|c| {
                        let text = if c.days_left < 0 {
                            format!("SAML signing certificate {} expired on {}.", c.thumbprint, c.expires_on)
                        } else {
                            format!("SAML signing certificate {} expires on {} ({} days left).", c.thumbprint, c.expires_on, c.days_left)
                        };
                        view! { <p class="hint">{text}</p> }
                    });
                    let secret = serving.and_then(|s| s.secret).map(|s| {
                        let text = if s.days_left < 0 {
                            format!("Client secret …{} expired on {}.", s.last4, s.expires_on)
                        } else {
                            format!("Client secret …{} expires on {} ({} days left).", s.last4, s.expires_on, s.days_left)
                        };
                        view! { <p class="hint">{text}</p> }
                    });
                    let action = if c.status == ConnectionStatus::None { "Set up single sign-on" } else { "Open single sign-on settings" };
                    let last_sign_in = (c.status != ConnectionStatus::None).then(|| {
                        let text = c.last_sign_in_at.as_deref().map(crate::pages::short_time)
                            .unwrap_or_else(|| "none yet".into());
                        view! { <p>"Last successful sign-in: "<span id="org-sso-last-sign-in">{text}</span></p> }
                    });
                    let last_error = c.last_error.clone().map(|e| {
                        let at = c.last_error_at.as_deref().map(crate::pages::short_time).unwrap_or_default();
                        view! { <p class="hint">"Last error ("{at}"): "<span id="org-sso-last-error">{e}</span>
                            " · the audit log has each attempt."</p> }
                    });
                    let domains = (!c.domains.is_empty()).then(|| {
                        let items = c.domains.iter().map(|d| {
                            let class = match d.state {
                                DomainProofState::Proven => "hint",
                                _ => "banner banner-warning",
                            };
                            let id = format!("org-domain-{}", d.domain.replace('.', "-"));
                            view! { <li class=class id=id><strong>{d.domain.clone()}</strong>": "
                                {crate::pages::sso::proof_text(d)}</li> }
                        }).collect_view();
                        view! { <h3>"Email domains"</h3><ul class="domains">{items}</ul> }
                    });
                    view! {
                        {expiring}
                        <p>"Status: "<strong id="org-sso-status">{status}</strong></p>
                        {secret}
                        {certificate}
                        {last_sign_in}
                        {last_error}
                        {domains}
                        <p><a class="button" href=format!("/console/orgs/{}/sso", id.get_value())>{action}</a></p>
                    }.into_any()
                }
            })}
        </section>
    }
}

/// Setup links: handed to a customer, each opens the SSO wizard of this organization only.
#[component]
fn SetupLinks(org_id: String, links: Resource<api::ApiResult<Vec<SetupLink>>>) -> impl IntoView {
    let id = StoredValue::new(org_id);
    let failure = RwSignal::new(None::<ApiFailure>);
    let create = Action::new_local(move |_: &()| {
        let id = id.get_value();
        async move {
            api::create_setup_link(
                &id,
                &CreateSetupLinkRequest {
                    valid_days: Some(7),
                },
            )
            .await
        }
    });
    let revoke = Action::new_local(move |link_id: &String| {
        let (id, link_id) = (id.get_value(), link_id.clone());
        async move { api::revoke_setup_link(&id, &link_id).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => links.refetch(),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(())) => links.refetch(),
        Some(Err(f)) => failure.set(Some(f)),
        None => {}
    });
    view! {
        <section class="card">
            <h2>"Setup link"</h2>
            <p>"A setup link lets the customer's IT admin create their account and connect their directory, without a ticket. It works once, for 7 days."</p>
            <ErrorBanner failure />
            <button type="button" class="primary" disabled=move || create.pending().get()
                on:click=move |_| { failure.set(None); create.dispatch(()); }>"Create setup link"</button>
            {move || match create.value().get() {
                Some(Ok(created)) => view! {
                    <div class="banner banner-ok" role="status">
                        <p>"Send this link to the organization's IT admin. It is shown only once."</p>
                        <CopyValue label="Setup link" value=created.setup_url.clone() />
                    </div>
                }.into_any(),
                _ => ().into_any(),
            }}
            {move || links.get().and_then(Result::ok).filter(|l| !l.is_empty()).map(|list| view! {
                <table>
                    <caption class="visually-hidden">"Setup links"</caption>
                    <thead><tr>
                        <th scope="col">"Created"</th><th scope="col">"Expires"</th>
                        <th scope="col">"Status"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|l| {
                            let link_id = l.id.clone();
                            let open = l.status == "open";
                            let status = match l.used_by { Some(who) => format!("used by {who}"), None => l.status.clone() };
                            view! {
                                <tr>
                                    <td>{short_time(&l.created_at)}</td>
                                    <td>{short_time(&l.expires_at)}</td>
                                    <td>{status}</td>
                                    <td>{open.then(|| view! {
                                        <button type="button" on:click=move |_| { revoke.dispatch(link_id.clone()); }>"Revoke"</button>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}
