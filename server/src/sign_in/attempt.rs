//! A sign-in in progress, kept by the browser that started it, sealed with the server's key
//! (the browser can neither read nor change it): the organization, the nonce, the PKCE
//! verifier, where to go afterwards and when it expires. The browser holds it in a cookie named
//! after the start of the state's hash and sent back only to the callback
//! (`web::attempt_cookie`), so sign-ins started in two tabs both finish and a callback arriving
//! in another browser finds nothing. Which states were used the server keeps
//! (`storage::UsedState`): a state is answered once. Starting a sign-in writes nothing on the
//! server and touches no session.

use crate::clock::to_millis;
use crate::crypto::sealing::{SealingError, SealingKey};
use crate::crypto::tokens;
use crate::oidc::Started;
use crate::storage::{UsedState, ATTEMPT_LIFETIME};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Seals attempts apart from everything else the key seals.
const SEALING_CONTEXT: &str = "gatehouse sign-in attempt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub organization_id: String,
    /// `sign_in::PURPOSE` or the wizard's test sign-in.
    pub purpose: String,
    /// The state's SHA-256: the attempt answers only the callback that carries that state.
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after a sign-in, already checked to be a relative path on Gatehouse.
    pub return_to: Option<String>,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// SAML: the AuthnRequest's ID, which the response must answer (`InResponseTo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml_request_id: Option<String>,
}

/// Why a callback has no attempt to finish.
#[derive(Debug, PartialEq, Eq)]
pub enum NotKept {
    /// This browser holds no authentic attempt for the state.
    Missing,
    /// It does, but the attempt is older than `ATTEMPT_LIFETIME`.
    Expired,
}

/// Why an attempt could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealAttemptError {
    #[error("encoding the sign-in attempt: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("sealing the sign-in attempt: {0}")]
    Seal(#[from] SealingError),
}

impl SignInAttempt {
    pub fn new(
        organization_id: &str,
        purpose: &str,
        started: &Started,
        return_to: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        SignInAttempt {
            organization_id: organization_id.to_string(),
            purpose: purpose.to_string(),
            state_hash: tokens::hash(&started.state),
            nonce: started.nonce.clone(),
            pkce_verifier: started.pkce_verifier.clone(),
            return_to,
            expires_at: to_millis(now + ATTEMPT_LIFETIME),
            saml_request_id: None,
        }
    }

    /// A SAML attempt: `relay_state` (the reference the request carries) stands for the state.
    pub fn for_saml(
        organization_id: &str,
        purpose: &str,
        relay_state: &str,
        request_id: &str,
        return_to: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        SignInAttempt {
            organization_id: organization_id.to_string(),
            purpose: purpose.to_string(),
            state_hash: tokens::hash(relay_state),
            nonce: String::new(),
            pkce_verifier: String::new(),
            return_to,
            expires_at: to_millis(now + ATTEMPT_LIFETIME),
            saml_request_id: Some(request_id.to_string()),
        }
    }

    /// The attempt's state, to be kept as used with the outcome of its callback.
    pub fn used_state(&self) -> UsedState<'_> {
        UsedState {
            state_hash: &self.state_hash,
            expires_at: self.expires_at,
        }
    }

    /// The attempt sealed, for the browser to keep.
    pub fn seal(&self, key: &SealingKey) -> Result<String, SealAttemptError> {
        Ok(key.seal(&serde_json::to_vec(self)?, SEALING_CONTEXT)?)
    }

    /// The attempt a browser kept for the state, if it is authentic and still alive.
    pub fn open(
        sealed: &str,
        key: &SealingKey,
        state_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Self, NotKept> {
        let attempt: SignInAttempt = key
            .open(sealed, SEALING_CONTEXT)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(NotKept::Missing)?;
        if attempt.state_hash != state_hash {
            return Err(NotKept::Missing);
        }
        if attempt.expires_at <= to_millis(now) {
            return Err(NotKept::Expired);
        }
        Ok(attempt)
    }
}
