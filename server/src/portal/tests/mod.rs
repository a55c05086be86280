//! Handler tests: the real router (guard, error pages, headers) called with
//! `tower::ServiceExt::oneshot` against a real, throw-away PostgreSQL database per test.

mod accounts;
mod admin;
mod console;
mod console_admin;
mod csv;
mod errors;
mod escalations;
mod fixtures;
mod incidents_pages;
mod live;
mod notify;
mod site_list;
mod site_page;
mod updates;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, header};
use sqlx::{Connection, PgConnection, PgPool};
use tower::ServiceExt;

use crate::auth::operators::PasswordOrigin;
use crate::auth::{Role, login};

fn admin_url() -> String {
    std::env::var("ONSHI_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = &base[..base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len())];
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

pub struct Harness {
    pub pool: PgPool,
    app: Router,
    name: String,
}

/// A logged-in browser: its cookie and CSRF token.
pub struct Session {
    cookie: String,
    pub csrf: String,
}

impl Harness {
    pub async fn new() -> Harness {
        let name = format!("onshi_unit_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(&admin_url())
            .await
            .expect("handler tests need PostgreSQL (see README: ONSHI_TEST_DATABASE_URL)");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let pool = PgPool::connect(&with_db(&admin_url(), &name))
            .await
            .unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let state = super::AppState::new(pool.clone(), crate::metrics::Metrics::new());
        Harness {
            pool,
            app: super::router(state),
            name,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }

    pub async fn operator(&self, username: &str, role: Role, origin: PasswordOrigin) -> String {
        let password = format!("pw-{username}-correct-horse");
        let mut tx = self.pool.begin().await.unwrap();
        login::create_operator(&mut tx, username, role, &password, origin, "test")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        password
    }

    pub async fn login(&self, username: &str, password: &str) -> Session {
        let login::LoginResult::Ok { session_token } =
            login::login(&self.pool, username, password, "127.0.0.1")
                .await
                .unwrap()
        else {
            panic!("login as {username} failed");
        };
        let csrf: String =
            sqlx::query_scalar("SELECT csrf_token FROM sessions WHERE token_hash = $1")
                .bind(crate::auth::secret::digest(&session_token))
                .fetch_one(&self.pool)
                .await
                .unwrap();
        Session {
            cookie: format!("{}={session_token}", crate::auth::extract::SESSION_COOKIE),
            csrf,
        }
    }

    pub async fn session(&self, username: &str, role: Role) -> Session {
        let password = self.operator(username, role, PasswordOrigin::Chosen).await;
        self.login(username, &password).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

pub fn from(ip: [u8; 4]) -> ConnectInfo<SocketAddr> {
    ConnectInfo(SocketAddr::from((ip, 40000)))
}

pub fn get(path: &str, session: Option<&Session>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(s) = session {
        req = req.header(header::COOKIE, &s.cookie);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(from([127, 0, 0, 1]));
    req
}

/// A form POST from `ip`, with the session's CSRF token added when there is a session.
pub fn post_from(
    ip: [u8; 4],
    path: &str,
    session: Option<&Session>,
    fields: &[(&str, &str)],
) -> Request<Body> {
    let mut pairs: Vec<(&str, &str)> = fields.to_vec();
    let mut req =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(s) = session {
        req = req.header(header::COOKIE, &s.cookie);
        pairs.push(("csrf", &s.csrf));
    }
    let body = serde_urlencoded::to_string(&pairs).unwrap();
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(from(ip));
    req
}

pub fn post(path: &str, session: Option<&Session>, fields: &[(&str, &str)]) -> Request<Body> {
    post_from([127, 0, 0, 1], path, session, fields)
}

pub async fn text(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub fn content_type(resp: &Response<Body>) -> String {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}
