//! SQLite's searched members page, read by two connections at once. SQLite tests a search
//! against every member's entry in its search index (it has no index that finds a substring),
//! and one connection reads on one core: so the index is read in two halves, split at the
//! searchable text of a member near the middle of the organization, each half on its own
//! connection. A split point found once serves every search of the organization for a while;
//! one that has aged (members came and went) only makes the halves uneven, never the answer
//! wrong.
//!
//! Each half counts up to `HALF_MATCHES_MAX + 1` of its matches and, when it has no more,
//! keeps its first matches in the list's order, up to the end of the page. When neither half
//! has more, the page is the two halves merged and the total is their sum: one reading of the
//! index in all. When a half has more (a company's email domain matches everyone), the page is
//! read by walking the list's order index while another connection counts each such half.

use super::members::{
    last_sign_in_column, member_condition, order_of, ListSource, MemberListQuery, SQLITE_MATCHES,
};
use super::MemberSort;
use super::{PageRequest, Storage, StorageResult};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Up to this many matches, a half sorts its matches itself; beyond it, the walk finds the page.
const HALF_MATCHES_MAX: i64 = 10_000;

/// How long a split point serves before it is found again.
const SPLIT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Where one organization's search index is split: the searchable text that starts the second
/// half (`None` when it has no members), and when it was found.
#[derive(Debug, Clone)]
struct Split {
    text: Option<String>,
    found: Instant,
}

/// Each organization's split point, by organization id.
#[derive(Debug, Clone, Default)]
pub(super) struct SearchSplits(Arc<Mutex<HashMap<String, Split>>>);

impl SearchSplits {
    fn fresh(&self, organization_id: &str) -> Option<Option<String>> {
        let splits = self.0.lock().unwrap_or_else(|p| p.into_inner());
        splits
            .get(organization_id)
            .filter(|split| split.found.elapsed() < SPLIT_LIFETIME)
            .map(|split| split.text.clone())
    }

    fn keep(&self, organization_id: &str, split: Option<String>) {
        let mut splits = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let found = Instant::now();
        splits.insert(organization_id.to_string(), Split { text: split, found });
    }
}

/// A search, as both halves test it.
struct HalfSearch<'a> {
    organization_id: &'a str,
    /// In lower case, as the searchable text is.
    term: &'a str,
    query: &'a MemberListQuery<'a>,
}

/// Which part of the search index a half reads.
#[derive(Clone, Copy)]
enum Half {
    /// The whole index (an organization without members has no split point).
    All,
    Below,
    From,
}

/// A match as its half read it: its id and what the list sorts it by (the name or the email,
/// or the last sign-in).
#[derive(serde::Deserialize)]
struct HalfMatch {
    id: String,
    text: Option<String>,
    time: Option<i64>,
}

/// What a half found: all its matches, sorted up to the end of the page, or only that it has
/// more than `HALF_MATCHES_MAX`.
enum HalfFound {
    All { matches: i64, first: Vec<HalfMatch> },
    Many,
}

/// The list's order (`order_of`), for merging the halves.
fn list_order(sort: MemberSort, a: &HalfMatch, b: &HalfMatch) -> Ordering {
    match sort {
        MemberSort::Name | MemberSort::Email => (&a.text, &a.id).cmp(&(&b.text, &b.id)),
        // Newest first, never signed in last, then by id from the highest.
        MemberSort::LastSignIn => match (a.time, b.time) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| b.id.cmp(&a.id)),
    }
}

/// What a half sends of each match, as a JSON array: the sort's columns of `list_order`.
fn sort_columns(sort: MemberSort) -> &'static str {
    match sort {
        MemberSort::Name => "id, display_name_normalized, NULL",
        MemberSort::Email => "id, email_normalized, NULL",
        MemberSort::LastSignIn => "id, NULL, last_sso_sign_in_at",
    }
}

