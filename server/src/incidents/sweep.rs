//! The sweep (every ~30 s, one runner across replicas through an advisory lock): opens
//! `offline` for sites silent while open — never for a PC off at night, on Sunday or on a
//! holiday (domain.md §2.1) —, resolves incidents whose hold-down ran out without a further
//! report, and lets flapping incidents settle.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use sqlx::{PgConnection, PgPool};

use super::lifecycle::{self, Observation, Policy};
use super::rules::{Condition, Rule};
use super::store::{self, Applied, SYSTEM};
use crate::desk::JST;
use crate::error::Error;
use crate::sites::hours::{self, BusinessHours, Offline};
use crate::sites::hours_defaults::{self, Defaults};
use crate::sites::{Health, SiteKind, hours_store};

/// One sweeper at a time, whichever replica gets it.
const SWEEP_LOCK: i64 = 0x6f6e_7368_6973_7770; // "onshiswp"

#[derive(Debug, Clone, Copy)]
pub struct OfflinePolicy {
    /// Silence while open that raises `offline` (default 15 min).
    pub silence: Duration,
    /// How long after opening a PC may take to start (30 min).
    pub start_grace: Duration,
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        OfflinePolicy {
            silence: Duration::minutes(15),
            start_grace: Duration::minutes(30),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// False when another replica holds the sweep.
    pub ran: bool,
    pub candidates: usize,
    pub applied: Applied,
    pub settled: usize,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    site_id: String,
    seq: i64,
    received_at: DateTime<Utc>,
    kind: SiteKind,
    week_hours: Option<String>,
    closed_on_holidays: bool,
    exception_day: Option<NaiveDate>,
    exception_open: Option<String>,
}

pub async fn sweep_once(
    pool: &PgPool,
    policy: &Policy,
    offline: &OfflinePolicy,
    now: DateTime<Utc>,
) -> Result<Swept, Error> {
    let mut tx = pool.begin().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !got {
        return Ok(Swept::default());
    }
    let mut swept = Swept {
        ran: true,
        ..Default::default()
    };
    // The kinds' default hours as they are now: a default changed on any replica applies here.
    let defaults = hours_defaults::load(&mut tx).await?;
    let candidates = silent_while_open(&mut tx, &defaults, offline, now).await?;
    swept.candidates = candidates.len();
    let mut raise = Vec::new();
    for c in candidates {
        if let Some(v) = candidate_verdict(&c, &defaults, offline, now)? {
            raise.push((c, v));
        }
    }
    let applied = raise_offline(&mut tx, raise, policy, now).await?;
    swept.applied.opened = applied.opened;
    swept.applied.reopened = applied.reopened;
    swept.applied.resolved = resolve_after_hold_down(&mut tx, policy, now).await?;
    swept.settled = settle_flapping(&mut tx, policy, now).await?;
    tx.commit().await?;
    Ok(swept)
}

/// Sites whose last report is older than the silence limit, that are open now by their
/// schedule, and have no open `offline` yet. The open-now test runs in SQL on the stored
/// multiranges so 250,000 sites cost one scan; the exact story is decided in Rust.
async fn silent_while_open(
    conn: &mut PgConnection,
    defaults: &Defaults,
    offline: &OfflinePolicy,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, Error> {
    let local = now.with_timezone(&JST);
    let today = local.date_naive();
    // Sites on their kind's default hours (most of them) are judged here, once per kind,
    // instead of parsing a schedule per row.
    let minute = hours::minute_of_week(local);
    let open_kinds: Vec<&str> = SiteKind::ALL
        .iter()
        .filter(|k| defaults.get(**k).contains_minute_of_week(minute))
        .map(|k| k.as_str())
        .collect();
    // Three disjoint paths, so that each can use an index: at night almost nothing is open
    // and the GiST index on `week_hours` finds the few open sites; by day almost everything
    // has reported and the `received_at` index finds the few silent ones.
    // 1. a per-date exception today decides;
    // 2. the site's own weekly schedule (GiST `@>`), unless today is a closed holiday;
    // 3. the kind's default schedule, judged above per kind (skipped when no kind is open).
    let holiday = hours::is_holiday_closure(today);
    let mut sql = String::from(
        "SELECT st.site_id, st.seq, st.received_at, s.kind, s.week_hours::text AS week_hours,
                s.closed_on_holidays, x.day AS exception_day, x.open_minutes::text AS exception_open
         FROM site_hours_exceptions x
         JOIN sites s ON s.site_id = x.site_id
         JOIN site_state st ON st.site_id = x.site_id
         WHERE x.day = $2 AND x.open_minutes @> $3::int4 AND st.received_at < $1
         UNION ALL
         SELECT st.site_id, st.seq, st.received_at, s.kind, s.week_hours::text, s.closed_on_holidays,
                NULL::date, NULL::text
         FROM sites s JOIN site_state st USING (site_id)
         WHERE s.week_hours @> $5::int4 AND st.received_at < $1
           AND NOT ($4 AND s.closed_on_holidays)
           AND NOT EXISTS (SELECT 1 FROM site_hours_exceptions x WHERE x.site_id = s.site_id AND x.day = $2)",
    );
    if !open_kinds.is_empty() {
        sql.push_str(
            "
         UNION ALL
         SELECT st.site_id, st.seq, st.received_at, s.kind, NULL::text, s.closed_on_holidays,
                NULL::date, NULL::text
         FROM site_state st JOIN sites s USING (site_id)
         WHERE st.received_at < $1 AND s.week_hours IS NULL AND s.kind = ANY($6::text[])
           AND NOT ($4 AND s.closed_on_holidays)
           AND NOT EXISTS (SELECT 1 FROM site_hours_exceptions x WHERE x.site_id = s.site_id AND x.day = $2)",
        );
    }
    let candidates = sqlx::query_as::<_, Candidate>(&sql)
        .bind(now - offline.silence)
        .bind(today)
        .bind((local.hour() * 60 + local.minute()) as i32)
        .bind(holiday)
        .bind(minute as i32)
        .bind(&open_kinds)
        .fetch_all(&mut *conn)
        .await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    // Leave out those that already have an open `offline` (one probe for the few candidates).
    let ids: Vec<&str> = candidates.iter().map(|c| c.site_id.as_str()).collect();
    let already: Vec<String> = sqlx::query_scalar(
        "SELECT site_id FROM incidents WHERE site_id = ANY($1) AND rule = 'offline' AND state <> 'resolved'",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let already: std::collections::HashSet<String> = already.into_iter().collect();
    Ok(candidates
        .into_iter()
        .filter(|c| !already.contains(&c.site_id))
        .collect())
}

fn candidate_verdict(
    c: &Candidate,
    defaults: &Defaults,
    offline: &OfflinePolicy,
    now: DateTime<Utc>,
) -> Result<Option<Offline>, Error> {
    let exceptions = match (c.exception_day, &c.exception_open) {
        (Some(day), Some(open)) => vec![(day, open.clone(), String::new())],
        _ => Vec::new(),
    };
    let stored = hours_store::from_columns(
        c.week_hours.as_deref(),
        defaults.get(c.kind),
        c.closed_on_holidays,
        exceptions,
    )?;
    Ok(verdict(&stored.hours, c.received_at, now, offline))
}

/// Opens `offline` for every silent site at once: one insert for the sites that had none
/// recently, a re-open for those whose last one was resolved within the re-open window (the
/// lifecycle decides). When 5 % of a national fleet did not start at 9:00, that is one
/// statement, not 12,500 round trips.
async fn raise_offline(
    conn: &mut PgConnection,
    raise: Vec<(Candidate, Offline)>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    if raise.is_empty() {
        return Ok(applied);
    }
    let ids: Vec<&str> = raise.iter().map(|(c, _)| c.site_id.as_str()).collect();
    let recent: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT site_id FROM incidents
         WHERE site_id = ANY($1) AND rule = 'offline' AND state = 'resolved' AND resolved_at >= $2",
    )
    .bind(&ids)
    .bind(now - policy.reopen_window)
    .fetch_all(&mut *conn)
    .await?;
    let (reopen, fresh): (Vec<_>, Vec<_>) = raise
        .into_iter()
        .partition(|(c, _)| recent.contains(&c.site_id));
    applied.opened = store::open_many(
        conn,
        &fresh
            .into_iter()
            .map(|(c, v)| (c.site_id, c.seq, offline_condition(v)))
            .collect::<Vec<_>>(),
        now,
    )
    .await?;
    for (c, v) in reopen {
        store::lock_site(conn, &c.site_id).await?;
        let resolved: Vec<_> = store::recently_resolved(conn, &c.site_id, now, policy)
            .await?
            .into_iter()
            .filter(|r| r.rule == Rule::Offline)
            .collect();
        let observation = Observation {
            seq: c.seq,
            conditions: vec![offline_condition(v)],
        };
        let changes = lifecycle::reconcile(&[], &resolved, &observation, now, policy);
        let done = store::apply(conn, &c.site_id, &changes, c.seq, now).await?;
        applied.opened.extend(done.opened);
        applied.reopened.extend(done.reopened);
    }
    Ok(applied)
}

fn verdict(
    hours: &BusinessHours,
    last_seen: DateTime<Utc>,
    now: DateTime<Utc>,
    offline: &OfflinePolicy,
) -> Option<Offline> {
    hours.offline_verdict(
        Some(last_seen.with_timezone(&JST)),
        now.with_timezone(&JST),
        offline.silence,
        offline.start_grace,
    )
}

/// The two stories of a silent PC, in the operator's words (domain.md §2.1).
pub fn offline_condition(verdict: Offline) -> Condition {
    let (title, detail) = match verdict {
        Offline::StoppedDuringHours { last_seen } => (
            format!(
                "営業時間中にオン資PCからの報告が{}から途絶えています",
                last_seen.format("%H:%M")
            ),
            "オン資PCの電源、ネットワーク（ルータ・LANケーブル）を確認してください。PCが起動しない場合はPCの故障受付へ連絡してください",
        ),
        Offline::DidNotStart { opened_at, .. } => (
            format!(
                "営業開始（{}）から30分たってもオン資PCが起動していません",
                opened_at.format("%H:%M")
            ),
            "朝はオン資PCをレセコンより先に起動してください（朝ON・夜OFF）。電源が入らない場合はPCの故障受付へ連絡してください",
        ),
    };
    Condition {
        rule: Rule::Offline,
        subject: String::new(),
        severity: Health::Critical,
        title,
        detail: detail.into(),
        evidence: serde_json::to_value(verdict).unwrap_or_default(),
    }
}

async fn resolve_after_hold_down(
    conn: &mut PgConnection,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE incidents SET state = 'resolved', resolved_at = $1, resolved_by = $2,
             resolve_reason = '条件が解消しました', clear_since = NULL, clear_reports = 0, updated_at = now()
         WHERE state <> 'resolved' AND clear_since IS NOT NULL AND clear_since <= $3
         RETURNING incident_id",
    )
    .bind(now)
    .bind(SYSTEM)
    .bind(now - policy.hold_down)
    .fetch_all(&mut *conn)
    .await?;
    for id in &ids {
        store::event(
            conn,
            *id,
            "auto_resolved",
            SYSTEM,
            serde_json::json!({"hold_down": true}),
        )
        .await?;
    }
    Ok(ids)
}

async fn settle_flapping(
    conn: &mut PgConnection,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE incidents SET flapping = false, updated_at = now()
         WHERE flapping AND COALESCE(transitions[array_upper(transitions, 1)], first_seen) < $1
         RETURNING incident_id",
    )
    .bind(now - policy.flap_window)
    .fetch_all(&mut *conn)
    .await?;
    for id in &ids {
        store::event(conn, *id, "settled", SYSTEM, serde_json::json!({})).await?;
    }
    Ok(ids.len())
}
