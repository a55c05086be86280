//! `/sites` and `/sites.csv`: search (names from one character, kana folding, ids, codes,
//! phones without hyphens), filters, sorts, keyset pages, the global search's direct open,
//! and the CSV export (BOM, quoting, formulas neutralised, audited).

use axum::http::{StatusCode, header};

use super::{Harness, content_type, get, text};
use crate::auth::Role;

pub struct S {
    pub id: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub code: &'static str,
    pub prefecture: &'static str,
    pub kind: &'static str,
    pub maker: Option<&'static str>,
    pub router: Option<&'static str>,
    pub maintenance: &'static str,
}

pub const BASE: S = S {
    id: "",
    name: "",
    phone: "",
    code: "",
    prefecture: "東京都",
    kind: "clinic",
    maker: None,
    router: None,
    maintenance: "none",
};

pub async fn add(h: &Harness, s: S) {
    sqlx::query(
        "INSERT INTO sites (site_id, name, phone, medical_code, prefecture, kind, reader_maker,
                            router_model, maintenance, address, contact_person)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '千代田区1-1', '受付 佐藤')",
    )
    .bind(s.id)
    .bind(s.name)
    .bind(s.phone)
    .bind(s.code)
    .bind(s.prefecture)
    .bind(s.kind)
    .bind(s.maker)
    .bind(s.router)
    .bind(s.maintenance)
    .execute(&h.pool)
    .await
    .unwrap();
}

pub async fn directory(h: &Harness) {
    for s in [
        S {
            id: "yamada-naika",
            name: "山田内科クリニック",
            phone: "03-1234-5678",
            code: "1310000001",
            maker: Some("fujitsu"),
            router: Some("RTX830"),
            maintenance: "omakase",
            ..BASE
        },
        S {
            id: "yamada-shika",
            name: "山田歯科医院",
            phone: "06-1111-2222",
            code: "2710000002",
            prefecture: "大阪府",
            maker: Some("canon"),
            router: Some("NVR700"),
            ..BASE
        },
        S {
            id: "yamamoto",
            name: "山本整形外科",
            phone: "011-222-3333",
            code: "0110000003",
            prefecture: "北海道",
            router: Some("AT-AR1050V"),
            ..BASE
        },
        S {
            id: "sakura-1",
            name: "さくら薬局",
            phone: "03-9999-0001",
            code: "1340000004",
            kind: "pharmacy",
            ..BASE
        },
        S {
            id: "sakura-2",
            name: "ｻｸﾗ訪問看護ステーション",
            phone: "03-9999-0002",
            kind: "home_nursing",
            ..BASE
        },
        S {
            id: "ueda",
            name: "上田 内科",
            phone: "",
            ..BASE
        },
        S {
            id: "percent",
            name: "100%健康クリニック",
            ..BASE
        },
    ] {
        add(h, s).await;
    }
}

