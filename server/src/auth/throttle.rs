//! Login throttling by source address as well as by account (docs/SECURITY.md, "Login
//! throttling"). Failures are counted over a sliding window:
//!
//! - one address and one account: [`PAIR_LIMIT`] failures lock that account *for that
//!   address* (the legitimate operator elsewhere can still log in);
//! - one address, any accounts: [`ADDRESS_LIMIT`] failures refuse every login from it
//!   (password spraying);
//! - one account, any addresses: [`ACCOUNT_LIMIT`] failures lock the account itself (a
//!   distributed attack); an administrator can unlock it.
//!
//! The decision ([`decide`]) is pure; the counts come from `login_failures`.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use crate::error::Error;

pub const WINDOW: Duration = Duration::minutes(15);
pub const PAIR_LIMIT: i64 = 5;
pub const ADDRESS_LIMIT: i64 = 20;
pub const ACCOUNT_LIMIT: i64 = 50;

/// Failures in the window, as counted before an attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// From this address for this account.
    pub pair: i64,
    /// From this address for any account.
    pub address: i64,
    /// The most recent failure from this address.
    pub last_from_address: Option<DateTime<Utc>>,
}

/// Why an attempt is refused before the password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Too many failures for this account from this address.
    Pair { until: DateTime<Utc> },
    /// Too many failures from this address.
    Address { until: DateTime<Utc> },
}

/// Whether an attempt with these counts is refused. Pure.
pub fn decide(f: Failures, now: DateTime<Utc>) -> Option<Throttle> {
    let until = f.last_from_address.unwrap_or(now) + WINDOW;
    if f.address >= ADDRESS_LIMIT {
        Some(Throttle::Address { until })
    } else if f.pair >= PAIR_LIMIT {
        Some(Throttle::Pair { until })
    } else {
        None
    }
}

pub async fn count<'e>(
    db: impl sqlx::PgExecutor<'e>,
    remote: &str,
    username: &str,
) -> Result<Failures, Error> {
    let since = Utc::now() - WINDOW;
    let (pair, address, last): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE username = $2), count(*), max(at)
         FROM login_failures WHERE remote = $1 AND at > $3",
    )
    .bind(remote)
    .bind(username)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(Failures {
        pair,
        address,
        last_from_address: last,
    })
}

/// Records a failure, drops those older than the window, and returns how many failures the
/// account now has from anywhere.
pub async fn record_failure(
    conn: &mut PgConnection,
    remote: &str,
    username: &str,
) -> Result<i64, Error> {
    let since = Utc::now() - WINDOW;
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(since)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO login_failures (remote, username) VALUES ($1, $2)")
        .bind(remote)
        .bind(username)
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE username = $1")
            .bind(username)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Forgets an account's failures (after a successful login from `remote`, or an unlock by an
/// administrator when `remote` is `None`).
pub async fn clear(
    conn: &mut PgConnection,
    username: &str,
    remote: Option<&str>,
) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM login_failures WHERE username = $1 AND ($2::text IS NULL OR remote = $2)",
    )
    .bind(username)
    .bind(remote)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_throttled_before_the_account_is_locked() {
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let last = Some(now - Duration::minutes(1));
        let f = |pair, address| Failures {
            pair,
            address,
            last_from_address: last,
        };
        assert_eq!(decide(f(4, 4), now), None);
        assert_eq!(
            decide(f(5, 5), now),
            Some(Throttle::Pair {
                until: now + Duration::minutes(14)
            })
        );
        // Spraying many accounts from one address: the address stops, no account locks.
        assert!(matches!(
            decide(f(1, ADDRESS_LIMIT), now),
            Some(Throttle::Address { .. })
        ));
        const { assert!(PAIR_LIMIT < ADDRESS_LIMIT && ADDRESS_LIMIT < ACCOUNT_LIMIT) };
    }
}