impl Storage {
    /// A searched page's ids and the number of matches (see the module's comment).
    pub(super) async fn search_in_halves(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<(Vec<String>, i64)> {
        let term = search.to_lowercase();
        let searched = HalfSearch {
            organization_id,
            term: &term,
            query,
        };
        let search = &searched;
        let split = self.split_point(organization_id).await?;
        let halves = match &split {
            Some(_) => vec![Half::Below, Half::From],
            None => vec![Half::All],
        };
        let split = split.as_deref().unwrap_or("");
        let found = futures_util::future::try_join_all(
            halves
                .iter()
                .map(|half| self.sorted_half(search, *half, split, page)),
        )
        .await?;
        if found.iter().all(|f| matches!(f, HalfFound::All { .. })) {
            let mut total = 0;
            let mut merged = Vec::new();
            for half in found {
                if let HalfFound::All { matches, first } = half {
                    total += matches;
                    merged.extend(first);
                }
            }
            merged.sort_by(|a, b| list_order(query.sort, a, b));
            let ids = merged
                .into_iter()
                .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
                .take(usize::try_from(page.per_page).unwrap_or(0))
                .map(|m| m.id)
                .collect();
            return Ok((ids, total));
        }
        // Many matches: the walk finds the page while one connection counts each half with
        // more matches than it sorts (counting both at once, three readers would share two
        // cores and the walk, the longest, would wait).
        let count = async {
            let mut total = 0;
            for (half, found) in halves.iter().zip(&found) {
                total += match found {
                    HalfFound::Many => self.count_half(search, *half, split).await?,
                    HalfFound::All { matches, .. } => *matches,
                };
            }
            Ok(total)
        };
        let walk = self.walk_ids(organization_id, &term, query, page);
        tokio::try_join!(walk, count)
    }

    /// The organization's split point, found again when it has aged.
    async fn split_point(&self, organization_id: &str) -> StorageResult<Option<String>> {
        if let Some(split) = self.search_splits.fresh(organization_id) {
            return Ok(split);
        }
        let middle: Option<(String,)> = sqlx::query_as(
            "SELECT search_text FROM member INDEXED BY member_org_search_idx \
             WHERE organization_id = $1 ORDER BY search_text LIMIT 1 OFFSET \
             (SELECT COUNT(*) / 2 FROM member INDEXED BY member_org_search_idx \
              WHERE organization_id = $2)",
        )
        .bind(organization_id)
        .bind(organization_id)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        let split = middle.map(|(text,)| text);
        self.search_splits.keep(organization_id, split.clone());
        Ok(split)
    }

    /// The statement's condition for one half, with the split at `$next`; answers the
    /// placeholder after the last one it uses.
    fn half_condition(search: &HalfSearch<'_>, half: Half) -> (String, usize) {
        let (mut condition, next) = member_condition(
            search.query.filter,
            Some(SQLITE_MATCHES),
            ListSource::MEMBERS,
        );
        match half {
            Half::All => return (condition, next),
            Half::Below => condition.push_str(&format!(" AND search_text < ${next}")),
            Half::From => condition.push_str(&format!(" AND search_text >= ${next}")),
        }
        (condition, next + 1)
    }

    /// Binds a half's statement: the search as every list statement has it, then the split.
    fn bind_half<'q, O>(
        &self,
        sql: String,
        search: &HalfSearch<'q>,
        half: Half,
        split: &'q str,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let statement = self.member_query(sql, search.organization_id, search.term, search.query);
        match half {
            Half::All => statement,
            Half::Below | Half::From => statement.bind(split),
        }
    }

    /// One half's number of matches (up to `HALF_MATCHES_MAX + 1`) and, when it has no more,
    /// its first matches in the list's order, up to the end of the page, in one row (matches
    /// sent one row each would each cross from SQLite's thread on their own). A half with more
    /// matches sorts none of them (the test on the count is a constant SQLite checks once).
    async fn sorted_half(
        &self,
        search: &HalfSearch<'_>,
        half: Half,
        split: &str,
        page: PageRequest,
    ) -> StorageResult<HalfFound> {
        let (condition, next) = Self::half_condition(search, half);
        let sql = format!(
            "WITH matches AS MATERIALIZED (SELECT id, display_name_normalized, \
             email_normalized, {} AS last_sso_sign_in_at \
             FROM member INDEXED BY member_org_search_idx WHERE {condition} LIMIT {}), \
             counted AS MATERIALIZED (SELECT COUNT(*) AS matches FROM matches) \
             SELECT (SELECT matches FROM counted), \
             (SELECT json_group_array(json_array({})) FROM (SELECT * FROM matches \
              WHERE (SELECT matches FROM counted) <= {HALF_MATCHES_MAX} \
              ORDER BY {} LIMIT ${next}))",
            last_sign_in_column(search.query.sort),
            HALF_MATCHES_MAX + 1,
            sort_columns(search.query.sort),
            order_of(search.query.sort),
        );
        let end = page.offset().saturating_add(page.per_page);
        let (matches, first): (i64, String) = self
            .bind_half(sql, search, half, split)
            .bind(end)
            .fetch_one(&mut *self.read().await?)
            .await?;
        if matches > HALF_MATCHES_MAX {
            return Ok(HalfFound::Many);
        }
        let first = serde_json::from_str(&first).map_err(|e| sqlx::Error::Decode(e.into()))?;
        Ok(HalfFound::All { matches, first })
    }

    /// How many members of one half match.
    async fn count_half(
        &self,
        search: &HalfSearch<'_>,
        half: Half,
        split: &str,
    ) -> StorageResult<i64> {
        let (condition, _) = Self::half_condition(search, half);
        let sql = format!(
            "SELECT COUNT(*) FROM member INDEXED BY member_org_search_idx WHERE {condition}"
        );
        let (count,): (i64,) = self
            .bind_half(sql, search, half, split)
            .fetch_one(&mut *self.read().await?)
            .await?;
        Ok(count)
    }
}
