//! Members of an organization and invitations to become one of its admins.

use super::audit::{self, Actor, AuditEntry};
use super::{
    contains_pattern, new_id, placeholders, unique_as, PageRequest, Paged, Storage, StorageError,
    StorageResult,
};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRecord {
    pub id: String,
    pub organization_id: String,
    /// `None` until an admin sets it, for a member whose directory did not vouch for one.
    pub email: Option<String>,
    pub display_name: String,
    /// `admin` or `member`.
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    pub directory_tenant_id: Option<String>,
    pub directory_object_id: Option<String>,
    /// The mapped directory user's UPN, when Gatehouse read it from the directory.
    pub directory_upn: Option<String>,
    /// 1 when the member is selected for SSO ("selected members only" mode), else 0.
    pub sso_enabled: i64,
    pub last_sso_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MemberRecord {
    /// How the audit log and messages name the member: the email, else the name.
    pub fn label(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.display_name)
    }

    pub fn is_active_admin(&self) -> bool {
        self.role == "admin" && self.status == "active"
    }
}

/// An admin invite to store: only its token's hash is kept.
#[derive(Debug, Clone, Copy)]
pub struct NewInvite<'a> {
    pub organization_id: &'a str,
    /// As typed, and normalized.
    pub email: (&'a str, &'a str),
    pub token_hash: &'a str,
    pub expires_at: OffsetDateTime,
    /// For the audit entry: what the operator confirmed, if anything.
    pub detail: &'a str,
}

pub struct NewMember<'a> {
    /// As typed, and normalized; `None` for a member without an email.
    pub email: Option<(&'a str, &'a str)>,
    pub display_name: &'a str,
    pub role: &'a str,
}

impl NewMember<'_> {
    /// How the audit log names the new member: the email, else the name.
    fn label(&self) -> &str {
        self.email.map(|e| e.0).unwrap_or(self.display_name)
    }
}

/// Fields to change; `None` keeps the current value.
#[derive(Default)]
pub struct MemberUpdate<'a> {
    /// As typed, and normalized.
    pub email: Option<(&'a str, &'a str)>,
    pub display_name: Option<&'a str>,
    pub role: Option<&'a str>,
    pub status: Option<&'a str>,
    pub sso_enabled: Option<bool>,
    /// `Some(None)` removes the mapping; `Some(Some(identity))` sets it.
    pub directory_identity: Option<Option<DirectoryIdentity<'a>>>,
}

/// A directory user: the directory (tenant) ID, the Object ID, and the UPN when known.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryIdentity<'a> {
    pub tenant_id: &'a str,
    pub object_id: &'a str,
    pub user_principal_name: Option<&'a str>,
}

impl<'a> DirectoryIdentity<'a> {
    /// An identity whose UPN Gatehouse has not read.
    pub fn new(tenant_id: &'a str, object_id: &'a str) -> Self {
        DirectoryIdentity {
            tenant_id,
            object_id,
            user_principal_name: None,
        }
    }
}

/// Which members a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFilter {
    All,
    /// Mapped to a directory user.
    Mapped,
    Unmapped,
    /// Selected for SSO.
    SsoEnabled,
    /// Signed in with SSO since `MemberListQuery::signed_in_since`.
    RecentSso,
}

/// The order of a members list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSort {
    Name,
    Email,
    /// Newest first; members who never signed in last.
    LastSignIn,
}

/// Which members a list shows, and in which order.
#[derive(Debug, Clone, Copy)]
pub struct MemberListQuery<'a> {
    pub search: &'a str,
    pub filter: MemberFilter,
    pub sort: MemberSort,
    /// For `RecentSso`: the earliest sign-in that counts (Unix milliseconds).
    pub signed_in_since: i64,
}

