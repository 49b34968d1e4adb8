//! Sign-in attempt limits per account and per client address (governor's GCRA limiter).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Password attempts: few a minute for one account from one address, so guessing stays slow,
/// and more for one account from everywhere, so that someone guessing from elsewhere does not
/// lock its owner out of the break-glass path; and a limit per address across accounts.
#[derive(Debug)]
pub struct SignInLimits {
    per_account_and_address: DefaultKeyedRateLimiter<(String, String)>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<String>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits::new(5, 30, 30)
    }
}

impl SignInLimits {
    /// At most `per_account_and_address` attempts a minute for one account from one address,
    /// `per_account` for one account, `per_address` from one address.
    pub fn new(per_account_and_address: u32, per_account: u32, per_address: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        SignInLimits {
            per_account_and_address: RateLimiter::keyed(quota(per_account_and_address)),
            per_account: RateLimiter::keyed(quota(per_account)),
            per_address: RateLimiter::keyed(quota(per_address)),
        }
    }

    /// Counts one attempt; false when any limit is exhausted.
    pub fn allow(&self, account: &str, address: &str) -> bool {
        let account = account.to_lowercase();
        let pair = (account.clone(), address.to_string());
        let by_pair = self.per_account_and_address.check_key(&pair).is_ok();
        let by_address = self.per_address.check_key(&address.to_string()).is_ok();
        let by_account = self.per_account.check_key(&account).is_ok();
        by_pair && by_address && by_account
    }

    /// Forgets idle keys so the limiter's memory stays bounded.
    pub fn shrink(&self) {
        self.per_account_and_address.retain_recent();
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}

/// A per-client-address limit, for single sign-on starts and callbacks.
#[derive(Debug)]
pub struct AddressLimit {
    per_address: DefaultKeyedRateLimiter<String>,
}

impl AddressLimit {
    /// At most `per_minute` requests a minute from one address.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        AddressLimit {
            per_address: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Counts one request; false when the address has used up its minute.
    pub fn allow(&self, address: &str) -> bool {
        self.per_address.check_key(&address.to_string()).is_ok()
    }

    /// Forgets idle addresses so the limiter's memory stays bounded.
    pub fn shrink(&self) {
        self.per_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::{AddressLimit, SignInLimits};

    #[test]
    fn an_address_gets_a_limited_number_of_sso_requests() {
        let limit = AddressLimit::per_minute(2);
        assert!(limit.allow("10.0.0.1") && limit.allow("10.0.0.1"));
        assert!(!limit.allow("10.0.0.1"));
        assert!(limit.allow("10.0.0.2"));
    }

    #[test]
    fn guessing_from_one_address_does_not_lock_the_account_out_elsewhere() {
        let limits = SignInLimits::new(3, 6, 100);
        assert!((0..3).all(|_| limits.allow("a@contoso.com", "10.0.0.1")));
        assert!(
            !limits.allow("A@Contoso.com", "10.0.0.1"),
            "same account and address, other case"
        );
        assert!(
            limits.allow("a@contoso.com", "10.0.0.2"),
            "the owner elsewhere"
        );
        assert!(limits.allow("b@contoso.com", "10.0.0.1"), "other accounts");
        // From many addresses, the account's own limit holds.
        assert!(limits.allow("a@contoso.com", "10.0.0.3"));
        assert!(!limits.allow("a@contoso.com", "10.0.0.4"));
    }

    #[test]
    fn an_address_gets_a_limited_number_of_attempts() {
        let limits = SignInLimits::new(100, 100, 2);
        assert!(limits.allow("a@x.com", "10.0.0.1"));
        assert!(limits.allow("b@x.com", "10.0.0.1"));
        assert!(!limits.allow("c@x.com", "10.0.0.1"));
        assert!(limits.allow("c@x.com", "10.0.0.2"));
    }
}
