//! Gatehouse's server: the JSON API, the pages, storage and everything around them.
#![recursion_limit = "256"]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod application;
pub mod auth;
pub mod background;
pub mod backup;
pub mod clock;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod data_folder;
pub mod directory;
pub mod domain;
pub mod domains;
pub mod entra;
pub mod error;
pub mod first_run;
pub mod mail;
pub mod members;
pub mod oidc;
pub mod ops;
pub mod outbound;
pub mod provider;
pub mod saml;
pub mod sign_in;
pub mod state;
pub mod storage;
pub mod web_guard;
pub mod web_settings;

pub use application::Application;
