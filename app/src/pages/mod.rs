//! One module per page.
pub mod account;
pub mod applications;
pub mod audit;
pub mod console;
pub mod home;
pub mod mapping;
pub mod one_time_link;
pub mod organization;
pub mod signin;
pub mod sso;

/// Formats an RFC 3339 time for people: `2026-11-25 17:31 UTC`.
pub fn short_time(rfc3339: &str) -> String {
    let trimmed = rfc3339.get(..16).unwrap_or(rfc3339);
    format!("{} UTC", trimmed.replace('T', " "))
}
