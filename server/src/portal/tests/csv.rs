//! `/sites.csv`: every matching row, a BOM, RFC 4180 quoting, no formula, audited.

use axum::http::{StatusCode, header};

use super::site_list::{BASE, S, add, directory};
use super::{Harness, content_type, get, text};
use crate::auth::Role;

#[tokio::test]
async fn the_csv_has_every_row_a_bom_and_no_formula() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    directory(&h).await;
    for (id, name) in [
        ("f1", "=HYPERLINK(\"http://x\",\"y\")"),
        ("f2", "+81 クリニック"),
        ("f3", "-1 医院"),
        ("f4", "@SUM(A1) 薬局"),
        ("f5", "山田, \"本院\""),
    ] {
        add(&h, S { id, name, ..BASE }).await;
    }
    // More rows than one chunk of the stream.
    sqlx::query(
        "INSERT INTO sites (site_id, name, kind) SELECT 'bulk-' || lpad(i::text, 4, '0'), '薬局' || i, 'pharmacy'
         FROM generate_series(1, 1205) i",
    )
    .execute(&h.pool)
    .await
    .unwrap();

    let resp = h.send(get("/sites.csv", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "text/csv; charset=utf-8");
    assert!(
        resp.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"sites-")
    );
    let body = text(resp).await;
    assert!(
        body.starts_with("\u{feff}サイトID,名称,状態,医療機関コード,"),
        "{}",
        &body[..80]
    );
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 7 + 5 + 1205);
    assert!(body.contains("\r\nf1,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","));
    assert!(body.contains("\r\nf2,'+81 クリニック,"));
    assert!(body.contains("\r\nf3,'-1 医院,"));
    assert!(body.contains("\r\nf4,'@SUM(A1) 薬局,"));
    assert!(body.contains("\r\nf5,\"山田, \"\"本院\"\"\","));
    assert!(body.contains("yamada-naika,山田内科クリニック,未受信,1310000001,東京都,千代田区1-1,03-1234-5678,受付 佐藤,医療機関,Nにおまかせ！ITサポート,,富士通Japan,RTX830,,,"));

    // The same filters as the list; the export is audited with them.
    let body = text(
        h.send(get(
            "/sites.csv?q=%E5%B1%B1%E7%94%B0&kind=clinic",
            Some(&viewer),
        ))
        .await,
    )
    .await;
    let rows: Vec<&str> = body
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 3, "{body}");
    let audited: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT actor, detail FROM audit_log WHERE action = 'sites.export' ORDER BY audit_id",
    )
    .fetch_all(&h.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[1].0, "user:viewer1");
    assert_eq!(audited[1].1["query"], "q=%E5%B1%B1%E7%94%B0&kind=clinic");
}
