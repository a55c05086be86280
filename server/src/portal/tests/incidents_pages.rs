//! `/incidents` and `/incidents/{id}`: filters, order, keyset pages, the silence filter agreeing
//! with `silence::matches`, and the operator's forms (CSRF, roles, audit, 409 / 422 pages).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};

use super::fixtures::{audit_count, incident, plain_site};
use super::{Harness, content_type, get, post, text};
use crate::auth::Role;
use crate::incidents::query::{self, Filter, StateFilter};
use crate::incidents::silence::{self, NewSilence};
use crate::sites::Actor;

fn by() -> Actor<'static> {
    Actor {
        actor: "test",
        remote: "",
    }
}

async fn silence_for(h: &Harness, input: NewSilence) {
    silence::create(&h.pool, &input, by(), Utc::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_problem_view_filters_sorts_and_pages() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    h.session("op1", Role::Operator).await;
    plain_site(&h, "tokyo", "東京都").await;
    plain_site(&h, "osaka", "大阪府").await;
    let warning = incident(&h, "osaka", "cert_expiring", "warning", "acknowledged").await;
    let critical = incident(&h, "tokyo", "reader_off", "critical", "open").await;
    let resolved = incident(&h, "tokyo", "offline", "critical", "resolved").await;
    sqlx::query("UPDATE incidents SET assignee = 'op1' WHERE incident_id = $1")
        .bind(warning)
        .execute(&h.pool)
        .await
        .unwrap();
    silence_for(
        &h,
        NewSilence {
            site_id: Some("osaka".into()),
            ends_at: Some(Utc::now() + Duration::hours(2)),
            reason: "工事".into(),
            ..NewSilence::default()
        },
    )
    .await;

    let row = |id: i64| format!(r#"data-incident-id="{id}""#);
    let list = |q: &'static str| {
        let h = &h;
        let viewer = &viewer;
        async move {
            let resp = h.send(get(&format!("/incidents{q}"), Some(viewer))).await;
            assert_eq!(resp.status(), StatusCode::OK, "{q}");
            text(resp).await
        }
    };
    let page = list("").await;
    let (c, w) = (
        page.find(&row(critical)).unwrap(),
        page.find(&row(warning)).unwrap(),
    );
    assert!(c < w, "critical first");
    assert!(!page.contains(&row(resolved)), "active only by default");
    assert!(page.contains("サイレンス中") && page.contains("異常 1"));
    for (q, shown, hidden) in [
        ("?severity=warning", warning, critical),
        ("?prefecture=%E6%9D%B1%E4%BA%AC%E9%83%BD", critical, warning),
        ("?assignee=op1", warning, critical),
        ("?silenced=yes", warning, critical),
        ("?silenced=no", critical, warning),
        ("?state=resolved", resolved, critical),
        ("?rule=reader_off", critical, warning),
        ("?site=osaka", warning, critical),
    ] {
        let page = list(q).await;
        assert!(page.contains(&row(shown)), "{q} shows {shown}");
        assert!(!page.contains(&row(hidden)), "{q} hides {hidden}");
    }

    let resp = h.send(get("/incidents?rule=nope", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&resp).starts_with("text/html"));
    assert!(text(resp).await.contains("ルール「nope」は指定できません"));
    let resp = h.send(get("/incidents?cursor=zz", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Keyset pages of 50: the second page continues where the first stopped.
    // One open incident per (site, rule, subject): 55 subjects.
    sqlx::query(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, first_seen, last_seen)
         SELECT 'tokyo', 'cert_expiring', 'cert-' || i, 'info', 'open', '期限', now() - make_interval(mins => i), now()
         FROM generate_series(1, 55) AS i",
    )
    .execute(&h.pool)
    .await
    .unwrap();
    let page = list("?severity=info").await;
    assert_eq!(page.matches(r#"class="incident""#).count(), 50);
    let start = page
        .find(r#"class="next""#)
        .map(|_| page.find("cursor=").unwrap())
        .unwrap();
    let cursor: String = page[start + 7..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    let resp = h
        .send(get(
            &format!("/incidents?severity=info&cursor={cursor}"),
            Some(&viewer),
        ))
        .await;
    let second = text(resp).await;
    assert_eq!(second.matches(r#"class="incident""#).count(), 5);
    assert!(second.contains("先頭へ"));
}

#[tokio::test]
async fn matches_sql_agrees_with_matches() {
    let h = Harness::new().await;
    plain_site(&h, "a", "東京都").await;
    plain_site(&h, "b", "大阪府").await;
    sqlx::query("UPDATE sites SET kind = 'pharmacy' WHERE site_id = 'b'")
        .execute(&h.pool)
        .await
        .unwrap();
    for (site, rule) in [
        ("a", "reader_off"),
        ("a", "offline"),
        ("b", "reader_off"),
        ("b", "offline"),
    ] {
        incident(&h, site, rule, "critical", "open").await;
    }
    let now = Utc::now();
    let later = now + Duration::hours(1);
    let cases = [
        NewSilence {
            site_id: Some("a".into()),
            ..NewSilence::default()
        },
        NewSilence {
            rule: Some("offline".into()),
            ..NewSilence::default()
        },
        NewSilence {
            prefecture: Some("大阪府".into()),
            ..NewSilence::default()
        },
        NewSilence {
            kind: Some("pharmacy".into()),
            rule: Some("reader_off".into()),
            ..NewSilence::default()
        },
        // Starts later: not active yet.
        NewSilence {
            site_id: Some("b".into()),
            starts_at: Some(later),
            ..NewSilence::default()
        },
    ];
    for case in cases {
        sqlx::query("DELETE FROM silences")
            .execute(&h.pool)
            .await
            .unwrap();
        let input = NewSilence {
            ends_at: Some(later + Duration::hours(1)),
            reason: "test".into(),
            ..case
        };
        silence_for(&h, input.clone()).await;
        let mut conn = h.pool.acquire().await.unwrap();
        let all = query::list(
            &mut conn,
            &Filter {
                state: StateFilter::All,
                ..Filter::default()
            },
            now,
        )
        .await
        .unwrap();
        let expected: Vec<i64> = all
            .incidents
            .iter()
            .filter(|i| i.silenced)
            .map(|i| i.id)
            .collect();
        let filtered = query::list(
            &mut conn,
            &Filter {
                state: StateFilter::All,
                silenced: Some(true),
                ..Filter::default()
            },
            now,
        )
        .await
        .unwrap();
        let got: Vec<i64> = filtered.incidents.iter().map(|i| i.id).collect();
        assert_eq!(got, expected, "{input:?}");
        let not = query::list(
            &mut conn,
            &Filter {
                state: StateFilter::All,
                silenced: Some(false),
                ..Filter::default()
            },
            now,
        )
        .await
        .unwrap();
        assert_eq!(not.incidents.len() + got.len(), 4, "{input:?}");
    }
}

#[tokio::test]
async fn operators_act_on_an_incident_from_its_page() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    let op = h.session("op1", Role::Operator).await;
    plain_site(&h, "s1", "東京都").await;
    let id = incident(&h, "s1", "reader_off", "critical", "open").await;
    let path = |action: &str| format!("/incidents/{id}/{action}");
    let state = || async {
        sqlx::query_scalar::<_, String>("SELECT state FROM incidents WHERE incident_id = $1")
            .bind(id)
            .fetch_one(&h.pool)
            .await
            .unwrap()
    };

    let page = text(h.send(get(&format!("/incidents/{id}"), Some(&op))).await).await;
    assert!(page.contains(r#"action="/incidents/"#) && page.contains(r#"name="version""#));
    assert!(page.contains(r#"<section id="escalations""#));
    assert!(page.contains(&format!(r#"href="/incidents/{id}/escalations""#)));
    let version: String = {
        let start =
            page.find(r#"name="version" value=""#).unwrap() + r#"name="version" value=""#.len();
        page[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect()
    };
    let viewer_page = text(
        h.send(get(&format!("/incidents/{id}"), Some(&viewer)))
            .await,
    )
    .await;
    assert!(viewer_page.contains("閲覧者の権限では操作できません"));

    // No CSRF token: refused, nothing changes.
    let req = Request::post(path("ack"))
        .header(header::COOKIE, &op.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("version={version}")))
        .unwrap();
    assert_eq!(h.send(req).await.status(), StatusCode::FORBIDDEN);
    let resp = h.send(post(&path("ack"), Some(&viewer), &[])).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "viewers do not act");
    assert_eq!(state().await, "open");

    let resp = h
        .send(post(&path("ack"), Some(&op), &[("version", &version)]))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[header::LOCATION],
        format!("/incidents/{id}?done=ack")
    );
    assert_eq!(state().await, "acknowledged");
    assert_eq!(audit_count(&h, "incident.acknowledge").await, 1);
    let page = text(
        h.send(get(&format!("/incidents/{id}?done=ack"), Some(&op)))
            .await,
    )
    .await;
    assert!(page.contains("確認済みにしました") && page.contains(r#"data-kind="acknowledged""#));

    // The same form again, with the version seen before: 409, who acted and when.
    let resp = h
        .send(post(
            &path("resolve"),
            Some(&op),
            &[("version", &version), ("reason", "再起動")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(content_type(&resp).starts_with("text/html"));
    let page = text(resp).await;
    assert!(
        page.contains("表示後に更新されています") && page.contains("user:op1"),
        "{page}"
    );
    assert_eq!(state().await, "acknowledged");

    // Bad input: the field says why (422).
    let resp = h
        .send(post(&path("resolve"), Some(&op), &[("reason", " ")]))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("理由を入力してください"));
    let resp = h
        .send(post(&path("assign"), Some(&op), &[("assignee", "ghost")]))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("ghost は登録されていません"));
    let long = "あ".repeat(5000);
    let resp = h
        .send(post(&path("comment"), Some(&op), &[("text", &long)]))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(page.contains("4000文字以内"), "{page}");
    assert!(page.contains(&long), "what was typed is kept");
    let resp = h
        .send(post(
            &path("comment"),
            Some(&op),
            &[("text", &"x".repeat(70 * 1024))],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    for (action, fields, to) in [
        ("assign", vec![("assignee", "op1")], "acknowledged"),
        ("comment", vec![("text", "院長に電話済み")], "acknowledged"),
        (
            "resolve",
            vec![("reason", "現地で再起動し復旧")],
            "resolved",
        ),
        ("reopen", vec![("reason", "再発")], "open"),
    ] {
        let resp = h.send(post(&path(action), Some(&op), &fields)).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(state().await, to, "{action}");
    }
    assert_eq!(audit_count(&h, "incident.reopen").await, 1);

    // Silence this site's rule for a while.
    let resp = h
        .send(post(
            &path("silence"),
            Some(&op),
            &[("duration", "2x"), ("reason", "工事")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp = h
        .send(post(
            &path("silence"),
            Some(&op),
            &[("duration", "2h"), ("reason", "院内工事")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (site, rule): (String, String) = sqlx::query_as("SELECT site_id, rule FROM silences")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!((site.as_str(), rule.as_str()), ("s1", "reader_off"));
    assert_eq!(audit_count(&h, "silence.create").await, 1);
    let page = text(h.send(get(&format!("/incidents/{id}"), Some(&op))).await).await;
    assert!(page.contains("サイレンス中"));

    let resp = h.send(post("/incidents/abc/ack", Some(&op), &[])).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(text(resp).await.contains("インシデント abc はありません"));
    let resp = h.send(get("/incidents/999999", Some(&op))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
