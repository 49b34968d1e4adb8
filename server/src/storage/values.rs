//! A statement's values, bound by number (`$1` is the first) through sqlx or through SQLite's
//! in-place connection (`inline`), so that a statement run both ways lists them once.

use rusqlite::types::ToSqlOutput;

#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Integer(i64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(text)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Value::MaybeText(text)
    }
}

impl From<i64> for Value<'_> {
    fn from(number: i64) -> Self {
        Value::Integer(number)
    }
}

/// Binds `values` in order, as `$1`, `$2`, … of `query`.
pub(super) fn bind_all<'q>(
    query: super::AnyQuery<'q>,
    values: &[Value<'q>],
) -> super::AnyQuery<'q> {
    values.iter().fold(query, |query, value| match *value {
        Value::Text(text) => query.bind(text),
        Value::MaybeText(text) => query.bind(text),
        Value::Integer(number) => query.bind(number),
    })
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Text(text) => text.to_sql(),
            Value::MaybeText(text) => text.to_sql(),
            Value::Integer(number) => number.to_sql(),
        }
    }
}
