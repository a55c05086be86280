//! The read side: an incident's escalations as the API, the pages and the CLI show them, with
//! what is computed at read time — the desk's state now (open, or when it opens and who is
//! open meanwhile), the reminder due, the statuses that can follow.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::context::{self, Context};
use super::draft::part_of;
use super::due::{self, Reminder, Tracking};
use super::model::{CallOutcome, Channel, Status, desk_from_str};
use crate::desk::text::when;
use crate::desk::{DeskId, JST, Maintenance, RouteQuery, route};
use crate::error::Error;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    escalation_id: i64,
    incident_id: i64,
    desk: String,
    desk_name: String,
    channel: Channel,
    status: Status,
    recipient: String,
    subject: String,
    body: String,
    serial: String,
    ticket: String,
    visit_on: Option<NaiveDate>,
    send_started_at: Option<DateTime<Utc>>,
    send_started_by: Option<String>,
    message_id: Option<String>,
    requested_at: Option<DateTime<Utc>>,
    requested_by: Option<String>,
    due_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    reminder_key: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One recorded call.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Call {
    #[serde(skip)]
    pub escalation_id: i64,
    pub called_at: DateTime<Utc>,
    pub operator: String,
    pub spoke_with: String,
    pub outcome: CallOutcome,
    pub ticket: String,
    pub note: String,
}

/// The desk at read time, in words and as fields.
#[derive(Debug, Clone, Serialize)]
pub struct DeskNow {
    pub open: bool,
    pub closes_at: Option<DateTime<Utc>>,
    pub next_open: Option<DateTime<Utc>>,
    /// e.g. 「受付中（2026-03-02(月) 17:30 まで）」 or 「受付時間外 — 土日のため休み。次の受付開始: …」.
    pub state_ja: String,
    /// A desk open now that can be called meanwhile, in words; `None` when the desk is open.
    pub fallback_ja: Option<String>,
}

/// A reminder as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderView {
    #[serde(flatten)]
    pub reminder: Reminder,
    pub key: String,
    pub message: String,
}

/// One escalation with everything computed at read time.
#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub id: i64,
    pub incident_id: i64,
    pub desk: DeskId,
    pub desk_name: String,
    pub channel: Channel,
    pub channel_label: &'static str,
    pub status: Status,
    pub status_label: &'static str,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub serial: String,
    pub ticket: String,
    pub visit_on: Option<NaiveDate>,
    pub requested_at: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
    /// When the desk should have answered (the end of its next business day).
    pub due_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub reminder: Option<ReminderView>,
    /// Set while a send is under way, or after one whose outcome is unknown.
    pub send_started_at: Option<DateTime<Utc>>,
    pub send_started_by: Option<String>,
    pub message_id: Option<String>,
    pub desk_now: Option<DeskNow>,
    /// Statuses an operator may set from here.
    pub next_statuses: Vec<Status>,
    pub calls: Vec<Call>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT escalation_id, incident_id, desk, desk_name, channel, status, \
     recipient, subject, body, serial, ticket, visit_on, send_started_at, send_started_by, \
     message_id, requested_at, requested_by, due_at, answered_at, reminder_key, created_by, \
     created_at, updated_at FROM escalations";

/// The desk's state at `now` for this site, as routing answers it.
pub fn desk_now(ctx: &Context, desk: DeskId, now: DateTime<Utc>) -> Option<DeskNow> {
    let query = RouteQuery {
        part: part_of(desk, ctx.incident.part()),
        router_model: ctx.site.router_model,
        reader_maker: ctx.site.reader_maker,
        maintenance: if desk == DeskId::Omakase {
            Maintenance::Omakase
        } else {
            Maintenance::None
        },
        serial: None,
    };
    let a = route(&query, &ctx.contacts, now.with_timezone(&JST)).ok()?;
    let state_ja = match (a.open, a.closes_at, a.next_open) {
        (true, Some(c), _) => format!("受付中（{} まで）", when(c)),
        (true, None, _) => "受付中（24時間受付）".into(),
        (false, _, next) => {
            let reason = a.closed_reason.map_or("受付時間外", |r| r.label_ja());
            match next {
                Some(n) => format!("受付していません — {reason}。次の受付開始: {}", when(n)),
                None => format!(
                    "受付していません — {reason}。次の受付開始は不明です（受付時間が公表・登録されていません）"
                ),
            }
        }
    };
    let fallback_ja = (!a.open).then(|| match (&a.fallback_name, a.fallback_closes_at) {
        (Some(name), closes) => {
            let numbers: Vec<&str> = a.fallback_contacts.iter().map(|c| &*c.value).collect();
            let until = closes.map_or("24時間受付".into(), |c| format!("{} まで", when(c)));
            format!("今つながる窓口: {name} {}（{until}）", numbers.join(" / "))
        }
        (None, _) => "今つながる窓口: なし".into(),
    });
    Some(DeskNow {
        open: a.open,
        closes_at: a.closes_at.map(|t| t.with_timezone(&Utc)),
        next_open: a.next_open.map(|t| t.with_timezone(&Utc)),
        state_ja,
        fallback_ja,
    })
}

