//! Administrator pages: sites and enrolment tokens, agents and revocation,
//! operators, API tokens, the audit log. Every write is audited in the same
//! transaction as the change.

use askama::Template;
use axum::Extension;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset, Utc};

use super::{AppState, Nav, render};
use crate::auth::audit::{self, Entry};
use crate::auth::extract::remote_addr;
use crate::auth::{Principal, Role, login, password};
use crate::enrol;
use crate::error::Error;

fn jst(t: Option<DateTime<Utc>>) -> String {
    let offset = FixedOffset::east_opt(9 * 3600).expect("valid offset");
    t.map(|t| {
        t.with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "—".into())
}

async fn form<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, Error> {
    axum::Form::<T>::from_request(req, &())
        .await
        .map(|f| f.0)
        .map_err(|e| Error::InvalidArgument(format!("入力内容を確認してください: {e}")))
}

/// Shown once after creating a secret (token or password); never again.
#[derive(Template)]
#[template(path = "secret_once.html")]
struct SecretOnce {
    nav: Nav,
    title: String,
    secret: String,
    explanation: String,
    command: String,
    back: &'static str,
}

// ---- sites and enrolment tokens ----

#[derive(sqlx::FromRow)]
pub struct SiteListRow {
    site_id: String,
    name: String,
    prefecture: String,
    kind: crate::sites::SiteKind,
    maintenance: crate::sites::Maintenance,
    agents: i64,
}

#[derive(Template)]
#[template(path = "admin_sites.html")]
struct SitesPage {
    nav: Nav,
    sites: Vec<SiteListRow>,
    error: String,
}

pub async fn sites(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    sites_page(&state, &who, String::new()).await
}

async fn sites_page(state: &AppState, who: &Principal, error: String) -> Result<Response, Error> {
    let sites = sqlx::query_as::<_, SiteListRow>(
        "SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                (SELECT count(*) FROM agents a WHERE a.site_id = s.site_id AND a.revoked_at IS NULL) AS agents
         FROM sites s ORDER BY s.created_at DESC LIMIT 200",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&SitesPage {
        nav: Nav::from(who),
        sites,
        error,
    })?
    .into_response())
}

pub async fn site_create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    req: Request,
) -> Result<Response, Error> {
    let remote = remote_addr(&req);
    let input: crate::sites::SiteInput = form(req).await?;
    let mut tx = state.pool.begin().await?;
    let by = crate::sites::Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match crate::sites::store::create(&mut tx, &input, by).await {
        Ok(()) => {}
        Err(Error::Fields(errors)) => {
            let message = errors.to_string();
            return sites_page(&state, &who, message).await;
        }
        Err(Error::Conflict(m) | Error::InvalidArgument(m)) => {
            return sites_page(&state, &who, m).await;
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/sites").into_response())
}

pub async fn site_token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let (token, expires_at) =
        enrol::issue_token(&state.pool, &site_id, enrol::DEFAULT_TOKEN_TTL, &who.actor).await?;
    let page = SecretOnce {
        nav: Nav::from(&who),
        title: format!("サイト {site_id} の登録トークン"),
        explanation: format!(
            "このトークンは一度だけ表示されます。{} まで有効で、1回だけ使えます。オン資PCで次のコマンドを実行してください。",
            jst(Some(expires_at))
        ),
        command: format!(
            "onshi-agent enroll --server https://<サーバ>:50051 --token {token} --ca-fingerprint <CA指紋>"
        ),
        secret: token,
        back: "/admin/sites",
    };
    Ok(render(&page)?.into_response())
}

// ---- agents ----

#[derive(sqlx::FromRow)]
pub struct AgentRow {
    agent_id: String,
    site_id: String,
    acked_seq: i64,
    agent_version: String,
    enrolled_at: Option<DateTime<Utc>>,
    last_seen_at: DateTime<Utc>,
    cert_not_after: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "admin_agents.html")]
struct AgentsPage {
    nav: Nav,
    agents: Vec<AgentRow>,
}

impl AgentsPage {
    fn time(&self, t: &Option<DateTime<Utc>>) -> String {
        jst(*t)
    }
    fn at(&self, t: &DateTime<Utc>) -> String {
        jst(Some(*t))
    }
}

pub async fn agents(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    let agents = sqlx::query_as::<_, AgentRow>(
        "SELECT agent_id, site_id, acked_seq, agent_version, enrolled_at, last_seen_at, cert_not_after, revoked_at
         FROM agents ORDER BY last_seen_at DESC LIMIT 500",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&AgentsPage {
        nav: Nav::from(&who),
        agents,
    })?
    .into_response())
}

pub async fn agent_revoke(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(agent_id): Path<String>,
    req: Request,
) -> Result<Response, Error> {
    enrol::revoke(&state.pool, &agent_id, &who.actor, &remote_addr(&req)).await?;
    Ok(Redirect::to("/admin/agents").into_response())
}

// ---- operators ----

