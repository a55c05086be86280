//! Security end to end: mTLS on the gRPC port, enrolment tokens, operator
//! login, roles on every route, CSRF, lockout, and the audit chain.

mod common;

use common::{Server, TestDb};
use onshi_proto::v1 as pb;
use onshi_server::auth::Role;
use onshi_server::auth::extract::Access;
use onshi_server::portal::routes;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn batch(agent: &str, site: &str, seq: u64) -> pb::SubmitReportsRequest {
    common::batch(agent, vec![common::report(agent, site, seq)])
}

/// The CSRF token of the page at `path` for a logged-in client.
async fn csrf(client: &reqwest::Client, server: &Server, path: &str) -> String {
    let page = client
        .get(server.http(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("page has a CSRF field")
        + r#"name="csrf" value=""#.len();
    page[start..start + 64].to_owned()
}

#[tokio::test]
async fn grpc_accepts_only_enrolled_unrevoked_agents_speaking_for_themselves() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let (agent, mut client, _dir) = server.enrolled_client("site-a").await;

    // The enrolled agent reports.
    let ack = client
        .submit_reports(batch(&agent, "site-a", 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1);

    // No client certificate: refused.
    let status = server
        .anonymous_client()
        .await
        .submit_reports(batch(&agent, "site-a", 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("onshi-agent enroll"));

    // A certificate from another CA: the TLS handshake fails.
    let foreign_ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let foreign_ca = ca_params.self_signed(&foreign_ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, foreign_ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, agent.as_str());
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let _ = foreign_ca;
    let ca = std::fs::read_to_string(server.ca_pem_path()).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert.pem(), key.serialize_pem()))
        .domain_name("localhost");
    let foreign = Channel::from_shared(server.grpc_url())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    let refused = match foreign {
        Err(_) => true,
        Ok(ch) => pb::agent_service_client::AgentServiceClient::new(ch)
            .submit_reports(batch(&agent, "site-a", 2))
            .await
            .is_err(),
    };
    assert!(refused, "a certificate from another CA must be refused");

    // Speaking for another agent, or for another site: rejected.
    let status = client
        .submit_reports(batch("agt-someone-else", "site-a", 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("does not match the client certificate")
    );
    let status = client
        .submit_reports(batch(&agent, "site-b", 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(status.message().contains("enrolled for"));

    // Revoked from the portal: refused at once on the already open connection.
    let admin = server.session("admin1", "admin").await;
    let token = csrf(&admin, &server, "/admin/agents").await;
    // One click is not enough: the form's confirmation box must be ticked.
    let resp = admin
        .post(server.http(&format!("/admin/agents/{agent}/revoke")))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    client
        .submit_reports(batch(&agent, "site-a", 2))
        .await
        .expect("not revoked without confirmation");
    let resp = admin
        .post(server.http(&format!("/admin/agents/{agent}/revoke")))
        .form(&[("csrf", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let status = client
        .submit_reports(batch(&agent, "site-a", 3))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("revoked"));

    let pool = db.pool().await;
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'agent.revoke' AND actor = 'user:admin1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn enrolment_tokens_work_once_and_expire() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let enroll = |token: &str, fp: &str, dir: &std::path::Path| {
        std::process::Command::new(common::bin("onshi-agent"))
            .args(["enroll", "--token", token, "--ca-fingerprint", fp])
            .arg("--server")
            .arg(server.grpc_url())
            .arg("--state-dir")
            .arg(dir)
            .output()
            .unwrap()
    };
    let (token, fp) = server.enrolment_token("site-t");
    let first = tempfile::tempdir().unwrap();
    let out = enroll(&token, &fp, first.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The key stays on the PC, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(first.path().join("client.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "client.key must not be readable by others");

    let second = tempfile::tempdir().unwrap();
    let out = enroll(&token, &fp, second.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"));

    let out = enroll("0123456789abcdef0123456789abcdef", &fp, second.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid"));

    let (expired, _) = server.enrolment_token("site-t");
    sqlx::query("UPDATE enrolment_tokens SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let out = enroll(&expired, &fp, second.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));

    // A wrong fingerprint: the token is never sent.
    let (fresh, _) = server.enrolment_token("site-t");
    let out = enroll(&fresh, &"ab".repeat(32), second.path());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not contain a CA with fingerprint")
    );
    let unused: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT used_at FROM enrolment_tokens ORDER BY created_at DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(unused.is_none());

    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'agent.enroll' AND outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(denied, 3, "used, unknown and expired tokens are audited");
}

#[tokio::test]
async fn every_route_demands_login_and_the_right_role() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let viewer = server.session("viewer1", "viewer").await;
    let operator = server.session("operator1", "operator").await;
    let sessions = [(Role::Viewer, &viewer), (Role::Operator, &operator)];

    let table = routes::table();
    assert!(table.len() >= 20, "route table lost routes?");
    for (spec, _) in table {
        let path = spec
            .path
            .replace("{site_id}", "x")
            .replace("{eid}", "1")
            .replace("{maker}", "fujitsu")
            .replace("{agent_id}", "x")
            .replace("{token_id}", "1")
            .replace("{rollout_id}", "1")
            .replace("{username}", "x")
            .replace("{id}", "1")
            .replace("{date}", "2099-05-01")
            .replace("{kind}", "clinic");
        let url = server.http(&path);
        let Access::Role(required) = spec.access else {
            continue;
        };
        let resp = anonymous
            .request(spec.method.clone(), &url)
            .send()
            .await
            .unwrap();
        if path.starts_with("/api/") {
            assert_eq!(resp.status(), 401, "{} {path} without login", spec.method);
        } else {
            assert_eq!(resp.status(), 303, "{} {path} without login", spec.method);
            assert!(
                resp.headers()["location"]
                    .to_str()
                    .unwrap()
                    .starts_with("/login")
            );
        }
        for (role, client) in &sessions {
            if *role < required {
                let resp = client
                    .request(spec.method.clone(), &url)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 403, "{} {path} as {role:?}", spec.method);
            }
        }
    }

    // API tokens carry roles too.
    let admin = server.session("admin1", "admin").await;
    let csrf_token = csrf(&admin, &server, "/admin/tokens").await;
    let page = admin
        .post(server.http("/admin/tokens"))
        .form(&[
            ("csrf", csrf_token.as_str()),
            ("name", "crm"),
            ("role", "viewer"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find(r#"id="secret">"#).unwrap() + r#"id="secret">"#.len();
    let api_token = &page[start..start + 64];
    let ok = anonymous
        .get(server.http("/api/v1/sites"))
        .bearer_auth(api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let forbidden = anonymous
        .get(server.http("/admin/audit"))
        .bearer_auth(api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let bad = anonymous
        .get(server.http("/api/v1/sites"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // Security headers on every response.
    let resp = anonymous.get(server.http("/login")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["referrer-policy"], "same-origin");
    assert!(resp.headers().contains_key("permissions-policy"));
    let resp = admin
        .get(server.http("/admin/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn bad_input_gets_a_japanese_4xx_never_a_500() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let admin = server.session("admin1", "admin").await;
    let resp = admin
        .get(server.http("/sites?cursor=9223372036854775807"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("ページの位置（cursor）が正しくありません")
            && page.contains("サイト一覧へ戻る"),
        "{page}"
    );
    let resp = admin
        .get(server.http("/api/v1/sites?page=9223372036854775807"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("ページ番号"),
        "{body}"
    );

    let token = csrf(&admin, &server, "/admin/sites").await;
    let resp = admin
        .post(server.http("/admin/sites"))
        .form(&[
            ("csrf", token.as_str()),
            ("site_id", "s1"),
            ("name", "山田\u{0}医院"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("制御文字"));
    let resp = reqwest::Client::new()
        .post(server.http("/login"))
        .form(&[("username", "demo\u{0}admin"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        !server.log_text().contains("internal error"),
        "no 500 on the way"
    );
}

#[tokio::test]
async fn csrf_lockout_password_change_and_audit_chain() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let admin = server.session("admin1", "admin").await;

    // A write without the CSRF token is refused; with it, it goes through.
    let resp = admin
        .post(server.http("/admin/sites"))
        .form(&[("site_id", "s1"), ("name", "n")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let token = csrf(&admin, &server, "/admin/sites").await;
    let resp = admin
        .post(server.http("/admin/sites"))
        .form(&[
            ("csrf", token.as_str()),
            ("site_id", "s1"),
            ("name", "山田クリニック"),
            ("kind", "clinic"),
            ("maintenance", "omakase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);

    // Five wrong passwords lock the account, even for the right password.
    let password = server.create_operator("victim", "viewer");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |pw: String| {
        let client = client.clone();
        let url = server.http("/login");
        async move {
            client
                .post(url)
                .form(&[("username", "victim"), ("password", pw.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(login("wrong password!!".into()).await.status(), 401);
    }
    let locked = login(password.clone()).await;
    assert_eq!(locked.status(), 401);
    assert!(locked.text().await.unwrap().contains("ロック"));
    let cookie_set = login(password.clone())
        .await
        .headers()
        .contains_key("set-cookie");
    assert!(!cookie_set);

    // Password change: wrong current password refused; right one works.
    let viewer = server.session("viewer2", "viewer").await;
    let token = csrf(&viewer, &server, "/account/password").await;
    let change = |current: &'static str| {
        let request = viewer.post(server.http("/account/password")).form(&[
            ("csrf", token.as_str()),
            ("current", current),
            ("new", "a brand new passphrase"),
            ("confirm", "a brand new passphrase"),
        ]);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let page = change("nope").await;
    assert!(page.contains("現在のパスワードが違います"));
    let page = change("pw-viewer2-correct-horse").await;
    assert!(page.contains("パスワードを変更しました"), "{page}");

    // The audit log saw it all, and its chain is intact.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action || ':' || outcome FROM audit_log ORDER BY audit_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    for expected in [
        "login:ok",
        "site.create:ok",
        "login:denied",
        "password.change:denied",
        "password.change:ok",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    let verify = server.admin(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit chain intact"));

    // Append-only: an UPDATE is refused by the database itself...
    let err = sqlx::query("UPDATE audit_log SET actor = 'user:mallory'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
    // ...and an edit by someone who bypasses that is detected.
    sqlx::raw_sql(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
         UPDATE audit_log SET actor = 'user:mallory' WHERE audit_id = (SELECT min(audit_id) + 2 FROM audit_log);
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let verify = server.admin(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN"));
}

#[tokio::test]
async fn an_agent_over_its_rate_limit_is_slowed_down() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--agent-batches-per-minute", "3"]);
    let (agent, mut client, _dir) = server.enrolled_client("site-r").await;
    for seq in 1..=3 {
        client
            .submit_reports(batch(&agent, "site-r", seq))
            .await
            .unwrap();
    }
    let status = client
        .submit_reports(batch(&agent, "site-r", 4))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("too many batches"));
    // Other agents are unaffected.
    let (other, mut other_client, _dir2) = server.enrolled_client("site-r2").await;
    other_client
        .submit_reports(batch(&other, "site-r2", 1))
        .await
        .unwrap();
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"onshi_grpc_errors_total{code="ResourceExhausted"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_enrolled_agent_renews_its_certificate_and_a_revoked_one_cannot() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let agent = server.enroll("site-renew", dir.path());
    let channel = server.channel(Some(dir.path())).await;
    let mut enrolment = pb::enrollment_service_client::EnrollmentServiceClient::new(channel);

    let key = rcgen::KeyPair::generate().unwrap();
    // The CSR asks for another identity; the server ignores the subject.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "agt-somebody-else");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let renewed = enrolment
        .renew(pb::RenewRequest {
            csr_pem: csr.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let pem = x509_parser::pem::parse_x509_pem(renewed.certificate_pem.as_bytes())
        .unwrap()
        .1;
    let cert = pem.parse_x509().unwrap();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cn, agent,
        "the certificate names the calling agent, whatever the CSR says"
    );
    let days = (cert.validity().not_after.timestamp() - chrono::Utc::now().timestamp()) / 86_400;
    assert!((29..=30).contains(&days), "short-lived: {days} days");

    // Without a client certificate, or once revoked: no renewal.
    let anonymous = server.channel(None).await;
    let status = pb::enrollment_service_client::EnrollmentServiceClient::new(anonymous)
        .renew(pb::RenewRequest {
            csr_pem: csr.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let pool = db.pool().await;
    sqlx::query("UPDATE agents SET revoked_at = now() WHERE agent_id = $1")
        .bind(&agent)
        .execute(&pool)
        .await
        .unwrap();
    let status = enrolment
        .renew(pb::RenewRequest { csr_pem: csr })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let renewals: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'agent.renew'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(renewals, 1);
}
