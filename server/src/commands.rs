//! Administrative subcommands run from a shell on the server host. Each is
//! audited with the actor `cli:<OS user>`.

use std::io::Read;

use crate::auth::audit::{self, Verdict};
use crate::auth::operators::PasswordOrigin;
use crate::auth::{login, password};
use crate::cli::{AdminCommand, AuditCommand, DbArgs, SiteCommand};
use crate::db;
use crate::enrol;
use crate::error::Error;

pub(crate) fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub(crate) async fn pool(args: &DbArgs) -> Result<db::Database, Error> {
    let database = db::connect(args).await?;
    db::migrate(&database.pool).await?;
    Ok(database)
}

pub(crate) async fn finish(database: db::Database) {
    database.pool.close().await;
    if let Some(cluster) = database.private_cluster {
        cluster.stop().await;
    }
}

pub async fn admin(cmd: AdminCommand) -> Result<(), Error> {
    let AdminCommand::Create {
        db,
        username,
        role,
        password_stdin,
    } = cmd;
    let database = pool(&db).await?;
    let (secret, generated) = if password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (password::generate(), true)
    };
    let mut tx = database.pool.begin().await?;
    let origin = if generated {
        PasswordOrigin::OneTime
    } else {
        PasswordOrigin::Chosen
    };
    login::create_operator(&mut tx, &username, role, &secret, origin, &actor()).await?;
    tx.commit().await?;
    println!("created operator {username} ({})", role.as_str());
    if generated {
        println!("one-time password: {secret}");
        println!("log in and change it at /account/password");
    }
    finish(database).await;
    Ok(())
}

/// Returns whether the chain is intact (the caller maps false to exit 1).
pub async fn audit(cmd: AuditCommand) -> Result<bool, Error> {
    let AuditCommand::Verify { db } = cmd;
    let database = pool(&db).await?;
    let verdict = audit::verify(&database.pool).await?;
    finish(database).await;
    Ok(match verdict {
        Verdict::Intact { rows } => {
            println!("audit chain intact: {rows} rows");
            true
        }
        Verdict::Broken { audit_id, reason } => {
            println!("audit chain BROKEN at audit_id {audit_id}: {reason}");
            println!(
                "the row or one before it was altered outside the server; restore from backup and investigate"
            );
            false
        }
    })
}

pub async fn site(cmd: SiteCommand) -> Result<(), Error> {
    match cmd {
        SiteCommand::Add { db, site } => {
            let input = site.apply(crate::sites::SiteInput {
                name: site.site_id.clone(),
                ..Default::default()
            });
            save_site(&db, &input, SiteChange::Create).await?;
            println!("site {} registered", input.site_id);
        }
        SiteCommand::Update { db, site } => {
            let database = pool(&db).await?;
            let existing = crate::sites::store::get(&database.pool, &site.site_id)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "site {} (register it first with `onshi-server site add`)",
                        site.site_id
                    ))
                })?;
            finish(database).await;
            let input = site.apply(crate::sites::SiteInput::from_site(&existing));
            save_site(&db, &input, SiteChange::Update).await?;
            println!("site {} updated", input.site_id);
        }
        SiteCommand::Token {
            db,
            site_id,
            ttl_hours,
        } => {
            if !(1..=24 * 14).contains(&ttl_hours) {
                return Err(Error::InvalidArgument(
                    "--ttl-hours must be between 1 and 336".into(),
                ));
            }
            let database = pool(&db).await?;
            let (token, expires_at) = enrol::issue_token(
                &database.pool,
                &site_id,
                chrono::Duration::hours(ttl_hours),
                &actor(),
            )
            .await?;
            println!("token: {token}");
            println!("expires: {}", expires_at.to_rfc3339());
            // Read-only: the running server owns its certificates.
            if let Ok(ca) = std::fs::read_to_string(db.data_dir().join("pki").join("ca.pem")) {
                println!("ca-fingerprint: {}", crate::tls::fingerprint(&ca));
            }
            finish(database).await;
        }
        SiteCommand::Hours {
            db,
            site_id,
            set,
            default,
            holidays,
        } => crate::sites::hours_cli::hours(&db, &site_id, set, default, holidays).await?,
        SiteCommand::ClosedDay {
            db,
            site_id,
            date,
            open,
            note,
            remove,
        } => crate::sites::hours_cli::closed_day(&db, &site_id, &date, open, note, remove).await?,
    }
    Ok(())
}

enum SiteChange {
    Create,
    Update,
}

async fn save_site(
    db: &DbArgs,
    input: &crate::sites::SiteInput,
    change: SiteChange,
) -> Result<(), Error> {
    let database = pool(db).await?;
    let actor = actor();
    let by = crate::sites::Actor {
        actor: &actor,
        remote: "",
    };
    let mut tx = database.pool.begin().await?;
    match change {
        SiteChange::Create => crate::sites::store::create(&mut tx, input, by).await?,
        SiteChange::Update => crate::sites::store::update(&mut tx, input, by).await?,
    }
    tx.commit().await?;
    finish(database).await;
    Ok(())
}

/// `onshi-server sweep`: one sweep by hand, timed.
pub async fn sweep(args: crate::cli::SweepArgs) -> Result<(), Error> {
    use crate::incidents::{lifecycle::Policy, sweep};
    let database = pool(&args.db).await?;
    let now = args
        .at
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let offline = sweep::OfflinePolicy {
        silence: chrono::Duration::minutes(i64::from(args.offline_after_minutes.max(1))),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let swept = sweep::sweep_once(&database.pool, &Policy::default(), &offline, now).await?;
    let elapsed = started.elapsed();
    if swept.ran {
        println!(
            "sweep at {}: candidates={} offline_opened={} reopened={} resolved={} settled={} in {:.1} ms",
            now.with_timezone(&crate::desk::JST).to_rfc3339(),
            swept.candidates,
            swept.applied.opened.len(),
            swept.applied.reopened.len(),
            swept.applied.resolved.len(),
            swept.settled,
            elapsed.as_secs_f64() * 1e3
        );
    } else {
        println!("another server is sweeping right now; nothing done");
    }
    finish(database).await;
    Ok(())
}
