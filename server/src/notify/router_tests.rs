//! The router against a real PostgreSQL: incident changes written by the incident store become
//! grouped messages for the right channels; silenced, flapping and resolved-in-time incidents
//! say nothing; resolutions go to those who heard the opening; repeats come back. `now` is
//! passed, so windows are crossed without waiting.

use chrono::{Duration, Utc};

use super::*;
use crate::incidents::rules::Condition;
use crate::incidents::store;
use crate::notify::channel::{self, NewChannel};
use crate::notify::model::ChannelKind;
use crate::portal::tests::Harness;
use crate::sites::{Actor, SiteInput};

const BY: Actor<'static> = Actor {
    actor: "test",
    remote: "",
};

async fn site(pool: &PgPool, id: &str, prefecture: &str) {
    let mut tx = pool.begin().await.unwrap();
    crate::sites::store::create(
        &mut tx,
        &SiteInput {
            site_id: id.into(),
            name: format!("{id}医院"),
            prefecture: prefecture.into(),
            ..Default::default()
        },
        BY,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn webhook_channel(pool: &PgPool, name: &str, min: Health, repeat_minutes: i32) {
    let c = NewChannel {
        name: name.into(),
        kind: Some(ChannelKind::Webhook),
        url: Some("http://127.0.0.1:9/hook".into()),
        secret: Some("0123456789abcdef".into()),
        min_severity: Some(min),
        repeat_minutes: Some(repeat_minutes),
        ..Default::default()
    }
    .validate()
    .unwrap();
    channel::create(pool, &c, BY).await.unwrap();
}

fn condition(rule: Rule, severity: Health) -> Condition {
    Condition {
        rule,
        subject: String::new(),
        severity,
        title: format!("{} のテスト", rule.label_ja()),
        detail: String::new(),
        evidence: serde_json::Value::Null,
    }
}

/// Opens one incident the way the sweep does (store::open_many), in its own transaction.
async fn open(pool: &PgPool, site: &str, rule: Rule, severity: Health) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let ids = store::open_many(
        &mut tx,
        &[(site.into(), 1, condition(rule, severity))],
        Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    ids[0]
}

async fn resolve(pool: &PgPool, id: i64) {
    let mut tx = pool.begin().await.unwrap();
    assert!(
        store::resolve(&mut tx, id, "system", "条件が解消しました", Utc::now())
            .await
            .unwrap()
    );
    store::event(
        &mut tx,
        id,
        "auto_resolved",
        "system",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    delivery_id: i64,
    channel_name: String,
    kind: MessageKind,
    state: crate::notify::DeliveryState,
    subject: String,
    members: Vec<i64>,
}

async fn deliveries(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT d.delivery_id, d.channel_name, d.kind, d.state, d.subject,
                COALESCE(array_agg(m.incident_id ORDER BY m.incident_id) FILTER (WHERE m.incident_id IS NOT NULL), '{}') AS members
         FROM notify_deliveries d LEFT JOIN notify_delivery_incidents m USING (delivery_id)
         GROUP BY d.delivery_id ORDER BY d.delivery_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn route_and_seal(pool: &PgPool, at: chrono::DateTime<Utc>) {
    while route_once(pool, Utc::now(), None).await.unwrap().events > 0 {}
    seal_once(pool, at, None).await.unwrap();
}

async fn mark_sent(pool: &PgPool) {
    sqlx::query(
        "UPDATE notify_deliveries SET state = 'sent', sent_at = now() WHERE state = 'pending'",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn thirty_incidents_in_the_window_are_one_message_per_channel() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 0).await;
    webhook_channel(&h.pool, "pager", Health::Critical, 0).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        let id = format!("s{n:02}");
        site(&h.pool, &id, "東京都").await;
        ids.push(open(&h.pool, &id, Rule::ReaderOff, Health::Critical).await);
    }
    // Still inside the window: collecting, nothing to send.
    route_and_seal(&h.pool, Utc::now()).await;
    let rows = deliveries(&h.pool).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.state == crate::notify::DeliveryState::Grouping)
    );
    // The window has passed: one message per channel, each with the 30 incidents.
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    let rows = deliveries(&h.pool).await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.state, crate::notify::DeliveryState::Pending, "{r:?}");
        assert_eq!(r.kind, MessageKind::Opened);
        assert_eq!(r.members.len(), 30);
        assert!(
            r.subject.contains("— 30 サイトでカードリーダー電源断"),
            "{}",
            r.subject
        );
        assert!(r.subject.starts_with("【異常】"), "{}", r.subject);
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_events")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "every owed notification was routed");
}

#[tokio::test]
async fn silenced_flapping_and_minor_incidents_notify_no_one() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 0).await;
    for s in ["quiet", "flappy", "minor", "loud"] {
        site(&h.pool, s, "大阪府").await;
    }
    crate::incidents::silence::create(
        &h.pool,
        &crate::incidents::silence::NewSilence {
            site_id: Some("quiet".into()),
            reason: "院内工事".into(),
            ends_at: Some(Utc::now() + Duration::hours(2)),
            ..Default::default()
        },
        BY,
        Utc::now(),
    )
    .await
    .unwrap();
    open(&h.pool, "quiet", Rule::ReaderOff, Health::Critical).await;
    let flappy = open(&h.pool, "flappy", Rule::ReaderOff, Health::Critical).await;
    sqlx::query("UPDATE incidents SET flapping = true WHERE incident_id = $1")
        .bind(flappy)
        .execute(&h.pool)
        .await
        .unwrap();
    open(&h.pool, "minor", Rule::ScreenLockDisabled, Health::Info).await;
    let loud = open(&h.pool, "loud", Rule::Offline, Health::Critical).await;
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    let rows = deliveries(&h.pool).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].members, [loud]);
}