impl Default for MemberListQuery<'_> {
    fn default() -> Self {
        MemberListQuery {
            search: "",
            filter: MemberFilter::All,
            sort: MemberSort::Name,
            signed_in_since: 0,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRecord {
    pub organization_id: String,
    pub organization_name: String,
    pub email: String,
    pub expires_at: i64,
}

/// A member's last SSO sign-in, in a statement over `member`. It lives in a table of its own,
/// `member_last_sign_in`, out of `member`'s indexes, so that a sign-in's update of it touches
/// that table's two indexes instead of every index on `member`.
macro_rules! last_sign_in_of_member {
    () => {
        "(SELECT s.last_sso_sign_in_at FROM member_last_sign_in s WHERE s.member_id = member.id)"
    };
}
pub(super) const LAST_SIGN_IN: &str = last_sign_in_of_member!();

pub(super) const COLUMNS: &str = concat!(
    "id, organization_id, email, display_name, role, status, directory_tenant_id, \
     directory_object_id, directory_upn, sso_enabled, ",
    last_sign_in_of_member!(),
    " AS last_sso_sign_in_at, created_at, updated_at"
);

impl Storage {
    /// The member mapped to this directory user, if any.
    pub async fn find_member_by_directory_identity(
        &self,
        organization_id: &str,
        tenant_id: &str,
        object_id: &str,
    ) -> StorageResult<Option<MemberRecord>> {
        find_by_directory_identity(
            &mut *self.read().await?,
            organization_id,
            tenant_id,
            object_id,
        )
        .await
    }

    pub async fn create_member(
        &self,
        organization_id: &str,
        member: &NewMember<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let mut tx = self.begin().await?;
        super::require_organization(&mut tx, organization_id).await?;
        let record = insert_member(&mut tx, organization_id, member, None, now).await?;
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(Some(organization_id), "member.create", member.label()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn find_member(
        &self,
        organization_id: &str,
        member_id: &str,
    ) -> StorageResult<Option<MemberRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member WHERE organization_id = $1 AND id = $2"
        )))
        .bind(organization_id)
        .bind(member_id)
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }

    /// The member of the organization with this (normalized) email.
    pub async fn find_member_by_email(
        &self,
        organization_id: &str,
        email_normalized: &str,
    ) -> StorageResult<Option<MemberRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member WHERE organization_id = $1 AND email_normalized = $2"
        )))
        .bind(organization_id)
        .bind(email_normalized)
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }

    /// One page of members: `search` is contained in the name, email, UPN or Object ID; the
    /// filter and order are the list's. The page's ids are read from an index that holds every
    /// column the list filters and sorts on, then only those rows are fetched.
    pub async fn list_members(
        &self,
        organization_id: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<Paged<MemberRecord>> {
        let search = query.search.trim();
        if !search.is_empty() {
            return self
                .search_members(organization_id, search, query, page)
                .await;
        }
        let listed = ListSource::of_list(Some(query.sort), query.filter, "member");
        let (condition, next) = member_condition(query.filter, None, listed);
        let order = order_of(query.sort);
        let ids_sql = format!(
            "SELECT id FROM {} WHERE {condition} ORDER BY {order} LIMIT ${next} OFFSET ${}",
            listed.from,
            next + 1
        );
        let counted = ListSource::of_list(None, query.filter, "member");
        let (condition, _) = member_condition(query.filter, None, counted);
        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", counted.from);
        let mut ids = sqlx::query_as(sqlx::AssertSqlSafe(ids_sql)).bind(organization_id);
        let mut total = sqlx::query_as(sqlx::AssertSqlSafe(count_sql)).bind(organization_id);
        if query.filter == MemberFilter::RecentSso {
            ids = ids.bind(query.signed_in_since);
            total = total.bind(query.signed_in_since);
        }
        let ids = self.walk_order_index(ids.bind(page.per_page).bind(page.offset()), query.filter);
        let (ids, total) = tokio::try_join!(ids, self.count(total, counting_plan(query.filter)))?;
        let items = self.members_in_order(&ids, query.sort).await?;
        Ok(Paged { items, total, page })
    }

    /// The members with these ids, in the list's order.
    async fn members_in_order(
        &self,
        ids: &[String],
        sort: MemberSort,
    ) -> StorageResult<Vec<MemberRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM member WHERE id IN ({}) ORDER BY {}",
            placeholders(1, ids.len(), 1),
            order_of(sort)
        );
        let mut rows = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            rows = rows.bind(id);
        }
        Ok(rows.fetch_all(&mut *self.read().await?).await?)
    }

    /// A searched page. SQLite reads its search index in two halves at once
    /// (`search_halves`). On PostgreSQL, up to `SORTED_MATCHES_MAX` matches, one pass finds them
    /// all by trigrams, sorts them and counts them; a search matching more than that (a
    /// company's email domain matches everyone) walks the list's order index instead, skipping
    /// members that do not match, while a second connection counts the matches. PostgreSQL goes
    /// straight to the walk when its trigram statistics expect that many matches, and counts
    /// them by trigrams when they expect no more than `TRIGRAM_COUNT_MAX`.
    async fn search_members(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<Paged<MemberRecord>> {
        let (ids, total) = match self.backend {
            super::Backend::Sqlite => {
                self.search_in_halves(organization_id, search, query, page)
                    .await?
            }
            super::Backend::Postgres => {
                self.search_by_trigrams(organization_id, search, query, page)
                    .await?
            }
        };
        let items = self.members_in_order(&ids, query.sort).await?;
        Ok(Paged { items, total, page })
    }

    /// PostgreSQL's searched page's ids and number of matches (see `search_members`).
    async fn search_by_trigrams(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<(Vec<String>, i64)> {
        let term = contains_pattern(search);
        let (condition, next) = member_condition(
            query.filter,
            Some(POSTGRES_INDEXED_MATCHES),
            ListSource::MEMBERS,
        );
        let indexed = IndexedSearch {
            condition: &condition,
            next,
            term: &term,
        };
        let expected = self
            .estimated_matches(&indexed, organization_id, query)
            .await?;
        if expected > TRIGRAM_COUNT_MAX {
            return self
                .walk_matches(organization_id, search, query, page)
                .await;
        }
        if expected > SORTED_MATCHES_MAX {
            return tokio::try_join!(
                self.walk_ids(organization_id, search, query, page),
                self.count_by_trigrams(&indexed, organization_id, query)
            );
        }
        let sorted_sql = format!(
            "WITH matches AS MATERIALIZED (SELECT id, display_name_normalized, \
             email_normalized, {} AS last_sso_sign_in_at FROM member WHERE {} LIMIT {}) \
             SELECT id, COUNT(*) OVER () FROM matches ORDER BY {} LIMIT ${} OFFSET ${}",
            last_sign_in_column(query.sort),
            indexed.condition,
            SORTED_MATCHES_MAX + 1,
            order_of(query.sort),
            indexed.next,
            indexed.next + 1
        );
        let statement = self
            .member_query(sorted_sql, organization_id, indexed.term, query)
            .bind(page.per_page)
            .bind(page.offset());
        match few_matches(self.fetch_planned(statement, BY_TRIGRAMS).await?, page) {
            Some(found) => Ok(found),
            None => {
                self.walk_matches(organization_id, search, query, page)
                    .await
            }
        }
    }

    /// How many members PostgreSQL's statistics expect to match the search: the row estimate
    /// of the statement's plan, which the trigram statistics inform. Only chooses how to read
    /// the page; what is read is exact either way.
    async fn estimated_matches(
        &self,
        search: &IndexedSearch<'_>,
        organization_id: &str,
        query: &MemberListQuery<'_>,
    ) -> StorageResult<i64> {
        let sql = format!("EXPLAIN SELECT id FROM member WHERE {}", search.condition);
        let plan: Vec<(String,)> = self
            .member_query(sql, organization_id, search.term, query)
            .fetch_all(&mut *self.read().await?)
            .await?;
        Ok(plan
            .first()
            .and_then(|(line,)| line.split_once(" rows="))
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|rows| rows.parse().ok())
            .unwrap_or(0))
    }

    /// The page's ids read in the list's order from its index, and the number of matches,
    /// at the same time.
    async fn walk_matches(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<(Vec<String>, i64)> {
        tokio::try_join!(
            self.walk_ids(organization_id, search, query, page),
            self.count_matches(organization_id, search, query)
        )
    }

    /// A searched page's ids, read in the list's order from its index, skipping members that
    /// do not match.
    pub(super) async fn walk_ids(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
        page: PageRequest,
    ) -> StorageResult<Vec<String>> {
        let (from, condition, next) = self.walk_condition(Some(query.sort), query.filter);
        let sql = format!(
            "SELECT id FROM {from} WHERE {condition} ORDER BY {} \
             LIMIT ${next} OFFSET ${}",
            order_of(query.sort),
            next + 1
        );
        let term = search.to_lowercase();
        let statement = self
            .member_query(sql, organization_id, &term, query)
            .bind(page.per_page)
            .bind(page.offset());
        self.walk_order_index(statement, query.filter).await
    }

    /// How many members a search matches, counted from an index alone (PostgreSQL's; SQLite
    /// counts by halves in `search_halves`).
    async fn count_matches(
        &self,
        organization_id: &str,
        search: &str,
        query: &MemberListQuery<'_>,
    ) -> StorageResult<i64> {
        let (from, condition, _) = self.walk_condition(None, query.filter);
        let sql = format!("SELECT COUNT(*) FROM {from} WHERE {condition}");
        let term = search.to_lowercase();
        let statement = self.member_query(sql, organization_id, &term, query);
        self.count(statement, counting_plan(query.filter)).await
    }

    /// How many members a search matches, found by trigrams: on PostgreSQL, quicker than
    /// reading every member's index entry when up to `TRIGRAM_COUNT_MAX` are expected to match.
    async fn count_by_trigrams(
        &self,
        search: &IndexedSearch<'_>,
        organization_id: &str,
        query: &MemberListQuery<'_>,
    ) -> StorageResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM member WHERE {}", search.condition);
        let statement = self.member_query(sql, organization_id, search.term, query);
        self.count(statement, BY_TRIGRAMS).await
    }

    /// Runs a `COUNT(*)` statement with these PostgreSQL planner `settings`.
    async fn count(
        &self,
        statement: sqlx::query::QueryAs<'_, sqlx::Any, (i64,), sqlx::any::AnyArguments>,
        settings: &str,
    ) -> StorageResult<i64> {
        let rows = self.fetch_planned(statement, settings).await?;
        Ok(rows.first().map_or(0, |(n,)| *n))
    }

    /// What a searched walk in `sort`'s order (or, with `None`, its count) reads, SQLite naming
    /// the order index, and its condition: the search as a plain substring test, which
    /// PostgreSQL cannot hand to its trigram index. Answers the next placeholder's number too.
    fn walk_condition(
        &self,
        sort: Option<MemberSort>,
        filter: MemberFilter,
    ) -> (&'static str, String, usize) {
        let (contains, members) = match (self.backend, sort) {
            (super::Backend::Sqlite, Some(MemberSort::Email)) => (
                SQLITE_MATCHES,
                "member INDEXED BY member_org_email_list_idx",
            ),
            (super::Backend::Sqlite, _) => {
                (SQLITE_MATCHES, "member INDEXED BY member_org_name_list_idx")
            }
            (super::Backend::Postgres, _) => (POSTGRES_MATCHES, "member"),
        };
        let source = ListSource::of_list(sort, filter, members);
        let (condition, next) = member_condition(filter, Some(contains), source);
        (source.from, condition, next)
    }

    /// Runs a statement that pages through one of the list's order indexes and answers the ids
    /// it reads. For a deep page PostgreSQL's planner may prefer reading every row and sorting
    /// them (on disk, past `work_mem`): many times slower than walking the index that was made
    /// for this. So the walk runs without sorting, unless the filter is recent sign-ins, whose
    /// own index finds the few members that signed in lately.
    async fn walk_order_index(
        &self,
        statement: sqlx::query::QueryAs<'_, sqlx::Any, (String,), sqlx::any::AnyArguments>,
        filter: MemberFilter,
    ) -> StorageResult<Vec<String>> {
        let settings = match filter {
            MemberFilter::RecentSso => CUSTOM_PLAN,
            _ => WALK_INDEX,
        };
        let rows = self.fetch_planned(statement, settings).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Runs a statement with these PostgreSQL planner `settings` (`set_config` calls, or none),
    /// which last for the statement's own transaction only. SQLite runs it as it is.
    async fn fetch_planned<O>(
        &self,
        statement: sqlx::query::QueryAs<'_, sqlx::Any, O, sqlx::any::AnyArguments>,
        settings: &str,
    ) -> StorageResult<Vec<O>>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if self.backend == super::Backend::Sqlite || settings.is_empty() {
            return Ok(statement.fetch_all(&mut *self.read().await?).await?);
        }
        let mut conn = self.read().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {settings}")))
            .execute(&mut *tx)
            .await?;
        let rows = statement.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A statement over one organization's members with the search at `$2` and, for the
    /// recent sign-ins filter, its date next.
    pub(super) fn member_query<'q, O>(
        &self,
        sql: String,
        organization_id: &'q str,
        search: &'q str,
        query: &MemberListQuery<'_>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let statement = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(organization_id)
            .bind(search);
        if query.filter == MemberFilter::RecentSso {
            statement.bind(query.signed_in_since)
        } else {
            statement
        }
    }

    pub async fn update_member(
        &self,
        organization_id: &str,
        member_id: &str,
        update: &MemberUpdate<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let mut tx = self.begin().await?;
        let current: MemberRecord = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member WHERE organization_id = $1 AND id = $2"
        )))
        .bind(organization_id)
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound)?;
        let display_name = update.display_name.unwrap_or(&current.display_name);
        if let Some((_, normalized)) = update.email {
            let taken: Option<String> = sqlx::query_scalar(
                "SELECT id FROM member WHERE organization_id = $1 AND email_normalized = $2 \
                 AND id <> $3",
            )
            .bind(organization_id)
            .bind(normalized)
            .bind(member_id)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StorageError::Conflict("email"));
            }
        }
        let role = update.role.unwrap_or(&current.role);
        let status = update.status.unwrap_or(&current.status);
        let sso_enabled = update
            .sso_enabled
            .map(i64::from)
            .unwrap_or(current.sso_enabled);
        let (tenant_id, object_id, upn) = match update.directory_identity {
            Some(Some(d)) => (Some(d.tenant_id), Some(d.object_id), d.user_principal_name),
            Some(None) => (None, None, None),
            None => (
                current.directory_tenant_id.as_deref(),
                current.directory_object_id.as_deref(),
                current.directory_upn.as_deref(),
            ),
        };
        if let (Some(t), Some(o)) = (tenant_id, object_id) {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT display_name FROM member WHERE organization_id = $1 \
                 AND directory_tenant_id = $2 AND directory_object_id = $3 AND id <> $4",
            )
            .bind(organization_id)
            .bind(t)
            .bind(o)
            .bind(member_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(holder) = holder {
                return Err(StorageError::HeldBy(holder));
            }
        }
        sqlx::query(
            "UPDATE member SET display_name = $1, display_name_normalized = $2, role = $3, \
             status = $4, sso_enabled = $5, directory_tenant_id = $6, directory_object_id = $7, \
             updated_at = $8, directory_upn = $11, email = COALESCE($12, email), \
             email_normalized = COALESCE($13, email_normalized) \
             WHERE organization_id = $9 AND id = $10",
        )
        .bind(display_name)
        .bind(display_name.to_lowercase())
        .bind(role)
        .bind(status)
        .bind(sso_enabled)
        .bind(tenant_id)
        .bind(object_id)
        .bind(to_millis(now))
        .bind(organization_id)
        .bind(member_id)
        .bind(upn)
        .bind(update.email.map(|e| e.0))
        .bind(update.email.map(|e| e.1))
        .execute(&mut *tx)
        .await
        .map_err(unique_as("directory_object_id"))?;
        let mut changes = Vec::new();
        if let Some((email, _)) = update
            .email
            .filter(|e| current.email.as_deref() != Some(e.0))
        {
            changes.push(format!(
                "email: {} → {email}",
                current.email.as_deref().unwrap_or("none")
            ));
        }
        if display_name != current.display_name {
            changes.push(format!("name: {} → {display_name}", current.display_name));
        }
        if role != current.role {
            changes.push(format!("role: {} → {role}", current.role));
        }
        if status != current.status {
            changes.push(format!("status: {} → {status}", current.status));
        }
        if sso_enabled != current.sso_enabled {
            changes.push(format!("sso enabled: {}", sso_enabled == 1));
        }
        if object_id != current.directory_object_id.as_deref() {
            changes.push(format!("object id: {}", object_id.unwrap_or("none")));
        }
        let detail = changes.join("; ");
        let entry = AuditEntry {
            detail: &detail,
            ..AuditEntry::success(Some(organization_id), "member.update", current.label())
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(MemberRecord {
            display_name: display_name.to_string(),
            role: role.to_string(),
            status: status.to_string(),
            sso_enabled,
            directory_tenant_id: tenant_id.map(str::to_string),
            directory_object_id: object_id.map(str::to_string),
            directory_upn: upn.map(str::to_string),
            updated_at: to_millis(now),
            email: update.email.map(|e| e.0.to_string()).or(current.email),
            ..current
        })
    }

    /// A member created from a directory user and mapped to it — on their first SSO sign-in, or
    /// picked by an admin. An email already used in the organization is a `Conflict("email")`:
    /// never linked by email. `detail` says how, in the audit entry.
    pub async fn create_member_from_directory(
        &self,
        organization_id: &str,
        member: &NewMember<'_>,
        identity: DirectoryIdentity<'_>,
        detail: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let mut tx = self.begin().await?;
        let mut record = insert_member(&mut tx, organization_id, member, None, now).await?;
        sqlx::query(
            "UPDATE member SET directory_tenant_id = $1, directory_object_id = $2, \
             directory_upn = $3, sso_enabled = 1 WHERE id = $4",
        )
        .bind(identity.tenant_id)
        .bind(identity.object_id)
        .bind(identity.user_principal_name)
        .bind(&record.id)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("directory_object_id"))?;
        let entry = AuditEntry {
            detail,
            ..AuditEntry::success(Some(organization_id), "member.create", member.label())
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        record.directory_tenant_id = Some(identity.tenant_id.to_string());
        record.directory_object_id = Some(identity.object_id.to_string());
        record.directory_upn = identity.user_principal_name.map(str::to_string);
        record.sso_enabled = 1;
        Ok(record)
    }

    /// Active admins with this email and a password, with their password hashes.
    pub async fn find_admin_credentials(
        &self,
        email_normalized: &str,
    ) -> StorageResult<Vec<(MemberRecord, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRecord,
            password_hash: String,
        }
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, password_hash FROM member \
             WHERE email_normalized = $1 AND role = 'admin' AND status = 'active' \
             AND password_hash IS NOT NULL ORDER BY created_at"
        )))
        .bind(email_normalized)
        .fetch_all(&mut *self.read().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.member, r.password_hash))
            .collect())
    }

    pub async fn create_invite(
        &self,
        invite: &NewInvite<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let NewInvite {
            organization_id,
            email,
            token_hash,
            expires_at,
            detail,
        } = *invite;
        let mut tx = self.begin().await?;
        super::require_organization(&mut tx, organization_id).await?;
        sqlx::query(
            "INSERT INTO admin_invite (token_hash, organization_id, email, email_normalized, \
             created_by, expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(token_hash)
        .bind(organization_id)
        .bind(email.0)
        .bind(email.1)
        .bind(&actor.label)
        .bind(to_millis(expires_at))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        audit::write(
            &mut tx,
            actor,
            &AuditEntry {
                detail,
                ..AuditEntry::success(Some(organization_id), "admin_invite.create", email.0)
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The invite when it is unused and unexpired.
    pub async fn find_invite(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<InviteRecord>> {
        Ok(sqlx::query_as(
            "SELECT i.organization_id, o.name AS organization_name, i.email, i.expires_at \
             FROM admin_invite i JOIN organization o ON o.id = i.organization_id \
             WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }

    /// Uses the invite and makes its person an active admin with this name and password:
    /// a new member, or the existing member with the invite's email. One transaction.
    pub async fn accept_invite(
        &self,
        token_hash: &str,
        name: &str,
        password_hash: &str,
        client_addr: &str,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let invite: Option<(String, String, String)> = sqlx::query_as(
            "UPDATE admin_invite SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING organization_id, email, email_normalized",
        )
        .bind(at)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let (organization_id, email, email_normalized) = invite.ok_or(StorageError::NotFound)?;
        let member_id = upsert_admin(
            &mut tx,
            &organization_id,
            (&email, &email_normalized),
            name,
            password_hash,
            now,
        )
        .await?;
        let actor = Actor {
            label: format!("invitee:{email}"),
            client_addr: client_addr.into(),
        };
        audit::write(
            &mut tx,
            &actor,
            &AuditEntry::success(Some(&organization_id), "admin_invite.accept", &email),
            now,
        )
        .await?;
        let record = member_by_id(&mut tx, &member_id).await?;
        tx.commit().await?;
        Ok(record)
    }
}

pub(super) async fn insert_member(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
    member: &NewMember<'_>,
    password_hash: Option<&str>,
    now: OffsetDateTime,
) -> StorageResult<MemberRecord> {
    let id = new_id();
    let at = to_millis(now);
    sqlx::query(
        "INSERT INTO member (id, organization_id, email, email_normalized, display_name, \
         display_name_normalized, role, status, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $9)",
    )
    .bind(&id)
    .bind(organization_id)
    .bind(member.email.map(|e| e.0))
    // No email is an empty normalized one: the list sorts and searches on it as on any.
    .bind(member.email.map(|e| e.1).unwrap_or_default())
    .bind(member.display_name)
    .bind(member.display_name.to_lowercase())
    .bind(member.role)
    .bind(password_hash)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("email"))?;
    Ok(MemberRecord {
        id,
        organization_id: organization_id.into(),
        email: member.email.map(|e| e.0.to_string()),
        display_name: member.display_name.into(),
        role: member.role.into(),
        status: "active".into(),
        directory_tenant_id: None,
        directory_object_id: None,
        directory_upn: None,
        sso_enabled: 0,
        last_sso_sign_in_at: None,
        created_at: at,
        updated_at: at,
    })
}

/// Makes the member with this email an active admin with this name and password, creating
/// them when the organization has no such member; returns the member id.
pub(super) async fn upsert_admin(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
    email: (&str, &str),
    name: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> StorageResult<String> {
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM member WHERE organization_id = $1 AND email_normalized = $2",
    )
    .bind(organization_id)
    .bind(email.1)
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE member SET display_name = $1, display_name_normalized = $2, \
                 role = 'admin', status = 'active', password_hash = $3, updated_at = $4 \
                 WHERE id = $5",
            )
            .bind(name)
            .bind(name.to_lowercase())
            .bind(password_hash)
            .bind(to_millis(now))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            Ok(id)
        }
        None => {
            let member = NewMember {
                email: Some(email),
                display_name: name,
                role: "admin",
            };
            Ok(
                insert_member(conn, organization_id, &member, Some(password_hash), now)
                    .await?
                    .id,
            )
        }
    }
}

pub(super) async fn member_by_id(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> StorageResult<MemberRecord> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM member WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The member mapped to a directory user: the organization at `$1`, the pair at `$2`, `$3`.
static BY_DIRECTORY_IDENTITY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS} FROM member \
         WHERE organization_id = $1 AND directory_tenant_id = $2 AND directory_object_id = $3"
    )
});

