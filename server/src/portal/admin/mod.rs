//! Administrator pages, one file per feature: sites and enrolment tokens, agents and
//! revocation, operators, API tokens, the audit log. Every write is audited in the same
//! transaction as the change.

pub mod agents;
pub mod audit;
pub mod deliveries;
pub mod hours;
pub mod makers;
pub mod notify;
pub mod operators;
pub mod receipt_vendors;
pub mod silences;
pub mod site_delete;
pub mod sites;
pub mod tokens;
pub mod updates;

use askama::Template;
use axum::response::{IntoResponse, Response};

use super::{Nav, render};
use crate::error::Error;

/// Shown once after creating a secret (token or password); never again. Authenticated pages
/// are `no-store`, so the browser keeps no copy either.
#[derive(Template)]
#[template(path = "secret_once.html")]
pub struct SecretOnce {
    pub nav: Nav,
    pub title: String,
    pub secret: String,
    pub explanation: String,
    pub command: String,
    pub back: &'static str,
}

impl SecretOnce {
    pub fn respond(&self) -> Result<Response, Error> {
        Ok(render(self)?.into_response())
    }
}

/// The "I am sure" checkbox of a destructive form (revocation): no inline script is allowed
/// by the CSP, so confirmation is a required field the server checks.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Confirm {
    #[serde(default)]
    confirm: Option<String>,
}

impl Confirm {
    pub fn require(&self, what: &str) -> Result<(), Error> {
        match self.confirm.as_deref() {
            Some("on" | "yes" | "true") => Ok(()),
            _ => Err(Error::InvalidArgument(format!(
                "{what}には、確認のチェックを入れてから押してください。前のページに戻ってやり直してください"
            ))),
        }
    }
}
