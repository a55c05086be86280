//! `/sites/{site_id}`: the profile with replacement windows, the 「今すぐ連絡」 panel from desk
//! routing, the report by section with the rules' advice, the charts, incidents, agents.

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc};

use super::fixtures::{self, history, incident, plain_site, state};
use super::{Harness, content_type, get, text};
use crate::auth::Role;
use crate::sites::{Maintenance, ReaderMaker, RouterModel, SiteInput, SiteKind};

fn yamada() -> SiteInput {
    SiteInput {
        site_id: "yamada".into(),
        name: "山田医院".into(),
        prefecture: "東京都".into(),
        maintenance: Maintenance::Omakase,
        omakase_dial: "0120-111-222".into(),
        reader_maker: Some(ReaderMaker::Fujitsu),
        router_model: Some(RouterModel::AtAr1050v),
        router_serial: "S/NA12345".into(),
        router_purchased_on: Some(Utc::now().date_naive() - Duration::days(365)),
        pc_serial: "PF1ABC".into(),
        pc_purchased_on: NaiveDate::from_ymd_opt(2019, 4, 1),
        receipt_vendor: "○○メディカル".into(),
        receipt_vendor_contact: "03-0000-1111".into(),
        medical_code: "1312345678".into(),
        closed_on_holidays: Some(true),
        ..SiteInput::default()
    }
}

#[tokio::test]
async fn the_site_page_shows_who_to_call_the_report_the_history_and_the_incidents() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    let admin = h.session("admin1", Role::Admin).await;
    fixtures::site(&h, yamada()).await;
    // Open around the clock, so the reader-off rule holds whenever the test runs.
    let mut tx = h.pool.begin().await.unwrap();
    let always = crate::sites::hours::WeekSchedule::parse("mon-sun 00:00-24:00").unwrap();
    let by = crate::sites::Actor {
        actor: "test",
        remote: "",
    };
    crate::sites::hours_store::set_week(&mut tx, "yamada", Some(&always), false, by)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let report = serde_json::to_value(fixtures::reader_off_report(Utc::now())).unwrap();
    state(&h, "yamada", report, "critical").await;
    let id = incident(&h, "yamada", "reader_off", "critical", "open").await;
    for minutes in [30, 90, 150] {
        history(&h, "yamada", minutes, Some("off"), minutes != 90).await;
    }

    let resp = h.send(get("/sites/yamada", None)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "login first");

    let resp = h.send(get("/sites/yamada", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = text(resp).await;
    // 今すぐ連絡: a subscribed site calls おまかせ first for its standard configuration.
    assert!(page.contains(r#"class="omakase-first""#) && page.contains("0120-111-222"));
    assert!(
        page.contains(r#"data-part="pc" data-desk="omakase""#),
        "{page}"
    );
    assert!(page.contains(r#"data-part="receipt-system" data-desk="receipt-vendor""#));
    assert!(page.contains("○○メディカル"));
    assert!(!page.contains(r#"data-part="hub""#), "no hub at this site");
    assert!(page.contains("PF1ABC"), "the PC serial to prepare");
    // Profile: the site's own hours, the replacement windows.
    assert!(
        page.contains("このサイトの設定") && page.contains("月〜日 0:00〜24:00"),
        "{page}"
    );
    assert!(
        page.contains("2024-04-01 に終了（有償）"),
        "PC bought 2019-04-01"
    );
    assert!(page.contains("S/NA12345"));
    // The report by section, with the rule's own advice.
    assert!(
        page.contains(r#"id="reader" data-health="critical""#),
        "{page}"
    );
    assert!(page.contains("オン資PCと連動して電源が入ります。オン資PCを再起動してください"));
    assert!(page.contains("電源オフ"));
    assert!(page.contains(r#"id="disk" data-health="ok""#));
    // Incidents, agents, charts.
    assert!(page.contains(&format!(r#"href="/incidents/{id}""#)));
    assert!(page.contains(r#"data-agent-id="agent-yamada""#));
    assert!(page.contains("<svg") && page.contains("カードリーダー電源"));
    assert!(page.contains("router 到達") && page.contains("0/1 回到達"));
    assert!(page.contains("報告 3 件"), "chart summary");
    assert!(!page.contains("プロフィールを編集"), "viewers do not edit");
    assert!(!page.contains("訪問先での資格確認"), "clinic");

    let page = text(h.send(get("/sites/yamada", Some(&admin))).await).await;
    assert!(
        page.contains(r#"href="/admin/sites/yamada""#)
            && page.contains("/admin/sites/yamada/delete")
    );

    let resp = h.send(get("/sites/nope", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(content_type(&resp).starts_with("text/html"));
    assert!(
        text(resp)
            .await
            .contains("サイト nope は登録されていません")
    );
}

#[tokio::test]
async fn home_nursing_unreported_and_unreadable_sites_still_render() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    fixtures::site(
        &h,
        SiteInput {
            site_id: "nurse".into(),
            name: "訪問看護ステーションさくら".into(),
            kind: SiteKind::HomeNursing,
            ..SiteInput::default()
        },
    )
    .await;
    let page = text(h.send(get("/sites/nurse", Some(&viewer))).await).await;
    assert!(page.contains("訪問先での資格確認") && page.contains("マイナ在宅受付Web"));
    assert!(page.contains("アクティベーションコード"));
    assert!(page.contains("まだ報告がありません"));
    assert!(page.contains("種別の既定（訪問看護ステーション）"));
    // Unsubscribed: the part's own desk; no reader maker recorded → say what to record.
    assert!(page.contains(r#"data-part="pc" data-desk="lenovo-pc""#));
    assert!(page.contains(r#"data-part="card-reader">"#), "{page}");

    plain_site(&h, "old", "大阪府").await;
    // A report stored in a shape this version cannot read: the page says so, it does not fail.
    state(&h, "old", serde_json::json!({"seq": 1}), "ok").await;
    let resp = h.send(get("/sites/old", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        text(resp)
            .await
            .contains("最新の報告を読み取れませんでした")
    );
}
