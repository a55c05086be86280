//! `onshi-server backup` / `restore`: the internal CA's certificate and key,
//! the one piece of state outside PostgreSQL. Without the same CA after a
//! disaster every clinic PC would have to enrol again (docs/OPERATIONS.md).
//! Both are audited: whoever copies the CA key can sign agent certificates.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::auth::audit::{self, Entry};
use crate::cli::DbArgs;
use crate::error::Error;
use crate::tls;

const FILES: [&str; 2] = ["ca.pem", "ca.key"];

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory to write ca.pem and ca.key into (created, mode 0700; keep
    /// it offline or in a secret store).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory holding ca.pem and ca.key (a backup, or a mounted Secret).
    #[arg(long)]
    pub from: PathBuf,
    /// Replace a different CA already in the data directory (agents enrolled
    /// under it can no longer connect).
    #[arg(long)]
    pub replace: bool,
}

/// The CA pair read from `dir`, checked: both PEM files parse and the key
/// belongs to the certificate.
fn read_pair(dir: &Path) -> Result<(String, String), Error> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| {
            Error::InvalidArgument(format!(
                "{} を読めません: {e}. ca.pem と ca.key のあるディレクトリを指定してください",
                dir.join(name).display()
            ))
        })
    };
    let (cert, key) = (read(FILES[0])?, read(FILES[1])?);
    let bad = |what: String| Error::InvalidArgument(format!("{}: {what}", dir.display()));
    let pair =
        rcgen::KeyPair::from_pem(&key).map_err(|e| bad(format!("ca.key が不正です: {e}")))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes())
        .map_err(|e| bad(format!("ca.pem が不正です: {e}")))?;
    let parsed = pem
        .parse_x509()
        .map_err(|e| bad(format!("ca.pem が不正です: {e}")))?;
    if parsed.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&pair).as_slice() {
        return Err(bad(
            "ca.key は ca.pem の鍵ではありません (組み合わせを確認してください)".into(),
        ));
    }
    Ok((cert, key))
}

fn write_pair(dir: &Path, cert: &str, key: &str) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for (name, text) in [(FILES[0], cert), (FILES[1], key)] {
        let tmp = dir.join(format!("{name}.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(tmp, dir.join(name))?;
    }
    Ok(())
}

async fn audited(
    db: &DbArgs,
    action: &'static str,
    fingerprint: &str,
    place: &Path,
) -> Result<(), Error> {
    let database = crate::commands::pool(db).await?;
    audit::record_alone(
        &database.pool,
        Entry::new(crate::commands::actor(), action, "ca".to_owned()).detail(
            serde_json::json!({"ca_fingerprint": fingerprint, "path": place.display().to_string()}),
        ),
    )
    .await?;
    crate::commands::finish(database).await;
    Ok(())
}

pub async fn backup(args: &BackupArgs) -> Result<(), Error> {
    let pki = args.db.data_dir().join("pki");
    let (cert, key) = read_pair(&pki)?;
    let fingerprint = tls::fingerprint(&cert);
    write_pair(&args.out, &cert, &key)?;
    audited(&args.db, "ca.backup", &fingerprint, &args.out).await?;
    println!("backed up the CA ({fingerprint}) to {}", args.out.display());
    Ok(())
}

pub async fn restore(args: &RestoreArgs) -> Result<(), Error> {
    let (cert, key) = read_pair(&args.from)?;
    let fingerprint = tls::fingerprint(&cert);
    let pki = args.db.data_dir().join("pki");
    if let Ok(existing) = std::fs::read_to_string(pki.join(FILES[0]))
        && tls::fingerprint(&existing) != fingerprint
        && !args.replace
    {
        return Err(Error::Conflict(format!(
            "{} には別の CA ({}) があります。置き換えると登録済みの端末は接続できなくなります。\
             意図どおりなら --replace を付けてください",
            pki.display(),
            tls::fingerprint(&existing)
        )));
    }
    write_pair(&pki, &cert, &key)?;
    audited(&args.db, "ca.restore", &fingerprint, &args.from).await?;
    println!("restored the CA ({fingerprint}) into {}", pki.display());
    Ok(())
}
