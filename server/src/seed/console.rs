//! What `seed` adds for the console pages at national scale (issue 13): a realistic latest
//! report for every seeded site (the site page reads it section by section) and incidents —
//! open ones for `incident_percent` of the sites, resolved ones for five times as many — with
//! their first timeline row, set in SQL so 250,000 sites take seconds.

use sqlx::PgConnection;

use crate::demo;
use crate::error::Error;
use crate::fleet::report::ReportDoc;

/// The latest report every seeded site gets: a healthy demo PC (JSON form of `site_state`).
pub fn report() -> serde_json::Value {
    let site = demo::fleet(1).remove(0);
    let doc = ReportDoc::from(&demo::demo_report(&site, "agent-seed", 100));
    serde_json::to_value(doc).unwrap_or_default()
}

/// Open incidents for `incident_percent` % of the seeded sites and resolved ones for five
/// times as many, spread over the last three days, each with its `opened` timeline row.
pub async fn incidents(conn: &mut PgConnection, incident_percent: u32) -> Result<(), Error> {
    // Rules and severities cycle by site; `subject` keeps one open incident per fingerprint.
    let inserted = sqlx::query(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, detail, first_seen,
                                last_seen, resolved_at, resolved_by, resolve_reason)
         SELECT site_id, r.rule, r.subject, r.severity, st,
                r.title, 'シード（ベンチマーク用）', t, t + interval '5 minutes',
                CASE WHEN st = 'resolved' THEN t + interval '1 hour' END,
                CASE WHEN st = 'resolved' THEN 'system' END,
                CASE WHEN st = 'resolved' THEN '条件が解消しました' END
         FROM (SELECT site_id, abs(hashtext(site_id)) AS h,
                      now() - make_interval(mins => abs(hashtext(site_id || 't')) % 4320) AS t,
                      CASE WHEN abs(hashtext(site_id)) % 100 < $1 THEN 'open' ELSE 'resolved' END AS st
               FROM sites WHERE site_id LIKE 'seed-%'
                 AND abs(hashtext(site_id)) % 100 < $1 * 6) s
         CROSS JOIN LATERAL (VALUES
             (0, 'reader_off', '', 'critical', '顔認証付きカードリーダーの電源が切れています（営業時間中）'),
             (1, 'cert_expiring', 'seed', 'warning', '電子証明書の有効期限まであと20日です'),
             (2, 'no_daily_reboot', '', 'warning', 'オン資PCが30時間再起動されていません'),
             (3, 'network_unreachable', 'router', 'critical', 'オン資ルータ（10.51.1.1）に接続できません'),
             (4, 'offline', '', 'critical', '営業時間中にオン資PCからの報告が途絶えています')
         ) AS r(n, rule, subject, severity, title)
         WHERE r.n = s.h % 5
         ON CONFLICT DO NOTHING",
    )
    .bind(incident_percent.min(16) as i32)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO incident_events (incident_id, at, kind, actor, detail)
         SELECT incident_id, first_seen, 'opened', 'system', '{}' FROM incidents
         WHERE detail = 'シード（ベンチマーク用）'
           AND NOT EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = incidents.incident_id)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE incidents").execute(&mut *conn).await?;
    tracing::info!(incidents = inserted.rows_affected(), "seeded incidents");
    Ok(())
}
