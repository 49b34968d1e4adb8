//! Mapping members to directory users: reading the directory, suggestions, the health of the
//! mapping, and CSV imports.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// Whether Gatehouse can read the organization's directory through Microsoft Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DirectoryAccess {
    Readable,
    /// No connection with complete credentials yet.
    NotConnected,
    /// The app lacks the `User.Read.All` application permission or its admin consent.
    PermissionMissing,
    /// Graph or Entra could not be reached, or refused the credentials.
    Unavailable,
}

/// A member, named.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MemberRef {
    pub id: String,
    pub display_name: String,
}

/// One user of the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DirectoryUserView {
    /// The Object ID.
    pub id: String,
    pub display_name: String,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    /// The member already mapped to this user, if any.
    pub mapped_to: Option<MemberRef>,
}

/// Directory users whose name, UPN or mail starts with the search text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DirectorySearch {
    pub access: DirectoryAccess,
    /// What to do when the directory cannot be read.
    pub message: Option<String>,
    pub users: Vec<DirectoryUserView>,
}

/// Maps a member to a directory user picked in the console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MapToDirectoryUserRequest {
    pub object_id: String,
}

/// Creates members from picked directory users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AddFromDirectoryRequest {
    pub object_ids: Vec<String>,
}

/// A picked directory user that did not become a member, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SkippedUser {
    pub object_id: String,
    pub name: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AddFromDirectoryResult {
    pub added: Vec<crate::types::Member>,
    pub skipped: Vec<SkippedUser>,
}

/// A directory user whose UPN or mail equals an unmapped member's email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Suggestion {
    pub member_id: String,
    pub member_name: String,
    pub member_email: String,
    pub object_id: String,
    pub directory_name: String,
    pub user_principal_name: Option<String>,
    /// `upn` or `mail`: which directory field equals the member's email.
    pub matched_on: String,
}

/// Suggestions for the unmapped members (at most `SUGGESTION_LIMIT` listed; `total` counts all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Suggestions {
    pub access: DirectoryAccess,
    pub message: Option<String>,
    pub suggestions: Vec<Suggestion>,
    pub total: i64,
}

/// The most suggestions one answer lists; confirming them brings the next ones.
pub const SUGGESTION_LIMIT: usize = 1000;

/// One suggestion the admin confirms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SuggestionChoice {
    pub member_id: String,
    pub object_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConfirmSuggestionsRequest {
    pub choices: Vec<SuggestionChoice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConfirmSuggestionsResult {
    pub mapped: i64,
    /// Choices that no longer hold (the member was mapped meanwhile, the user is gone…).
    pub skipped: Vec<String>,
}

/// How complete and current the mapping is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MappingHealth {
    pub mapped: i64,
    pub unmapped: i64,
    /// Mapped members whose Object ID the directory no longer has; known only when the
    /// directory is readable.
    pub stale: Option<i64>,
    pub access: DirectoryAccess,
    pub message: Option<String>,
    /// When the directory was read for the stale count.
    pub checked_at: Option<String>,
}

/// Where a CSV import stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportStage {
    /// Rows are being read and checked.
    Checking,
    /// The preview is ready; apply it when it has no problems.
    Ready,
    Applying,
    Applied,
    /// Nothing was applied; see `message` and `problems`.
    Failed,
}

/// A problem with one cell or line of an imported file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImportProblem {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The column's name, or empty for the whole line.
    pub column: String,
    pub message: String,
}

/// A CSV import of members: its preview, progress and outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MemberImport {
    pub id: String,
    pub stage: ImportStage,
    /// Data rows in the file.
    pub rows_total: u64,
    /// Rows checked (while checking) or written (while applying).
    pub rows_done: u64,
    pub to_create: u64,
    pub to_update: u64,
    pub unchanged: u64,
    /// The first problems (at most `IMPORT_PROBLEM_LIMIT`); `problem_count` counts all.
    pub problems: Vec<ImportProblem>,
    pub problem_count: u64,
    pub message: Option<String>,
    /// Members who sign in with the directory (mapped) that the import makes admins: applying
    /// needs the admin's confirmation (`ApplyImportRequest`).
    #[serde(default)]
    pub promotions: u64,
}

/// Applying a checked import.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApplyImportRequest {
    /// Confirms the import's promotions (`MemberImport::promotions`).
    #[serde(default)]
    pub confirm_promotions: bool,
}

pub const IMPORT_PROBLEM_LIMIT: usize = 200;
/// The most data rows one file may hold.
pub const IMPORT_MAX_ROWS: usize = 100_000;
/// The largest file accepted, in bytes.
pub const IMPORT_MAX_BYTES: usize = 32 * 1024 * 1024;
/// The columns of member CSV files, in export order.
pub const MEMBER_CSV_COLUMNS: [&str; 5] =
    ["email", "display name", "role", "object id", "sso enabled"];
