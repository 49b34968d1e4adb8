//! Members and their mapping to directory users beyond one-at-a-time edits: CSV imports, the
//! directory picker, suggestions and the health of the mapping.

pub mod import;
pub mod import_jobs;
pub mod mapping;