fn ids(page: &str) -> Vec<String> {
    page.split(r#"<tr class="site" data-site-id=""#)
        .skip(1)
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .collect()
}

async fn found(h: &Harness, session: &super::Session, query: &str) -> Vec<String> {
    let resp = h.send(get(&format!("/sites?{query}"), Some(session))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{query}");
    let mut found = ids(&text(resp).await);
    found.sort();
    found
}

fn q(text: &str) -> String {
    format!(
        "q={}",
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn names_match_from_one_character_with_kana_and_width_folded() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    directory(&h).await;
    let cases: [(&str, &[&str]); 12] = [
        ("山", &["yamada-naika", "yamada-shika", "yamamoto"]),
        ("山田", &["yamada-naika", "yamada-shika"]),
        ("田", &["ueda", "yamada-naika", "yamada-shika"]),
        ("内科", &["ueda", "yamada-naika"]),
        ("山田 内科", &["yamada-naika"]),
        ("上田内科", &["ueda"]),
        ("サクラ", &["sakura-1", "sakura-2"]),
        ("さくら", &["sakura-1", "sakura-2"]),
        ("訪問看護", &["sakura-2"]),
        ("100%", &["percent"]),
        ("0%", &["percent"]),
        ("%", &["percent"]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(&h, &viewer, &q(text)).await, expected, "{text}");
    }
    // `_` and `%` are literal, not wildcards.
    assert!(found(&h, &viewer, &q("山_")).await.is_empty());
    assert!(found(&h, &viewer, &q("歯%")).await.is_empty());
}

#[tokio::test]
async fn ids_codes_and_phones_are_found_and_one_exact_key_opens_the_site() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    directory(&h).await;
    // Leading part of an id; leading digits of a code or a phone, hyphens and width ignored.
    assert_eq!(
        found(&h, &viewer, &q("sakura")).await,
        ["sakura-1", "sakura-2"]
    );
    assert_eq!(
        found(&h, &viewer, &q("03-9999")).await,
        ["sakura-1", "sakura-2"]
    );
    assert_eq!(
        found(&h, &viewer, &q("０３９９９９")).await,
        ["sakura-1", "sakura-2"]
    );
    assert_eq!(found(&h, &viewer, &q("131")).await, ["yamada-naika"]);
    assert_eq!(
        found(&h, &viewer, &q("03")).await,
        Vec::<String>::new(),
        "two digits are too few"
    );

    // The global search (only `q`): one site's exact key opens it.
    for key in [
        "yamada-shika",
        "2710000002",
        "06-1111-2222",
        "0611112222",
        "（06）1111-2222",
        "０６－１１１１－２２２２",
    ] {
        let path = format!(
            "/sites?q={}",
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        );
        let resp = h.send(get(&path, Some(&viewer))).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{key}");
        assert_eq!(
            resp.headers()[header::LOCATION],
            "/sites/yamada-shika",
            "{key}"
        );
    }
    // A part of a key, or a key two sites share, lists instead.
    add(
        &h,
        S {
            id: "branch",
            name: "山田歯科 分院",
            phone: "06-1111-2222",
            ..BASE
        },
    )
    .await;
    let resp = h.send(get("/sites?q=06-1111-2222", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut listed = ids(&text(resp).await);
    listed.sort();
    assert_eq!(listed, ["branch", "yamada-shika"]);
    let resp = h.send(get("/sites?q=yamada", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn filters_combine_with_the_search() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    directory(&h).await;
    let cases: [(&str, &[&str]); 7] = [
        ("kind=pharmacy", &["sakura-1"]),
        ("prefecture=%E5%A4%A7%E9%98%AA%E5%BA%9C", &["yamada-shika"]),
        ("maker=canon", &["yamada-shika"]),
        ("router=at-ar1050v", &["yamamoto"]),
        ("maintenance=omakase", &["yamada-naika"]),
        ("q=%E5%B1%B1&router=NVR700", &["yamada-shika"]),
        (
            "q=%E5%B1%B1%E7%94%B0&maker=fujitsu&maintenance=omakase&state=never_reported",
            &["yamada-naika"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(found(&h, &viewer, query).await, expected, "{query}");
    }
    // The form shows what was chosen, and offers the CSV of the same list.
    let page = text(
        h.send(get("/sites?kind=pharmacy&sort=site_id", Some(&viewer)))
            .await,
    )
    .await;
    assert!(page.contains(r#"<option value="pharmacy" selected>"#));
    assert!(page.contains(r#"<option value="site_id" selected>"#));
    assert!(
        page.contains(r#"href="/sites.csv?kind=pharmacy&#38;sort=site_id""#),
        "{page}"
    );
    assert!(page.contains(r#"<th scope="col">状態</th>"#));
    assert!(page.contains(r#"<label for="f-q">検索</label>"#));
}

#[tokio::test]
async fn bad_parameters_get_a_japanese_page() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    for (query, message) in [
        ("state=broken", "状態「broken」は指定できません"),
        ("kind=hospital", "種別「hospital」"),
        ("prefecture=Tokyo", "都道府県「Tokyo」はありません"),
        ("sort=random", "並び順「random」"),
        ("cursor=zz", "一覧の先頭から開き直してください"),
        ("q=a%00b", "制御文字"),
    ] {
        for path in ["/sites", "/sites.csv"] {
            let resp = h.send(get(&format!("{path}?{query}"), Some(&viewer))).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
            assert!(content_type(&resp).starts_with("text/html"));
            let page = text(resp).await;
            assert!(page.contains(message), "{path}?{query}: {page}");
        }
    }
    for path in ["/sites", "/sites.csv"] {
        let resp = h.send(get(path, None)).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} needs a login");
    }
}

/// 230 sites with states, names and last reports that tie, walked page by page in each sort.
#[tokio::test]
async fn every_sort_pages_through_every_site_once_in_order() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    sqlx::query(
        "INSERT INTO sites (site_id, name) SELECT 'p-' || lpad(i::text, 3, '0'),
                (ARRAY['山田医院', 'さくら薬局', '上田クリニック'])[1 + i % 3]
         FROM generate_series(1, 230) i",
    )
    .execute(&h.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, report)
         SELECT site_id, 'a', 1, now(), now() - make_interval(mins => (i % 4)::int * 30), 'ok', '{}'
         FROM (SELECT site_id, row_number() OVER (ORDER BY site_id) AS i FROM sites) s
         WHERE i % 5 <> 0",
    )
    .execute(&h.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO incidents (site_id, rule, severity, state, title, first_seen, last_seen)
         SELECT site_id, 'reader_off', 'critical', 'open', '電源断', now(), now()
         FROM site_state WHERE site_id LIKE '%2' AND received_at > now() - interval '5 minutes'",
    )
    .execute(&h.pool)
    .await
    .unwrap();
    for sort in ["name", "site_id", "state", "last_report"] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut path = format!("/sites?sort={sort}");
        let mut pages = 0;
        loop {
            let page = text(h.send(get(&path, Some(&viewer))).await).await;
            pages += 1;
            for row in page.split(r#"<tr class="site" data-site-id=""#).skip(1) {
                let id = row[..row.find('"').unwrap()].to_owned();
                let status = row.split(r#"data-status=""#).nth(1).unwrap();
                seen.push((id, status[..status.find('"').unwrap()].to_owned()));
            }
            let Some(end) = page.find(r#"" rel="next""#) else {
                break;
            };
            let start = page[..end].rfind(r#"href=""#).unwrap() + 6;
            path = page[start..end].replace("&#38;", "&");
            assert!(pages < 10, "{sort}: no end");
        }
        assert_eq!(pages, 3, "{sort}: 100 + 100 + 30");
        let mut ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 230, "{sort}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 230, "{sort}: a site twice");
        if sort == "state" {
            let rank = |s: &str| {
                [
                    "critical",
                    "warning",
                    "silent",
                    "ok",
                    "closed",
                    "never_reported",
                ]
                .iter()
                .position(|x| *x == s)
                .unwrap()
            };
            assert!(
                seen.windows(2).all(|w| rank(&w[0].1) <= rank(&w[1].1)),
                "{seen:?}"
            );
            assert_eq!(seen[0].1, "critical");
            assert_eq!(seen.last().unwrap().1, "never_reported");
        }
        if sort == "site_id" {
            assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        }
        if sort == "last_report" {
            assert_eq!(
                seen.last().unwrap().1,
                "never_reported",
                "never reported last"
            );
            assert_eq!(seen[0].1, "closed", "the longest silent first");
        }
    }
}
