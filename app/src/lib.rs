//! Gatehouse's pages, shared by the server (rendering) and the browser (hydration).
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod navigation;
pub mod pages;
pub mod types;
pub mod validate;

#[cfg(feature = "ssr")]
pub mod csp;
mod shell;

pub use shell::{shell, App, STYLESHEET};