pub(super) async fn find_by_directory_identity(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
    tenant_id: &str,
    object_id: &str,
) -> StorageResult<Option<MemberRecord>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(BY_DIRECTORY_IDENTITY.as_str()))
            .bind(organization_id)
            .bind(tenant_id)
            .bind(object_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// A search as PostgreSQL's trigram index serves it (a `LIKE` pattern): the condition with the
/// term at `$2`, the term, and the next placeholder's number.
struct IndexedSearch<'a> {
    condition: &'a str,
    next: usize,
    term: &'a str,
}

/// The page and the number of matches from PostgreSQL's sorted pass (rows of id and match
/// count), when it found every match: at most `SORTED_MATCHES_MAX`, or none at all on the first
/// page. `None` when there are more, or the page lies beyond the matches the pass kept.
fn few_matches(sorted: Vec<(String, i64)>, page: PageRequest) -> Option<(Vec<String>, i64)> {
    match sorted.first() {
        Some((_, total)) if *total <= SORTED_MATCHES_MAX => {
            let total = *total;
            Some((sorted.into_iter().map(|(id, _)| id).collect(), total))
        }
        None if page.offset() == 0 => Some((Vec::new(), 0)),
        _ => None,
    }
}

/// PostgreSQL planner settings for the list's statements. Each is planned for its own values
/// (a prepared statement's generic plan would guess that a third of the members signed in
/// since any date, or match any search).
const CUSTOM_PLAN: &str = "set_config('plan_cache_mode', 'force_custom_plan', true)";
/// Walking an order index: no sorting.
const WALK_INDEX: &str = "set_config('plan_cache_mode', 'force_custom_plan', true), \
     set_config('enable_sort', 'off', true)";
