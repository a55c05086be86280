//! Who is calling and what they may do: operator passwords and sessions, API
//! tokens, roles, and the hash-chained audit log. Threat model:
//! docs/SECURITY.md.

pub mod audit;
pub mod extract;
pub mod login;
pub mod operators;
pub mod password;
pub mod secret;
pub mod throttle;

use serde::{Deserialize, Serialize};

/// Roles, ordered by power: each includes the rights of the ones below it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    /// Read-only.
    Viewer,
    /// Incidents, desk calls, escalations.
    Operator,
    /// Operators, sites, enrolment tokens, revocation, directory.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Role::Viewer => "閲覧者",
            Role::Operator => "オペレータ",
            Role::Admin => "管理者",
        }
    }
}

/// An authenticated caller of the portal or the HTTP API.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `user:NAME` or `token:NAME`, as written to the audit log.
    pub actor: String,
    pub username: String,
    pub role: Role,
    pub operator_id: Option<i64>,
    /// Present for browser sessions; API tokens need no CSRF token.
    pub csrf: Option<String>,
    /// The password was handed out by someone else (one-time password): the operator must
    /// choose a new one before using the portal.
    pub must_change_password: bool,
}
