//! Reading a members CSV file and planning what it changes. Pure functions: the file in, a plan
//! out, every problem with its line and column. The plan is made twice — for the preview, and
//! again inside the transaction that applies it, against the members as they are then.

use crate::domain::{EmailAddress, Guid, Name};
use crate::storage::{ExistingMember, ImportChanges, ImportedMember, ImportedUpdate};
use app::types::{ImportProblem, IMPORT_MAX_ROWS, MEMBER_CSV_COLUMNS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One data row, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    /// `None` only for a row that names an existing member by Object ID: a member without an
    /// email, as the export writes them.
    pub email: Option<EmailAddress>,
    /// Empty cells keep an existing member's name; a new member needs one.
    pub display_name: Option<String>,
    /// `None` (no column, or an empty cell) keeps an existing member's role; new ones are members.
    pub role: Option<&'static str>,
    /// `None`: no such column, the mapping stays; `Some(None)`: an empty cell, not mapped.
    pub object_id: Option<Option<String>>,
    /// `None` (no column, or an empty cell) keeps the current value; new members get no.
    pub sso_enabled: Option<bool>,
}

/// A read file: its rows and the problems found on the way.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub rows: Vec<ImportRow>,
    pub problems: Vec<ImportProblem>,
    /// Data rows in the file, with or without problems.
    pub rows_total: u64,
}

/// A problem with the whole file; nothing can be previewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem(pub String);

fn problem(line: u64, column: &str, message: impl Into<String>) -> ImportProblem {
    ImportProblem {
        line,
        column: column.into(),
        message: message.into(),
    }
}

/// The column a header names (`display_name`, `Display Name` and `display name` are one).
fn column_of(header: &str) -> Option<usize> {
    let key: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    MEMBER_CSV_COLUMNS.iter().position(|c| *c == key.trim())
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Ok(true),
        "false" | "no" | "0" | "n" => Ok(false),
        other => Err(format!("Write yes or no (or true/false), not \"{other}\".")),
    }
}

/// Reads the file: every data row becomes a checked row or problems. `progress` counts the
/// rows read.
pub fn parse(bytes: &[u8], progress: &AtomicU64) -> Result<ParsedFile, FileProblem> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FileProblem(format!(
            "The file is not UTF-8 text (byte {}). Save it as CSV UTF-8 and try again.",
            e.valid_up_to()
        ))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| FileProblem(format!("The first line could not be read: {e}")))?
        .clone();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(FileProblem(format!(
            "The file is empty. Its first line names the columns: {}.",
            MEMBER_CSV_COLUMNS.join(", ")
        )));
    }
    let mut positions: [Option<usize>; 5] = [None; 5];
    let mut file = ParsedFile::default();
    for (index, header) in headers.iter().enumerate() {
        match column_of(header) {
            Some(c) if positions[c].is_none() => positions[c] = Some(index),
            Some(_) => {
                file.problems
                    .push(problem(1, header, "This column appears twice; keep one."))
            }
            None => file.problems.push(problem(
                1,
                header,
                format!(
                    "Unknown column. The columns are: {}.",
                    MEMBER_CSV_COLUMNS.join(", ")
                ),
            )),
        }
    }
    let Some(email_at) = positions[0] else {
        return Err(FileProblem(format!(
            "The first line must name the columns, with at least \"email\": {}.",
            MEMBER_CSV_COLUMNS.join(", ")
        )));
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                file.rows_total += 1;
                file.problems.push(problem(
                    line,
                    "",
                    format!("This line is not valid CSV: {e}"),
                ));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|cell| cell.is_empty()) {
            continue;
        }
        file.rows_total += 1;
        if file.rows_total > IMPORT_MAX_ROWS as u64 {
            return Err(FileProblem(format!(
                "The file has more than {IMPORT_MAX_ROWS} rows. Split it into smaller files."
            )));
        }
        if file.rows_total % 1000 == 0 {
            progress.store(file.rows_total, Ordering::Relaxed);
        }
        let cell =
            |column: usize| positions[column].map(|at| unneutralized(record.get(at).unwrap_or("")));
        let mut ok = true;
        let mut report = |column: usize, message: String| {
            ok = false;
            file.problems
                .push(problem(line, MEMBER_CSV_COLUMNS[column], message));
        };
        let email_cell = unneutralized(record.get(email_at).unwrap_or(""));
        let object_id_cell = cell(3).unwrap_or("");
        let email = match EmailAddress::parse(email_cell) {
            Ok(e) => Some(Some(e)),
            // A member without an email is named by their Object ID.
            Err(_) if email_cell.is_empty() && !object_id_cell.is_empty() => Some(None),
            Err(m) => {
                report(0, m);
                None
            }
        };
        let display_name = match cell(1).filter(|c| !c.is_empty()) {
            None => None,
            Some(text) => match Name::parse(text) {
                Ok(n) => Some(n.0),
                Err(m) => {
                    report(1, m);
                    None
                }
            },
        };
        let role = match cell(2) {
            None | Some("") => None,
            Some(text) => match text.to_lowercase().as_str() {
                "admin" => Some("admin"),
                "member" => Some("member"),
                other => {
                    report(2, format!("The role is admin or member, not \"{other}\"."));
                    None
                }
            },
        };
        let object_id = match cell(3) {
            None => None,
            Some("") => Some(None),
            Some(text) => match Guid::parse(text) {
                Ok(g) => Some(Some(g.0)),
                Err(m) => {
                    report(
                        3,
                        format!("The Object ID is a GUID from the user's page in Entra. {m}"),
                    );
                    None
                }
            },
        };
        let sso_enabled = match cell(4) {
            None | Some("") => None,
            Some(text) => match parse_bool(text) {
                Ok(b) => Some(b),
                Err(m) => {
                    report(4, m);
                    None
                }
            },
        };
        if let (true, Some(email)) = (ok, email) {
            file.rows.push(ImportRow {
                line,
                email,
                display_name,
                role,
                object_id,
                sso_enabled,
            });
        }
    }
    progress.store(file.rows_total, Ordering::Relaxed);
    Ok(file)
}