/// Counting many members: an index alone, on this connection (parallel workers cost more to
/// start than they save here, and would take the core the page's walk runs on).
const INDEX_ONLY: &str = "set_config('plan_cache_mode', 'force_custom_plan', true), \
     set_config('enable_seqscan', 'off', true), \
     set_config('enable_bitmapscan', 'off', true), \
     set_config('max_parallel_workers_per_gather', '0', true)";
/// Finding a few matches: by trigrams, never by reading every organization's members.
const BY_TRIGRAMS: &str = "set_config('plan_cache_mode', 'force_custom_plan', true), \
     set_config('enable_seqscan', 'off', true)";

/// How PostgreSQL counts one organization's members for a filter: from an index alone, unless
/// the filter is recent sign-ins, whose own index the planner takes.
fn counting_plan(filter: MemberFilter) -> &'static str {
    match filter {
        MemberFilter::RecentSso => CUSTOM_PLAN,
        _ => INDEX_ONLY,
    }
}

/// The search test, with the term at `$2` in lower case (as the searchable text is): a member
/// matches when their name, email or UPN contains it, or their Object ID starts with it. On
/// SQLite `instr` is the faster substring test.
pub(super) const SQLITE_MATCHES: &str =
    "(instr(search_text, $2) > 0 OR instr(directory_object_id, $2) = 1)";