#[derive(sqlx::FromRow)]
pub struct OperatorRow {
    username: String,
    role: String,
    locked_until: Option<DateTime<Utc>>,
    disabled: bool,
    created_at: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "admin_operators.html")]
struct OperatorsPage {
    nav: Nav,
    operators: Vec<OperatorRow>,
    error: String,
}

impl OperatorsPage {
    fn time(&self, t: &Option<DateTime<Utc>>) -> String {
        jst(*t)
    }
    fn at(&self, t: &DateTime<Utc>) -> String {
        jst(Some(*t))
    }
}

pub async fn operators(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    operators_page(&state, &who, String::new()).await
}

async fn operators_page(
    state: &AppState,
    who: &Principal,
    error: String,
) -> Result<Response, Error> {
    let operators = sqlx::query_as::<_, OperatorRow>(
        "SELECT username, role, locked_until, disabled, created_at FROM operators ORDER BY username",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&OperatorsPage {
        nav: Nav::from(who),
        operators,
        error,
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct OperatorForm {
    username: String,
    role: String,
}

pub async fn operator_create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    req: Request,
) -> Result<Response, Error> {
    let f: OperatorForm = form(req).await?;
    let Some(role) = Role::parse(&f.role) else {
        return operators_page(&state, &who, "役割を選んでください".into()).await;
    };
    let one_time = password::generate();
    let mut tx = state.pool.begin().await?;
    match login::create_operator(&mut tx, f.username.trim(), role, &one_time, &who.actor).await {
        Ok(_) => {}
        Err(Error::InvalidArgument(m) | Error::Conflict(m)) => {
            return operators_page(&state, &who, m).await;
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    let page = SecretOnce {
        nav: Nav::from(&who),
        title: format!("オペレータ {} の初期パスワード", f.username.trim()),
        explanation: "このパスワードは一度だけ表示されます。本人に安全な方法で伝え、初回ログイン後に「パスワード変更」で変更してもらってください。".into(),
        command: String::new(),
        secret: one_time,
        back: "/admin/operators",
    };
    Ok(render(&page)?.into_response())
}

// ---- API tokens ----

#[derive(sqlx::FromRow)]
pub struct TokenRow {
    token_id: i64,
    name: String,
    role: String,
    created_by: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<TokenRow>,
}

impl TokensPage {
    fn time(&self, t: &Option<DateTime<Utc>>) -> String {
        jst(*t)
    }
    fn at(&self, t: &DateTime<Utc>) -> String {
        jst(Some(*t))
    }
}

pub async fn tokens(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    let tokens = sqlx::query_as::<_, TokenRow>(
        "SELECT token_id, name, role, created_by, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY token_id DESC",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&TokensPage {
        nav: Nav::from(&who),
        tokens,
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    name: String,
    role: String,
}

pub async fn token_create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    req: Request,
) -> Result<Response, Error> {
    let f: TokenForm = form(req).await?;
    let role = Role::parse(&f.role).ok_or_else(|| {
        Error::InvalidArgument("role は admin / operator / viewer のいずれかです".into())
    })?;
    let token = login::create_api_token(&state.pool, f.name.trim(), role, &who.actor).await?;
    let page = SecretOnce {
        nav: Nav::from(&who),
        title: format!("API トークン {}", f.name.trim()),
        explanation: "このトークンは一度だけ表示されます。連携システムに設定してください。".into(),
        command: format!("curl -H 'Authorization: Bearer {token}' https://<ポータル>/api/v1/sites"),
        secret: token,
        back: "/admin/tokens",
    };
    Ok(render(&page)?.into_response())
}

pub async fn token_revoke(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(token_id): Path<i64>,
    req: Request,
) -> Result<Response, Error> {
    let remote = remote_addr(&req);
    let mut tx = state.pool.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL RETURNING name")
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await?;
    let name = name.ok_or_else(|| Error::NotFound(format!("API token {token_id}")))?;
    audit::record(
        &mut tx,
        Entry::new(&who.actor, "api_token.revoke", format!("token:{name}")).remote(remote),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}

// ---- audit log ----

#[derive(serde::Deserialize, Default)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    audit_id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    detail: serde_json::Value,
    remote: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Nav,
    filter: AuditFilter,
    rows: Vec<AuditRow>,
}

impl AuditPage {
    fn time(&self, t: &DateTime<Utc>) -> String {
        jst(Some(*t))
    }
}

pub async fn audit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, Error> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT audit_id, at, actor, action, target, outcome, detail, remote FROM audit_log
         WHERE ($1 = '' OR actor ILIKE '%' || $1 || '%')
           AND ($2 = '' OR action ILIKE $2 || '%')
           AND ($3 = '' OR outcome = $3)
         ORDER BY audit_id DESC LIMIT 500",
    )
    .bind(filter.actor.trim())
    .bind(filter.action.trim())
    .bind(filter.outcome.trim())
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&AuditPage {
        nav: Nav::from(&who),
        filter,
        rows,
    })?
    .into_response())
}