fn view(
    row: Row,
    calls: Vec<Call>,
    ctx: Option<&Context>,
    now: DateTime<Utc>,
) -> Result<Escalation, Error> {
    let desk = desk_from_str(&row.desk)
        .ok_or_else(|| Error::Other(anyhow::anyhow!("unknown stored desk {}", row.desk)))?;
    let tracking = Tracking {
        status: row.status,
        due_at: row.due_at,
        answered: row.answered_at.is_some(),
        visit_on: row.visit_on,
    };
    let reminder = due::reminder(&tracking, now).map(|r| ReminderView {
        key: r.key(),
        message: r.message_ja(&row.desk_name),
        reminder: r,
    });
    Ok(Escalation {
        id: row.escalation_id,
        incident_id: row.incident_id,
        desk,
        channel_label: row.channel.label_ja(),
        status_label: row.status.label_ja(),
        next_statuses: row.status.next_by_hand(),
        desk_now: if row.status.is_closed() {
            None
        } else {
            ctx.and_then(|c| desk_now(c, desk, now))
        },
        desk_name: row.desk_name,
        channel: row.channel,
        status: row.status,
        to: row.recipient,
        subject: row.subject,
        body: row.body,
        serial: row.serial,
        ticket: row.ticket,
        visit_on: row.visit_on,
        requested_at: row.requested_at,
        requested_by: row.requested_by,
        due_at: row.due_at,
        answered_at: row.answered_at,
        reminder,
        send_started_at: row.send_started_at,
        send_started_by: row.send_started_by,
        message_id: row.message_id,
        calls,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn views(
    conn: &mut PgConnection,
    rows: Vec<Row>,
    ctx: Option<&Context>,
    now: DateTime<Utc>,
) -> Result<Vec<Escalation>, Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.escalation_id).collect();
    let mut calls: Vec<Call> = sqlx::query_as(
        "SELECT escalation_id, called_at, operator, spoke_with, outcome, ticket, note
         FROM escalation_calls WHERE escalation_id = ANY($1) ORDER BY call_id",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let (mine, rest): (Vec<Call>, Vec<Call>) = std::mem::take(&mut calls)
                .into_iter()
                .partition(|c| c.escalation_id == row.escalation_id);
            calls = rest;
            view(row, mine, ctx, now)
        })
        .collect()
}

/// The escalations of one incident, oldest first, with the incident's context.
pub async fn for_incident(
    conn: &mut PgConnection,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<(Context, Vec<Escalation>), Error> {
    let ctx = context::load(conn, incident_id, now).await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE incident_id = $1 ORDER BY escalation_id"
    ))
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let list = views(conn, rows, Some(&ctx), now).await?;
    Ok((ctx, list))
}

/// The escalations of one incident without the desk's state (for the summary on the
/// incident page: `templates/escalations_summary.html`).
pub async fn summary(
    conn: &mut PgConnection,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Escalation>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE incident_id = $1 ORDER BY escalation_id"
    ))
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    views(conn, rows, None, now).await
}

/// One escalation of an incident.
pub async fn get(
    conn: &mut PgConnection,
    incident_id: i64,
    eid: i64,
    now: DateTime<Utc>,
) -> Result<Escalation, Error> {
    let (_, list) = for_incident(conn, incident_id, now).await?;
    list.into_iter()
        .find(|e| e.id == eid)
        .ok_or_else(|| Error::NotFound(format!("障害 {incident_id} のエスカレーション {eid}")))
}

/// Which cases a fleet-wide list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scope {
    /// Not 完了 / 取消.
    #[default]
    Open,
    /// Only those owing a reminder now.
    Due,
    All,
}

/// Cases across the fleet, newest first (the CLI's `escalation list`), without the live desk
/// state (which needs each incident's context).
pub async fn list(
    conn: &mut PgConnection,
    scope: Scope,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Escalation>, Error> {
    let filter = match scope {
        Scope::Open | Scope::Due => " WHERE status NOT IN ('done', 'cancelled')",
        Scope::All => "",
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT}{filter} ORDER BY escalation_id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let list = views(conn, rows, None, now).await?;
    Ok(match scope {
        Scope::Due => list.into_iter().filter(|e| e.reminder.is_some()).collect(),
        _ => list,
    })
}

/// A reminder a case owes and has not had yet.
#[derive(Debug, Clone)]
pub struct Owed {
    pub incident_id: i64,
    pub escalation_id: i64,
    pub site_id: String,
    pub desk_name: String,
    pub reminder: Reminder,
}

/// Cases that owe a reminder not raised yet. With `lock_one`, only that case, locked
/// (`FOR UPDATE SKIP LOCKED`: a replica raising it already makes this one skip it).
pub async fn reminders_owed(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lock_one: Option<i64>,
    batch: i64,
) -> Result<Vec<Owed>, Error> {
    let (filter, lock) = match lock_one {
        Some(_) => (" AND escalation_id = $3", " FOR UPDATE SKIP LOCKED"),
        None => (" AND $3::bigint IS NULL", ""),
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE status IN ('requested', 'visit_scheduled')
             AND ((status = 'requested' AND answered_at IS NULL AND due_at <= $1)
                  OR (status = 'visit_scheduled' AND visit_on < ($1 AT TIME ZONE 'Asia/Tokyo')::date))
             {filter}
         ORDER BY escalation_id LIMIT $2{lock}"
    ))
    .bind(now)
    .bind(batch)
    .bind(lock_one)
    .fetch_all(&mut *conn)
    .await?;
    let mut owed = Vec::new();
    for r in rows {
        let tracking = Tracking {
            status: r.status,
            due_at: r.due_at,
            answered: r.answered_at.is_some(),
            visit_on: r.visit_on,
        };
        let Some(reminder) = due::reminder(&tracking, now) else {
            continue;
        };
        if r.reminder_key.as_deref() == Some(reminder.key().as_str()) {
            continue;
        }
        let site_id: String =
            sqlx::query_scalar("SELECT site_id FROM incidents WHERE incident_id = $1")
                .bind(r.incident_id)
                .fetch_one(&mut *conn)
                .await?;
        owed.push(Owed {
            incident_id: r.incident_id,
            escalation_id: r.escalation_id,
            site_id,
            desk_name: r.desk_name,
            reminder,
        });
    }
    Ok(owed)
}