/// PostgreSQL's search test when a walk reads an order index, which holds both columns.
const POSTGRES_MATCHES: &str =
    "(strpos(search_text, $2) > 0 OR strpos(directory_object_id, $2) = 1)";
/// PostgreSQL's search test for its indexes, with `$2` the pattern `%term%`: the trigram index
/// finds the text, the Object ID prefix index the pattern `term%` (planned for its value, so
/// PostgreSQL reads the prefix off the pattern).
const POSTGRES_INDEXED_MATCHES: &str =
    "(search_text LIKE $2 ESCAPE '\\' OR directory_object_id LIKE ltrim($2, '%') ESCAPE '\\')";

/// Beyond this many matches, a searched page walks the list's order index instead of sorting
/// every match.
const SORTED_MATCHES_MAX: i64 = 5_000;

/// Up to this many expected matches, PostgreSQL counts a search by trigrams (reading each match's
/// row); beyond it, reading every member's index entry costs less.
const TRIGRAM_COUNT_MAX: i64 = 20_000;

/// The list's order, as the list indexes hold it.
pub(super) fn order_of(sort: MemberSort) -> &'static str {
    match sort {
        MemberSort::Name => "display_name_normalized, id",
        MemberSort::Email => "email_normalized, id",
        // Newest first, never signed in last: the index read backwards.
        MemberSort::LastSignIn => "last_sso_sign_in_at DESC NULLS LAST, id DESC",
    }
}

