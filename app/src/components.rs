//! Small building blocks the pages share: labelled fields with their error, error banners,
//! pagers and copy buttons.

use crate::api::ApiFailure;
use leptos::prelude::*;

/// A labelled text input with its error message right below it, announced to screen readers.
#[component]
pub fn TextField(
    /// The element id; also the request field the server names in its errors.
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(default = true)] required: bool,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = {
        let error_id = error_id.clone();
        let hint_id = hint_id.clone();
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id
                name=id
                type=input_type
                autocomplete=autocomplete
                required=required
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=described_by
                bind:value=value
            />
            <p class="field-error" id=error_id role="alert">
                {move || error.get()}
            </p>
        </div>
    }
}

/// The field errors of the last failed submission, by field name.
pub fn field_error(
    failure: RwSignal<Option<ApiFailure>>,
    field: &'static str,
) -> Signal<Option<String>> {
    Signal::derive(move || failure.with(|f| f.as_ref().and_then(|f| f.field(field))))
}

/// A banner with the overall message of the last failed submission.
#[component]
pub fn ErrorBanner(failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    move || {
        failure.get().map(|f| {
            view! {
                <div class="banner banner-error" role="alert">
                    {f.detail.message}
                </div>
            }
        })
    }
}

/// Previous / next links for a paged list.
#[component]
pub fn Pager(page: RwSignal<i64>, #[prop(into)] page_count: Signal<i64>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            <button
                type="button"
                disabled=move || { page.get() <= 1 }
                on:click=move |_| page.update(|p| *p = (*p - 1).max(1))
            >
                "Previous"
            </button>
            <span aria-live="polite">
                {move || format!("Page {} of {}", page.get(), page_count.get())}
            </span>
            <button
                type="button"
                disabled=move || { page.get() >= page_count.get() }
                on:click=move |_| page.update(|p| *p += 1)
            >
                "Next"
            </button>
        </nav>
    }
}

/// A read-only value with a button that copies it to the clipboard.
#[component]
pub fn CopyValue(label: &'static str, value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let to_copy = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&to_copy);
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &to_copy;
    };
    view! {
        <div class="copy-value">
            <span class="copy-label">{label}</span>
            <code>{value}</code>
            <button type="button" on:click=copy aria-label=format!("Copy {label}")>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// Reads the text of the file chosen in the file input `input_id`; `missing` is what to say
/// when none is chosen, `too_large` when it is over `max_bytes`.
#[cfg(feature = "hydrate")]
pub async fn chosen_file_text(
    input_id: &str,
    max_bytes: usize,
    missing: &str,
    too_large: &str,
) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    let file = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(input_id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
        .ok_or_else(|| missing.to_string())?;
    if file.size() > max_bytes as f64 {
        return Err(too_large.to_string());
    }
    let text = wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .map_err(|_| "The file could not be read.".to_string())?;
    text.as_string()
        .ok_or_else(|| "The file could not be read.".to_string())
}

#[cfg(not(feature = "hydrate"))]
pub async fn chosen_file_text(
    _input_id: &str,
    _max_bytes: usize,
    _missing: &str,
    _too_large: &str,
) -> Result<String, String> {
    Err("Files are read in the browser.".into())
}
