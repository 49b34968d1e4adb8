use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Gatehouse"</h1>
            <p>"Single sign-on for your organization with Microsoft Entra ID."</p>
            <p><a class="button" href="/signin">"Sign in"</a></p>
        </section>
    }
}