/// Where a list statement reads its members, and how it names their last sign-in there.
#[derive(Debug, Clone, Copy)]
pub(super) struct ListSource {
    /// What follows `FROM`.
    pub from: &'static str,
    /// The last sign-in, as the statement's condition names it.
    pub last_sign_in: &'static str,
}

impl ListSource {
    /// The members themselves.
    pub const MEMBERS: ListSource = ListSource {
        from: "member",
        last_sign_in: LAST_SIGN_IN,
    };
    /// The members in last sign-in order: the view over the sign-in table's index.
    const BY_LAST_SIGN_IN: ListSource = ListSource {
        from: "member_by_last_sign_in",
        last_sign_in: "last_sso_sign_in_at",
    };

    /// What a list in `sort`'s order (or, with `None`, its count) reads: the members in last
    /// sign-in order when it is in that order or shows recent sign-ins only (that index finds
    /// them), else the members themselves, read `from` there (SQLite may name an index).
    fn of_list(sort: Option<MemberSort>, filter: MemberFilter, from: &'static str) -> ListSource {
        if sort == Some(MemberSort::LastSignIn) || filter == MemberFilter::RecentSso {
            ListSource::BY_LAST_SIGN_IN
        } else {
            ListSource {
                from,
                ..ListSource::MEMBERS
            }
        }
    }
}

