//! `onshi-server release keygen|sign|publish|list` and
//! `onshi-server rollout start|pause|resume|abort|widen|status`
//! (docs/UPDATES.md). `keygen` and `sign` run where the signing key is,
//! offline, without a database; the others run on the server host like the
//! other administrative commands, audited as `cli:<OS user>`.

use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, Subcommand};
use onshi_release::{PublicKey, SignedManifest, Target, TrustedKeys};

use super::cli_sign::{read_bytes, read_text};
use super::releases::{self, Bundle};
use super::rollout::{Action, Rings};
use super::rollout_store::{self, NewRollout};
use crate::cli::DbArgs;
use crate::commands::{actor, finish, pool};
use crate::desk::cli::Format;
use crate::error::Error;
use crate::sites::Actor;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Make a release signing key pair (offline, where releases are signed): NAME.key (secret, 0600) and NAME.pub.pem.
    Keygen {
        /// Directory for the two files (existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// File name stem, e.g. release-2 for the second key of a rotation.
        #[arg(long, default_value = "release")]
        name: String,
    },
    /// Sign an agent binary (offline): writes onshi-agent-VERSION-TARGET.manifest.json and .manifest.sig.
    Sign(SignArgs),
    /// Check a signed release (signature, hash, size, version) and store it on the server, audited.
    Publish {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        trust: TrustArgs,
        /// The manifest written by `release sign`.
        #[arg(long)]
        manifest: PathBuf,
        /// Its signature (default: the manifest's path with `.sig` instead of `.json`).
        #[arg(long)]
        signature: Option<PathBuf>,
        /// The agent binary the manifest describes.
        #[arg(long)]
        binary: PathBuf,
    },
    /// Published releases, newest first.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// text (one line per release) or json.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The secret key (PKCS#8 PEM from `release keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The agent binary to release.
    #[arg(long)]
    pub binary: PathBuf,
    /// The version the binary reports (semantic, e.g. 0.2.0).
    #[arg(long)]
    pub version: String,
    /// The platform the binary is built for (windows-x86_64 or linux-x86_64).
    #[arg(long, value_enum)]
    pub target: Target,
    /// Release notes (shown on the admin page).
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Oldest onshi-server this agent needs (semantic version; empty: any).
    #[arg(long, default_value = "")]
    pub min_server_version: String,
    /// Sign as a rollback: agents on a newer version may take this older one.
    #[arg(long)]
    pub rollback: bool,
    /// Directory for the manifest and signature (default: the binary's).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The release keys this server accepts besides the built-in ones.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Extra release public keys (PEM files, comma separated) accepted besides the built-in ones: the next key during a rotation, or a test key.
    #[arg(
        long = "release-trusted-key",
        env = "ONSHI_RELEASE_TRUSTED_KEYS",
        value_delimiter = ','
    )]
    pub trusted_keys: Vec<PathBuf>,
}

impl TrustArgs {
    pub fn keys(&self) -> Result<TrustedKeys, Error> {
        let mut keys = TrustedKeys::built_in();
        for path in &self.trusted_keys {
            let pem = read_text(path, "trusted release key")?;
            let key = PublicKey::from_pem(&pem)
                .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
            tracing::warn!(key_id = key.id(), path = %path.display(), "trusting an extra release key");
            keys.add(key);
        }
        Ok(keys)
    }
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start rolling a published release out: the canary ring first.
    Start(StartArgs),
    /// Stop offering and swapping (agents keep what they have).
    Pause(RolloutId),
    /// Resume a paused or halted rollout (the monitor counts again from now).
    Resume(RolloutId),
    /// Stop a rollout for good (to go back, roll out a release signed with --rollback).
    Abort(RolloutId),
    /// Move a running rollout to its next ring.
    Widen(RolloutId),
    /// Live and recent rollouts (or one, with its timeline).
    Status {
        #[command(flatten)]
        db: DbArgs,
        /// One rollout, with its timeline and its agents' reports.
        #[arg(long)]
        id: Option<i64>,
        /// text or json.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RolloutId {
    #[command(flatten)]
    pub db: DbArgs,
    /// The rollout's number (from `rollout status`).
    #[arg(long)]
    pub id: i64,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The published release's version.
    #[arg(long)]
    pub version: String,
    /// The release's platform (windows-x86_64 or linux-x86_64).
    #[arg(long, value_enum)]
    pub target: Target,
    /// The release is the one published with --rollback.
    #[arg(long)]
    pub rollback: bool,
    /// Canary sites by id (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub canary_sites: Vec<String>,
    /// Canary share of all sites, by a stable hash of the site id (e.g. 1 or 0.5).
    #[arg(long, default_value_t = 0.0)]
    pub canary_percent: f64,
    /// Wider rings after the canary, cumulative percentages (100 is added last).
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    pub rings: Vec<u32>,
    /// Minutes over which each ring's downloads are spread.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=1440))]
    pub spread_minutes: u32,
    /// Swap at once, even during the sites' business hours.
    #[arg(long)]
    pub force_now: bool,
    /// Halt when new-version agents do worse than old ones by more than this many percentage points.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub halt_margin: u32,
    /// Halt when this share of the agents that tried rolled back (always at the first in rings under 100 agents).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_rollback_percent: u32,
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
    );
    Ok(())
}

