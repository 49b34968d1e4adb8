//! The browser entry: hydrates the server-rendered page.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy pages load their module before the page they render can be hydrated, so hydration
    // is asynchronous (what `leptos::mount::hydrate_lazy` does), and done once the page's
    // module has loaded.
    wasm_bindgen_futures::spawn_local(async {
        let body = leptos::tachys::dom::body();
        let page = leptos::mount::hydrate_from_async(body, app::App).await;
        page.forget();
        // Lets end-to-end tests (and support staff) see that the page is interactive.
        if let Some(window) = web_sys::window() {
            let _ = js_sys::Reflect::set(&window, &"__gatehouseHydrated".into(), &true.into());
        }
    });
}