/// A searched pass's last sign-in column: read only when the list is in that order.
pub(super) fn last_sign_in_column(sort: MemberSort) -> &'static str {
    match sort {
        MemberSort::LastSignIn => LAST_SIGN_IN,
        MemberSort::Name | MemberSort::Email => "NULL",
    }
}

/// Which of an organization's members (`$1`) a list shows: those matching the search (`$2`,
/// tested by `matching`) and the filter, as a statement reading `source` tests them. Answers
/// the clause and the next placeholder's number.
pub(super) fn member_condition(
    filter: MemberFilter,
    matching: Option<&str>,
    source: ListSource,
) -> (String, usize) {
    let mut condition = String::from("organization_id = $1");
    let mut next = 2;
    if let Some(matching) = matching {
        condition.push_str(" AND ");
        condition.push_str(matching);
        next += 1;
    }
    match filter {
        MemberFilter::All => {}
        MemberFilter::Mapped => condition.push_str(" AND directory_object_id IS NOT NULL"),
        MemberFilter::Unmapped => condition.push_str(" AND directory_object_id IS NULL"),
        MemberFilter::SsoEnabled => condition.push_str(" AND sso_enabled = 1"),
        MemberFilter::RecentSso => {
            condition.push_str(&format!(" AND {} >= ${next}", source.last_sign_in));
            next += 1;
        }
    }
    (condition, next)
}
