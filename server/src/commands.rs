//! Administrative subcommands run from a shell on the server host. Each is
//! audited with the actor `cli:<OS user>`.

use std::io::Read;

use crate::auth::audit::{self, Entry, Verdict};
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
    login::create_operator(&mut tx, &username, role, &secret, &actor()).await?;
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
        SiteCommand::Add {
            db,
            site_id,
            name,
            prefecture,
            kind,
            reader_maker,
            router_model,
            maintenance,
        } => {
            crate::ingest::validate::check_id("--site-id", &site_id)?;
            let database = pool(&db).await?;
            let mut tx = database.pool.begin().await?;
            let n = sqlx::query(
                "INSERT INTO sites (site_id, name, prefecture, kind, reader_maker, router_model, maintenance)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (site_id) DO NOTHING",
            )
            .bind(&site_id)
            .bind(&name)
            .bind(&prefecture)
            .bind(&kind)
            .bind(&reader_maker)
            .bind(&router_model)
            .bind(&maintenance)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::Conflict(format!("site {site_id} already exists")));
            }
            audit::record(
                &mut tx,
                Entry::new(actor(), "site.create", format!("site:{site_id}"))
                    .detail(serde_json::json!({"name": name})),
            )
            .await?;
            tx.commit().await?;
            println!("site {site_id} registered");
            finish(database).await;
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
    }
    Ok(())
}
