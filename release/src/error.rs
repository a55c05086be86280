//! Why a release, its manifest or its binary is refused. Messages are
//! English (logs, the agent's upstream report); each says what is wrong and,
//! where a person can act, what to do.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "manifest signature does not verify with key {key_id}: the manifest or its signature was altered"
    )]
    BadSignature { key_id: String },
    #[error("manifest is signed with key {key_id}, which is not trusted here (trusted: {trusted})")]
    UnknownKey { key_id: String, trusted: String },
    #[error("manifest is malformed: {0}")]
    Malformed(String),
    #[error("manifest format {0} is not supported by this version (1); update the agent by hand")]
    UnsupportedFormat(u32),
    #[error("release is for {offered}, this is {running}")]
    WrongTarget { offered: String, running: String },
    #[error("release {offered} is older than the running {running} and not signed as a rollback")]
    Downgrade { offered: String, running: String },
    #[error("binary is {got} bytes, the manifest says {expected} (truncated or wrong file)")]
    SizeMismatch { expected: u64, got: u64 },
    #[error("binary SHA-256 is {got}, the manifest says {expected} (altered or wrong file)")]
    HashMismatch { expected: String, got: String },
    #[error("binary is not an executable for {target}: {why}")]
    NotExecutable { target: String, why: String },
    #[error("key: {0}")]
    Key(String),
}
