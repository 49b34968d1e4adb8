//! The outbox: email to people, written with the change that causes it and sent later by
//! background work (`mail`), so that nothing is lost when the server stops between the two.

use super::{new_id, Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// A message to write to the outbox.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub subject: String,
    pub body: String,
}

/// A message waiting to be sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEmail {
    pub id: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub attempts: i64,
}

/// Writes `email` to each of `recipients`, in `conn` (the change's own transaction).
pub(super) async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    recipients: &[String],
    email: &NewEmail,
    now: OffsetDateTime,
) -> StorageResult<()> {
    let at = to_millis(now);
    for to in recipients {
        sqlx::query(
            "INSERT INTO outbox_email (id, to_address, subject, body, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(new_id())
        .bind(to)
        .bind(&email.subject)
        .bind(&email.body)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The addresses of an organization's active admins that have one.
pub(super) async fn admin_addresses(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
) -> StorageResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM member WHERE organization_id = $1 AND role = 'admin' \
         AND status = 'active' AND email IS NOT NULL ORDER BY email_normalized",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

impl Storage {
    /// Messages due to be sent now, oldest first.
    pub async fn due_emails(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> StorageResult<Vec<OutboxEmail>> {
        Ok(sqlx::query_as(
            "SELECT id, to_address, subject, body, created_at, next_attempt_at, attempts \
             FROM outbox_email WHERE sent_at IS NULL AND gave_up_at IS NULL \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Takes the message for one sender: moves its next attempt to `until`. False when
    /// another sender took it first.
    pub async fn take_email(
        &self,
        email: &OutboxEmail,
        until: OffsetDateTime,
    ) -> StorageResult<bool> {
        let taken = sqlx::query(
            "UPDATE outbox_email SET next_attempt_at = $1 \
             WHERE id = $2 AND next_attempt_at = $3 AND sent_at IS NULL",
        )
        .bind(to_millis(until))
        .bind(&email.id)
        .bind(email.next_attempt_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    pub async fn email_sent(&self, id: &str, now: OffsetDateTime) -> StorageResult<()> {
        sqlx::query("UPDATE outbox_email SET sent_at = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(to_millis(now))
            .bind(id)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    /// A failed attempt: tried again at `retry_at`, or never (`None`: Gatehouse gave up).
    pub async fn email_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        sqlx::query(
            "UPDATE outbox_email SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at), gave_up_at = $3 WHERE id = $4",
        )
        .bind(error)
        .bind(retry_at.map(to_millis))
        .bind(retry_at.is_none().then(|| to_millis(now)))
        .bind(id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }
}
