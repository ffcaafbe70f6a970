//! Password sign-in: Entra ID's smart lockout, per account, and password verification that
//! neither starves the API (Argon2 runs on blocking threads, a bounded number at once) nor tells
//! an unknown account from a wrong password by its timing (an unknown account is checked against
//! a dummy hash).
//!
//! [`SignIn::check_password`] is the one check every password sign-in goes through: the password
//! grant, and the sign-in and device-code pages. Lockout state is kept in memory, per instance
//! (docs/fidelity.md, "Smart lockout").

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use uuid::Uuid;

use super::credentials::{hash_password, password_matches};
use crate::config;

/// What a password sign-in comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password is right and the account is not locked.
    Accepted,
    /// The password is wrong (the failure was counted).
    WrongPassword,
    /// The account is locked (`AADSTS50053`) for this many more seconds; the password was not
    /// looked at.
    Locked { retry_after_secs: u64 },
}

#[derive(Debug, Default)]
struct Account {
    /// Times of the failures still inside the window, oldest first.
    failures: VecDeque<i64>,
    locked_until: i64,
    /// Lockouts so far: each one lasts twice as long as the one before.
    lockouts: u32,
}

/// Accounts kept before the ones with nothing to remember are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub struct SignIn {
    config: config::SignIn,
    hashing: Arc<Semaphore>,
    dummy_hash: Arc<str>,
    accounts: Mutex<HashMap<(Uuid, Uuid), Account>>,
}

impl SignIn {
    pub fn new(config: &config::SignIn) -> SignIn {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let permits = if config.hash_concurrency == 0 { cores } else { config.hash_concurrency };
        SignIn {
            config: config.clone(),
            hashing: Arc::new(Semaphore::new(permits)),
            // Same parameters as every stored hash, so checking it takes as long.
            dummy_hash: hash_password("pbi-access: no such account").into(),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Check `user`'s password at `now` (Unix ms): refused unseen while the account is locked;
    /// a wrong one counts towards the lockout threshold, a right one clears the count.
    pub async fn check_password(&self, tenant: Uuid, user: Uuid, password: &str, stored_hash: Option<&str>, now: i64) -> Outcome {
        if let Some(retry_after_secs) = self.locked(tenant, user, now) {
            return Outcome::Locked { retry_after_secs };
        }
        if self.verify(password, stored_hash).await {
            self.accounts.lock().expect("lockout state").remove(&(tenant, user));
            Outcome::Accepted
        } else {
            self.failed(tenant, user, now);
            Outcome::WrongPassword
        }
    }

    /// Argon2 on a blocking thread, at most `hash_concurrency` at once. Without a stored hash
    /// (no such account, or no password) the dummy hash is checked, so it takes as long, and
    /// the answer is no.
    pub async fn verify(&self, password: &str, stored_hash: Option<&str>) -> bool {
        let Ok(_permit) = self.hashing.clone().acquire_owned().await else {
            return false;
        };
        let (hash, real) = match stored_hash {
            Some(h) => (Arc::<str>::from(h), true),
            None => (self.dummy_hash.clone(), false),
        };
        let password = password.to_string();
        let matched = tokio::task::spawn_blocking(move || password_matches(&password, &hash)).await.unwrap_or(false);
        real && matched
    }

    fn locked(&self, tenant: Uuid, user: Uuid, now: i64) -> Option<u64> {
        let accounts = self.accounts.lock().expect("lockout state");
        let account = accounts.get(&(tenant, user))?;
        (account.locked_until > now).then(|| ((account.locked_until - now) as u64).div_ceil(1000).max(1))
    }

    fn failed(&self, tenant: Uuid, user: Uuid, now: i64) {
        let threshold = self.config.lockout_threshold as usize;
        if threshold == 0 {
            return;
        }
        let window = self.config.lockout_window_secs as i64 * 1000;
        let mut accounts = self.accounts.lock().expect("lockout state");
        if accounts.len() > PRUNE_ABOVE {
            accounts.retain(|_, a| a.locked_until > now || a.lockouts > 0 || a.failures.back().is_some_and(|t| *t > now - window));
        }
        let account = accounts.entry((tenant, user)).or_default();
        while account.failures.front().is_some_and(|t| *t <= now - window) {
            account.failures.pop_front();
        }
        account.failures.push_back(now);
        if account.failures.len() >= threshold {
            let secs =
                self.config.lockout_duration_secs.saturating_mul(1u64 << account.lockouts.min(20)).min(self.config.lockout_max_secs.max(1));
            account.locked_until = now + secs as i64 * 1000;
            account.lockouts += 1;
            account.failures.clear();
            tracing::warn!(%tenant, %user, lockout_secs = secs, "account locked after repeated failed sign-ins (AADSTS50053)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(threshold: u32) -> SignIn {
        SignIn::new(&config::SignIn {
            lockout_threshold: threshold,
            lockout_duration_secs: 60,
            lockout_max_secs: 600,
            ..config::SignIn::default()
        })
    }

    #[tokio::test]
    async fn locks_after_the_threshold_and_each_lockout_lasts_longer() {
        let s = sign_in(3);
        let hash = hash_password("right");
        let (t, u) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            assert_eq!(s.check_password(t, u, "wrong", Some(&hash), 0).await, Outcome::WrongPassword);
        }
        // Locked: even the right password is refused, without being checked.
        assert_eq!(s.check_password(t, u, "right", Some(&hash), 1000).await, Outcome::Locked { retry_after_secs: 59 });
        // Another account of the tenant is not.
        assert_eq!(s.check_password(t, Uuid::new_v4(), "right", Some(&hash), 1000).await, Outcome::Accepted);
        // After the minute, three more failures lock it for two minutes.
        for _ in 0..3 {
            assert_eq!(s.check_password(t, u, "wrong", Some(&hash), 61_000).await, Outcome::WrongPassword);
        }
        assert_eq!(s.check_password(t, u, "right", Some(&hash), 61_000).await, Outcome::Locked { retry_after_secs: 120 });
        assert_eq!(s.check_password(t, u, "right", Some(&hash), 181_000).await, Outcome::Accepted);
    }

    #[tokio::test]
    async fn failures_outside_the_window_do_not_count_and_zero_turns_lockout_off() {
        let s = sign_in(2);
        let hash = hash_password("right");
        let (t, u) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(s.check_password(t, u, "wrong", Some(&hash), 0).await, Outcome::WrongPassword);
        let later = 3600 * 1000 + 1;
        assert_eq!(s.check_password(t, u, "wrong", Some(&hash), later).await, Outcome::WrongPassword);
        assert_eq!(s.check_password(t, u, "right", Some(&hash), later).await, Outcome::Accepted);
        let off = sign_in(0);
        for _ in 0..20 {
            assert_eq!(off.check_password(t, u, "wrong", Some(&hash), 0).await, Outcome::WrongPassword);
        }
        assert_eq!(off.check_password(t, u, "right", Some(&hash), 0).await, Outcome::Accepted);
        assert!(!off.verify("anything", None).await, "no hash never matches");
    }
}