pub async fn release(cmd: ReleaseCommand) -> Result<(), Error> {
    match cmd {
        ReleaseCommand::Keygen { out, name } => super::cli_sign::keygen(&out, &name),
        ReleaseCommand::Sign(args) => super::cli_sign::sign(&args),
        ReleaseCommand::Publish {
            db,
            trust,
            manifest,
            signature,
            binary,
        } => {
            let keys = trust.keys()?;
            let signature = signature.unwrap_or_else(|| manifest.with_extension("sig"));
            let signed = SignedManifest::from_files(
                read_bytes(&manifest, "manifest")?,
                &read_text(&signature, "signature")?,
            )
            .map_err(|e| Error::InvalidArgument(format!("release refused: {e}")))?;
            let bundle = Bundle {
                signed,
                binary: read_bytes(&binary, "binary")?,
            };
            let database = pool(&db).await?;
            let who = actor();
            let result = releases::publish(
                &database.pool,
                &bundle,
                &keys,
                Actor {
                    actor: &who,
                    remote: "",
                },
            )
            .await;
            finish(database).await;
            let r = result?;
            println!(
                "published {} for {} ({} bytes, sha256 {}, key {})",
                r.version, r.target, r.size_bytes, r.sha256, r.key_id
            );
            Ok(())
        }
        ReleaseCommand::List { db, format } => {
            let database = pool(&db).await?;
            let list = releases::list(&database.pool).await;
            finish(database).await;
            let list = list?;
            if format == Format::Json {
                return print_json(&list);
            }
            for r in &list {
                println!(
                    "{}\t{}{}\t{} bytes\tsha256 {}…\tkey {}\t{} {}\t{}",
                    r.version,
                    r.target,
                    if r.rollback { " (rollback)" } else { "" },
                    r.size_bytes,
                    &r.sha256[..16],
                    r.key_id,
                    r.published_at.format("%Y-%m-%d %H:%M"),
                    r.published_by,
                    r.notes
                );
            }
            if list.is_empty() {
                println!("no release published yet: `onshi-server release publish`");
            }
            Ok(())
        }
    }
}

pub async fn rollout(cmd: RolloutCommand) -> Result<(), Error> {
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    let (db, action, id) = match cmd {
        RolloutCommand::Start(args) => return start(args, by).await,
        RolloutCommand::Status { db, id, format } => {
            return super::cli_status::status(db, id, format).await;
        }
        RolloutCommand::Pause(r) => (r.db, Action::Pause, r.id),
        RolloutCommand::Resume(r) => (r.db, Action::Resume, r.id),
        RolloutCommand::Abort(r) => (r.db, Action::Abort, r.id),
        RolloutCommand::Widen(r) => (r.db, Action::Widen, r.id),
    };
    let database = pool(&db).await?;
    let result = rollout_store::act(&database.pool, id, action, by, Utc::now()).await;
    finish(database).await;
    let row = result?;
    println!(
        "rollout #{}: {} {} — {}（{}）",
        row.rollout_id,
        row.version,
        row.target,
        row.state.label_ja(),
        row.ring_label()
    );
    Ok(())
}

async fn start(args: StartArgs, by: Actor<'_>) -> Result<(), Error> {
    let rings = Rings::new(
        args.canary_sites.clone(),
        args.canary_percent,
        args.rings.clone(),
    )
    .map_err(Error::InvalidArgument)?;
    let database = pool(&args.db).await?;
    let result = async {
        let release =
            releases::find(&database.pool, &args.version, args.target, args.rollback).await?;
        let new = NewRollout {
            release_id: release.release_id,
            rings,
            spread_minutes: args.spread_minutes,
            force_swap: args.force_now,
            halt_margin_points: args.halt_margin,
            max_rollback_percent: args.max_rollback_percent,
        };
        rollout_store::start(&database.pool, &new, by, Utc::now()).await
    }
    .await;
    finish(database).await;
    let row = result?;
    println!(
        "rollout #{} started: {} for {}, {}{}",
        row.rollout_id,
        row.version,
        row.target,
        row.ring_label(),
        if row.force_swap {
            ", swapping at once (forced)"
        } else {
            ""
        }
    );
    Ok(())
}