#[tokio::test]
async fn resolutions_go_to_who_heard_the_opening_and_not_before_it_went_out() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 0).await;
    site(&h.pool, "a", "東京都").await;
    site(&h.pool, "b", "東京都").await;
    let told = open(&h.pool, "a", Rule::ReaderOff, Health::Critical).await;
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    mark_sent(&h.pool).await;
    // Opened and resolved within the window: it leaves its group, nobody hears of it at all.
    let brief = open(&h.pool, "b", Rule::ReaderOff, Health::Critical).await;
    route_and_seal(&h.pool, Utc::now()).await;
    resolve(&h.pool, brief).await;
    resolve(&h.pool, told).await;
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    let rows = deliveries(&h.pool).await;
    let kinds: Vec<(MessageKind, Vec<i64>)> =
        rows.iter().map(|r| (r.kind, r.members.clone())).collect();
    assert_eq!(
        kinds,
        [
            (MessageKind::Opened, vec![told]),
            (MessageKind::Resolved, vec![told])
        ],
        "{rows:?}"
    );
    assert!(
        rows[1].subject.starts_with("【解消】"),
        "{}",
        rows[1].subject
    );
    assert!(
        rows[1].subject.ends_with("が解消しました"),
        "{}",
        rows[1].subject
    );
}

#[tokio::test]
async fn a_raised_severity_reaches_the_channels_that_now_hear_it() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 0).await;
    webhook_channel(&h.pool, "pager", Health::Critical, 0).await;
    site(&h.pool, "a", "東京都").await;
    let id = open(&h.pool, "a", Rule::CertExpiring, Health::Warning).await;
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    mark_sent(&h.pool).await;
    let mut tx = h.pool.begin().await.unwrap();
    sqlx::query("UPDATE incidents SET severity = 'critical' WHERE incident_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    store::event(
        &mut tx,
        id,
        "severity_raised",
        "system",
        serde_json::json!({"from": "warning", "to": "critical"}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    let heard: Vec<(String, Vec<i64>)> = deliveries(&h.pool)
        .await
        .into_iter()
        .map(|r| (r.channel_name, r.members))
        .collect();
    assert_eq!(
        heard,
        [("ops".to_owned(), vec![id]), ("pager".to_owned(), vec![id])]
    );
}

#[tokio::test]
async fn unacknowledged_critical_incidents_are_repeated() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 30).await;
    site(&h.pool, "a", "東京都").await;
    site(&h.pool, "b", "東京都").await;
    let open_one = open(&h.pool, "a", Rule::Offline, Health::Critical).await;
    let acked = open(&h.pool, "b", Rule::Offline, Health::Critical).await;
    route_and_seal(&h.pool, Utc::now() + Duration::seconds(61)).await;
    mark_sent(&h.pool).await;
    sqlx::query("UPDATE incidents SET state = 'acknowledged' WHERE incident_id = $1")
        .bind(acked)
        .execute(&h.pool)
        .await
        .unwrap();
    // Not yet due.
    assert_eq!(
        repeat_once(&h.pool, Utc::now() + Duration::minutes(10))
            .await
            .unwrap(),
        0
    );
    let later = Utc::now() + Duration::minutes(31);
    assert_eq!(repeat_once(&h.pool, later).await.unwrap(), 1);
    // Joining twice does nothing more while the repeat is collecting.
    assert_eq!(repeat_once(&h.pool, later).await.unwrap(), 0);
    seal_once(&h.pool, later + Duration::seconds(61), None)
        .await
        .unwrap();
    let rows = deliveries(&h.pool).await;
    let repeat = rows
        .iter()
        .find(|r| r.kind == MessageKind::Repeat)
        .expect("a repeat");
    assert_eq!(repeat.members, [open_one]);
    assert!(
        repeat.subject.starts_with("【再通知・異常】"),
        "{}",
        repeat.subject
    );
}

#[tokio::test]
async fn fleet_events_go_to_channels_without_site_filters() {
    let h = Harness::new().await;
    webhook_channel(&h.pool, "ops", Health::Warning, 0).await;
    webhook_channel(&h.pool, "tokyo", Health::Warning, 0).await;
    let r = crate::notify::route::NewRoute {
        name: "tokyo-only".into(),
        channels: vec!["tokyo".into()],
        prefectures: vec!["東京都".into()],
        ..Default::default()
    }
    .validate()
    .unwrap();
    crate::notify::route::create(&h.pool, &r, BY).await.unwrap();
    let mut tx = h.pool.begin().await.unwrap();
    crate::notify::enqueue_event(
        &mut tx,
        &SystemEvent {
            kind: "rollout_halted".into(),
            subject: "更新 1.4.2 のロールアウトを停止しました".into(),
            body: "失敗が続いたため自動で停止しました。".into(),
            severity: Health::Critical,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    route_and_seal(&h.pool, Utc::now()).await;
    let rows = deliveries(&h.pool).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].channel_name, "ops");
    assert_eq!(rows[0].kind, MessageKind::Event);
    assert_eq!(rows[0].state, crate::notify::DeliveryState::Pending);
    assert!(
        rows[0].subject.contains("ロールアウトを停止"),
        "{}",
        rows[0].subject
    );
    let _ = rows[0].delivery_id;
}
