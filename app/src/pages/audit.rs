use crate::api;
use crate::components::Pager;
use crate::pages::short_time;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The organization's audit log, newest first.
#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_params_map();
    let org_id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let page = RwSignal::new(1_i64);
    let events = Resource::new(
        move || (org_id.get(), page.get()),
        |(id, p)| async move { api::audit_log(&id, p).await },
    );
    view! {
        <section class="card">
            <h1>"Audit log"</h1>
            <p><a href=move || format!("/console/orgs/{}", org_id.get())>"Back to the organization"</a></p>
            <Transition fallback=|| view! { <p aria-busy="true">"Loading events…"</p> }>
            {move || match events.get() {
                None => view! { <p aria-busy="true">"Loading events…"</p> }.into_any(),
                Some(Err(f)) => view! { <p class="banner banner-error" role="alert">{f.detail.message}</p> }.into_any(),
                Some(Ok(list)) => {
                    let count = list.page_count();
                    view! {
                        <table>
                            <caption class="visually-hidden">"Audit events, newest first"</caption>
                            <thead><tr>
                                <th scope="col">"When"</th>
                                <th scope="col">"Who"</th>
                                <th scope="col">"Action"</th>
                                <th scope="col">"Target"</th>
                                <th scope="col">"Outcome"</th>
                                <th scope="col">"From"</th>
                            </tr></thead>
                            <tbody>
                                {list.items.into_iter().map(|e| view! {
                                    <tr>
                                        <td>{short_time(&e.created_at)}</td>
                                        <td>{e.actor}</td>
                                        <td><code>{e.action}</code></td>
                                        <td>{e.target}</td>
                                        <td>{e.outcome}{(!e.detail.is_empty()).then(|| format!(" — {}", e.detail))}</td>
                                        <td>{e.client_addr}</td>
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
    }
}
