//! Finding a PostgreSQL to use, and running migrations.
//!
//! Order: `DATABASE_URL` if set; else a server on 127.0.0.1:5432; else a
//! private cluster under `<data-dir>/postgres` started with the installed
//! `initdb`/`pg_ctl`; else a clear message naming what to install.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::error::Error;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Port of the private cluster; far from 5432 so it never shadows a system one.
const PRIVATE_PORT: u16 = 54329;
const DEFAULT_DB: &str = "onshi";

/// A database ready for use, and the private cluster behind it if we started one.
pub struct Database {
    pub pool: PgPool,
    pub private_cluster: Option<PrivateCluster>,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL URL. Unset: use 127.0.0.1:5432, or start a private cluster
    /// under --data-dir if PostgreSQL is installed but not running.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the server's own files (private PostgreSQL cluster, TLS
    /// certificates). Default: the user's data directory.
    #[arg(long, env = "ONSHI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DbArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("onshi-fleet")
        })
    }
}

pub async fn connect(args: &DbArgs) -> Result<Database, Error> {
    if let Some(url) = &args.database_url {
        let pool = pool_for(url).await.map_err(|e| Error::Database {
            what: format!(
                "DATABASE_URL に接続できません ({}): {e}. URL・パスワード・サーバの起動を確認してください",
                redact(url)
            ),
        })?;
        return Ok(Database {
            pool,
            private_cluster: None,
        });
    }
    if port_open(5432).await {
        let url = format!("postgres://postgres@127.0.0.1:5432/{DEFAULT_DB}");
        ensure_database(&url).await?;
        let pool = pool_for(&url).await.map_err(|e| Error::Database {
            what: format!("127.0.0.1:5432 の PostgreSQL に接続できません: {e}. DATABASE_URL を指定してください"),
        })?;
        return Ok(Database {
            pool,
            private_cluster: None,
        });
    }
    let cluster = PrivateCluster::start(&args.data_dir().join("postgres")).await?;
    let url = cluster.url();
    ensure_database(&url).await?;
    let pool = pool_for(&url).await.map_err(|e| Error::Database {
        what: format!("private PostgreSQL cluster did not accept connections: {e}"),
    })?;
    Ok(Database {
        pool,
        private_cluster: Some(cluster),
    })
}

/// Applies pending migrations. Safe with several replicas starting at once:
/// sqlx's migrator (0.8, `locking` on by default) takes the session-level
/// `pg_advisory_lock(<id from the database name>)` on one connection before
/// it reads `_sqlx_migrations`, so a second migrator waits, then finds
/// nothing left to apply (tests/deploy_db.rs starts two at once).
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let mut conn = pool.acquire().await?;
    let result = MIGRATOR.run(&mut *conn).await;
    if result.is_err() {
        // sqlx returns early without unlocking: close this session so the
        // advisory lock goes with it instead of back into the pool.
        conn.close_on_drop();
    }
    result.map_err(|e| Error::Database {
        what: format!(
            "migration failed: {e}. The database was left as the last successful migration; \
             fix the cause and run `onshi-server migrate` again"
        ),
    })
}

async fn pool_for(url: &str) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let options = options
        .application_name("onshi-server")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        // Under load a short queue for a connection is normal, not news.
        .acquire_slow_threshold(Duration::from_secs(4))
        .connect_with(options)
        .await
}

/// A pool of its own for `connections` long-lived users (the ingest writers), on the same
/// database as `pool`: they never wait behind the portal for a connection, nor it behind them.
pub fn dedicated_pool(pool: &PgPool, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// Creates the database named in `url` if the server lacks it (first run).
async fn ensure_database(url: &str) -> Result<(), Error> {
    let options: PgConnectOptions = url.parse().map_err(|e| Error::Database {
        what: format!("bad database URL: {e}"),
    })?;
    let name = options.get_database().unwrap_or(DEFAULT_DB).to_owned();
    let admin = options.clone().database("postgres");
    let mut conn = admin.connect().await.map_err(|e| Error::Database {
        what: format!("PostgreSQL に接続できません: {e}. DATABASE_URL を指定してください"),
    })?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        tracing::info!(database = %name, "creating database");
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(e) = sqlx::raw_sql(&sql).execute(&mut conn).await {
            // Another process may have created it in the meantime.
            tracing::debug!(error = %e, "CREATE DATABASE");
        }
    }
    Ok(())
}

async fn port_open(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_millis(500), connect).await,
        Ok(Ok(_))
    )
}

/// Hides the password of a database URL for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A PostgreSQL cluster owned by this server, under the data directory.
pub struct PrivateCluster {
    data: PathBuf,
    bin: PathBuf,
}

impl PrivateCluster {
    async fn start(data: &Path) -> Result<Self, Error> {
        let bin = find_pg_bin().ok_or_else(|| Error::Database {
            what: "PostgreSQL が見つかりません: 127.0.0.1:5432 に応答がなく、initdb/pg_ctl もインストールされていません。\
                   PostgreSQL をインストールする (Debian/Ubuntu: sudo apt-get install postgresql) か、\
                   DATABASE_URL=postgres://USER:PASS@HOST/DB を指定してください"
                .into(),
        })?;
        if is_root() {
            return Err(Error::Database {
                what: "PostgreSQL の private cluster は root では起動できません (initdb refuses root). \
                       一般ユーザで実行するか DATABASE_URL を指定してください"
                    .into(),
            });
        }
        let cluster = Self {
            data: data.to_owned(),
            bin,
        };
        if !data.join("PG_VERSION").exists() {
            std::fs::create_dir_all(data)?;
            tracing::info!(dir = %data.display(), "initialising private PostgreSQL cluster");
            cluster
                .run(
                    "initdb",
                    &[
                        "-D",
                        &path_str(data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ],
                )
                .await?;
        }
        let opts = format!(
            "-p {PRIVATE_PORT} -c listen_addresses=127.0.0.1 -k {}",
            path_str(data)
        );
        let log = path_str(&data.join("server.log"));
        cluster
            .run(
                "pg_ctl",
                &[
                    "-D",
                    &path_str(data),
                    "-o",
                    &opts,
                    "-l",
                    &log,
                    "-w",
                    "start",
                ],
            )
            .await?;
        tracing::info!(port = PRIVATE_PORT, "private PostgreSQL cluster started");
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{PRIVATE_PORT}/{DEFAULT_DB}")
    }

    pub async fn stop(&self) {
        if let Err(e) = self
            .run(
                "pg_ctl",
                &["-D", &path_str(&self.data), "-m", "fast", "-w", "stop"],
            )
            .await
        {
            tracing::warn!(error = %e, "stopping private PostgreSQL cluster");
        }
    }

    async fn run(&self, tool: &str, args: &[&str]) -> Result<(), Error> {
        let out = tokio::process::Command::new(self.bin.join(tool))
            .args(args)
            .output()
            .await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Database {
                what: format!(
                    "{tool} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false)
}

/// `initdb` on PATH, or in Debian's versioned directory (newest first).
fn find_pg_bin() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}