/// What applying the rows to `existing` would do, or every problem that stops it.
/// `tenant_id` is the connected directory (Object IDs need one); `acting_member` is the admin
/// importing, who cannot take away their own admin role.
pub fn plan(
    rows: &[ImportRow],
    existing: &[ExistingMember],
    tenant_id: Option<&str>,
    acting_member: Option<&str>,
) -> Result<ImportChanges, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let by_email: HashMap<&str, &ExistingMember> = existing
        .iter()
        .filter(|m| !m.email_normalized.is_empty())
        .map(|m| (m.email_normalized.as_str(), m))
        .collect();
    let holder_of: HashMap<&str, &ExistingMember> = existing
        .iter()
        .filter_map(|m| m.directory_object_id.as_deref().map(|o| (o, m)))
        .collect();
    let mut email_lines: HashMap<&str, u64> = HashMap::with_capacity(rows.len());
    let mut object_lines: HashMap<&str, u64> = HashMap::new();
    // The Object ID each listed existing member ends with.
    let mut final_object: HashMap<&str, Option<&str>> = HashMap::new();
    // The existing member a row names: by email, else (a row without one) by Object ID.
    let current_of = |row: &ImportRow| match (&row.email, &row.object_id) {
        (Some(email), _) => by_email.get(email.normalized.as_str()).copied(),
        (None, Some(Some(object_id))) => holder_of.get(object_id.as_str()).copied(),
        (None, _) => None,
    };
    for row in rows {
        let first = row
            .email
            .as_ref()
            .and_then(|email| email_lines.insert(&email.normalized, row.line));
        if let Some(first) = first {
            problems.push(problem(
                row.line,
                "email",
                format!("This email is also on line {first}; keep one row per member."),
            ));
        }
        if let Some(Some(object_id)) = &row.object_id {
            if tenant_id.is_none() {
                problems.push(problem(
                    row.line,
                    "object id",
                    "Connect the organization's directory first: an Object ID belongs to one directory.",
                ));
            }
            if let Some(first) = object_lines.insert(object_id, row.line) {
                problems.push(problem(
                    row.line,
                    "object id",
                    format!("This Object ID is also on line {first}: one directory user maps to one member."),
                ));
            }
        }
        if let (Some(current), Some(object_id)) = (current_of(row), &row.object_id) {
            final_object.insert(current.id.as_str(), object_id.as_deref());
        }
    }
    let mut changes = ImportChanges::default();
    for row in rows {
        let current = current_of(row);
        if let Some(Some(object_id)) = &row.object_id {
            if let Some(holder) = holder_of.get(object_id.as_str()) {
                let is_self = current.is_some_and(|c| c.id == holder.id);
                let lets_go = final_object
                    .get(holder.id.as_str())
                    .is_some_and(|o| *o != Some(object_id.as_str()));
                if !is_self && !lets_go {
                    problems.push(problem(
                        row.line,
                        "object id",
                        format!(
                            "{} already has this Object ID: one directory user maps to one member.",
                            holder.display_name
                        ),
                    ));
                }
            }
        }
        match current {
            None => {
                let Some(email) = &row.email else {
                    problems.push(problem(
                        row.line,
                        "email",
                        "No member has this Object ID, and a new member needs an email.",
                    ));
                    continue;
                };
                let Some(display_name) = &row.display_name else {
                    problems.push(problem(
                        row.line,
                        "display name",
                        "A new member needs a display name.",
                    ));
                    continue;
                };
                changes.creates.push(ImportedMember {
                    email: email.display.clone(),
                    email_normalized: email.normalized.clone(),
                    display_name: display_name.clone(),
                    role: row.role.unwrap_or("member"),
                    object_id: row.object_id.clone().flatten(),
                    sso_enabled: row.sso_enabled.unwrap_or(false),
                });
            }
            Some(current) => {
                let display_name = row
                    .display_name
                    .clone()
                    .unwrap_or_else(|| current.display_name.clone());
                let role = row.role.unwrap_or(current.role.as_str());
                if acting_member == Some(current.id.as_str()) && role != "admin" {
                    problems.push(problem(
                        row.line,
                        "role",
                        "You cannot remove your own admin access. Ask another admin or an operator.",
                    ));
                }
                let object_id = match &row.object_id {
                    None => current.directory_object_id.clone(),
                    Some(o) => o.clone(),
                };
                let sso_enabled = row.sso_enabled.unwrap_or(current.sso_enabled != 0);
                let object_changed = object_id != current.directory_object_id;
                let unchanged = display_name == current.display_name
                    && role == current.role
                    && !object_changed
                    && sso_enabled == (current.sso_enabled != 0);
                if role == "admin"
                    && current.role != "admin"
                    && current.directory_object_id.is_some()
                {
                    changes.promotions += 1;
                }
                if unchanged {
                    changes.unchanged += 1;
                } else {
                    changes.updates.push(ImportedUpdate {
                        id: current.id.clone(),
                        display_name,
                        role: if role == "admin" { "admin" } else { "member" },
                        object_id,
                        object_changed,
                        sso_enabled,
                    });
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Why the export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing CSV: {0}")]
    Flush(#[from] std::io::Error),
    #[error("writing CSV: {0}")]
    NotText(#[from] std::string::FromUtf8Error),
}

/// What a spreadsheet would run as a formula when a cell starts with it.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell a spreadsheet shows as text: one that would start a formula gets a leading `'`.
fn neutralized(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell as it was before `neutralized`.
fn unneutralized(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// Every member as a CSV file in the import's columns: importing it back changes nothing.
/// Cells that a spreadsheet would run as a formula are written as text.
pub fn to_csv(members: &[crate::storage::MemberRecord]) -> Result<String, ExportError> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(members.len() * 96));
    writer.write_record(MEMBER_CSV_COLUMNS)?;
    for m in members {
        writer.write_record([
            neutralized(m.email.as_deref().unwrap_or_default()).as_ref(),
            neutralized(&m.display_name).as_ref(),
            m.role.as_str(),
            m.directory_object_id.as_deref().unwrap_or(""),
            if m.sso_enabled != 0 { "yes" } else { "no" },
        ])?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f";
    const B: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

    fn read(text: &str) -> ParsedFile {
        parse(text.as_bytes(), &AtomicU64::new(0)).expect("parses")
    }

    fn existing(id: &str, email: &str, object_id: Option<&str>) -> ExistingMember {
        ExistingMember {
            id: id.into(),
            email_normalized: email.into(),
            display_name: format!("Member {id}"),
            role: "member".into(),
            directory_object_id: object_id.map(str::to_string),
            sso_enabled: 0,
        }
    }

    #[test]
    fn problems_name_their_line_and_column() {
        let file = read(&format!(
            "email,display name,role,object id,sso enabled\n\
             ok@contoso.com,Ok,member,{A},yes\n\
             not-an-email,Bad,member,,no\n\
             x@contoso.com,X,owner,nope,maybe\n"
        ));
        assert_eq!(file.rows.len(), 1);
        assert_eq!(file.rows_total, 3);
        let got: Vec<(u64, &str)> = file
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "email"),
                (4, "role"),
                (4, "object id"),
                (4, "sso enabled")
            ]
        );
    }

    #[test]
    fn headers_are_matched_loosely_and_unknown_ones_reported() {
        let file = read("Email,Display_Name,Favourite colour\na@contoso.com,A,blue\n");
        assert_eq!(file.rows.len(), 1);
        assert_eq!(file.problems.len(), 1);
        assert_eq!(file.problems[0].line, 1);
        assert!(parse(b"name\nx\n", &AtomicU64::new(0)).is_err());
    }

    #[test]
    fn the_plan_counts_creates_updates_and_unchanged_rows() {
        let file = read(&format!(
            "email,display name,object id\n\
             new@contoso.com,New Person,\n\
             same@contoso.com,Member 1,{A}\n\
             moved@contoso.com,Member 2,{B}\n"
        ));
        let members = [
            existing("1", "same@contoso.com", Some(A)),
            existing("2", "moved@contoso.com", None),
        ];
        let changes = plan(&file.rows, &members, Some("tenant"), None).expect("no problems");
        assert_eq!(changes.creates.len(), 1);
        assert_eq!(changes.updates.len(), 1);
        assert!(changes.updates[0].object_changed);
        assert_eq!(changes.unchanged, 1);
    }

    #[test]
    fn a_member_without_an_email_is_named_by_object_id() {
        let members = [existing("1", "", Some(A)), existing("2", "", None)];
        // As the export writes them: unchanged when imported back, renamed when edited.
        let same = read(&format!("email,display name,object id\n,Member 1,{A}\n"));
        let changes = plan(&same.rows, &members, Some("t"), None).expect("no problems");
        assert_eq!((changes.unchanged, changes.updates.len()), (1, 0));
        let renamed = read(&format!("email,display name,object id\n,Renamed,{A}\n"));
        let changes = plan(&renamed.rows, &members, Some("t"), None).expect("no problems");
        assert_eq!(changes.updates[0].id, "1");
        assert_eq!(changes.creates.len(), 0);
        // Without an email or a member with the Object ID: a new member needs an email.
        let unknown = read(&format!("email,display name,object id\n,Someone,{B}\n"));
        let problems = plan(&unknown.rows, &members, Some("t"), None).unwrap_err();
        assert_eq!(problems[0].column, "email");
        let neither = read("email,display name\n,Someone\n");
        assert_eq!(neither.problems[0].column, "email");
    }

    #[test]
    fn an_object_id_held_by_someone_else_is_refused_unless_the_file_moves_it() {
        let members = [
            existing("1", "holder@contoso.com", Some(A)),
            existing("2", "taker@contoso.com", None),
        ];
        let taken = read(&format!("email,object id\ntaker@contoso.com,{A}\n"));
        let problems = plan(&taken.rows, &members, Some("t"), None).unwrap_err();
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("Member 1"));
        let swapped = read(&format!(
            "email,object id\ntaker@contoso.com,{A}\nholder@contoso.com,{B}\n"
        ));
        assert!(plan(&swapped.rows, &members, Some("t"), None).is_ok());
    }

    #[test]
    fn duplicates_within_the_file_point_at_the_first_line() {
        let file = read(&format!(
            "email,display name,object id\na@contoso.com,A,{A}\nA@contoso.com,A,\nb@contoso.com,B,{A}\n"
        ));
        let problems = plan(&file.rows, &[], Some("t"), None).unwrap_err();
        assert!(problems[0].message.contains("line 2"));
        assert!(problems[1].message.contains("line 2"));
    }

    #[test]
    fn an_admin_cannot_demote_themselves_by_file() {
        let mut me = existing("me", "me@contoso.com", None);
        me.role = "admin".into();
        let file = read("email,role\nme@contoso.com,member\n");
        assert!(plan(&file.rows, &[me], None, Some("me")).is_err());
    }
}
