//! Email to people through the operator's SMTP server (`GATEHOUSE_SMTP_URL`, with lettre).
//! Messages wait in the outbox (`storage::outbox`), written with the change that causes them;
//! `deliver_due` sends them from background work, tries a failed one again with a growing delay
//! and gives up after `MAX_ATTEMPTS`. Several instances may deliver at once: each message is
//! taken by one.

use crate::storage::{OutboxEmail, Storage, StorageError};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use time::OffsetDateTime;

/// Attempts before Gatehouse stops trying a message.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long one sender holds a message it took (longer than one SMTP conversation).
const TAKEN_FOR: time::Duration = time::Duration::minutes(5);
/// Messages sent per round.
const PER_ROUND: i64 = 50;

/// The operator's SMTP server and the sender's address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why the mail settings are not usable.
#[derive(Debug, thiserror::Error)]
pub enum MailSettingsError {
    #[error("GATEHOUSE_SMTP_URL is not an SMTP URL such as smtp://mail.example.com:587?tls=required: {0}")]
    Url(#[from] lettre::transport::smtp::Error),
    #[error(
        "GATEHOUSE_MAIL_FROM is not an address such as \"Gatehouse <gatehouse@example.com>\": {0}"
    )]
    From(#[from] lettre::address::AddressError),
    #[error("GATEHOUSE_SMTP_URL needs GATEHOUSE_MAIL_FROM, the address messages come from")]
    NoFrom,
}

impl Mailer {
    /// The mailer the settings describe; `None` when no SMTP server is set (messages then wait
    /// in the outbox).
    pub fn from_settings(
        smtp_url: Option<&str>,
        from: Option<&str>,
    ) -> Result<Option<Mailer>, MailSettingsError> {
        let Some(url) = smtp_url else {
            return Ok(None);
        };
        let from: Mailbox = from.ok_or(MailSettingsError::NoFrom)?.parse()?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Some(Mailer { transport, from }))
    }

    async fn send(&self, email: &OutboxEmail) -> Result<(), String> {
        let to: Mailbox = email
            .to_address
            .parse()
            .map_err(|e| format!("the address cannot receive mail: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .body(email.body.clone())
            .map_err(|e| format!("the message could not be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server refused or did not answer: {e}"))
    }
}

/// How long to wait after the `attempts`-th failure: 1, 2, 4 … minutes, at most 2 hours.
fn retry_delay(attempts: i64) -> time::Duration {
    time::Duration::minutes((1i64 << attempts.clamp(0, 7)).min(120))
}

/// Sends the messages that are due; answers how many were sent.
pub async fn deliver_due(
    storage: &Storage,
    mailer: &Mailer,
    now: OffsetDateTime,
) -> Result<usize, StorageError> {
    let mut sent = 0;
    for email in storage.due_emails(now, PER_ROUND).await? {
        if !storage.take_email(&email, now + TAKEN_FOR).await? {
            continue;
        }
        match mailer.send(&email).await {
            Ok(()) => {
                storage.email_sent(&email.id, now).await?;
                sent += 1;
            }
            Err(why) => {
                let attempts = email.attempts + 1;
                let retry_at = (attempts < MAX_ATTEMPTS).then(|| now + retry_delay(attempts));
                tracing::warn!(to = %email.to_address, attempts, error = %why, "an email could not be sent");
                storage.email_failed(&email.id, &why, retry_at, now).await?;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_wait_longer_each_time_up_to_two_hours() {
        let minutes: Vec<i64> = (1..=8)
            .map(|n| super::retry_delay(n).whole_minutes())
            .collect();
        assert_eq!(minutes, vec![2, 4, 8, 16, 32, 64, 120, 120]);
    }

    #[test]
    fn an_smtp_url_needs_a_sender() {
        assert!(super::Mailer::from_settings(None, None).unwrap().is_none());
        assert!(super::Mailer::from_settings(Some("smtp://127.0.0.1:2525"), None).is_err());
        assert!(super::Mailer::from_settings(
            Some("smtp://127.0.0.1:2525"),
            Some("not an address")
        )
        .is_err());
        assert!(super::Mailer::from_settings(
            Some("smtp://127.0.0.1:2525"),
            Some("Gatehouse <gatehouse@vendor.example>")
        )
        .unwrap()
        .is_some());
    }
}
