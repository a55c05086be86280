//! `onshi-server escalation draft|list|send|record-call|update|remind`, run from a shell on
//! the server host. Writes are audited as `cli:<OS user>`, like every other command.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::draft::{self, Draft, Request};
use super::input::{CallInput, Patch};
use super::model::{CallOutcome, Status};
use super::query::{self, Scope};
use super::{context, reminders, store, text};
use crate::cli::DbArgs;
use crate::commands::{actor, finish, pool};
use crate::desk::cli::{Format, parse_at};
use crate::desk::{DeskId, JST};
use crate::error::Error;
use crate::sites::Actor;

#[derive(Debug, Subcommand)]
pub enum EscalationCommand {
    /// Print the draft for an incident (desk, to, subject, body or call sheet); --save keeps
    /// it as 下書き for review, sending or recording the call.
    Draft(DraftArgs),
    /// Escalations of one incident (--incident), or across the fleet (--scope).
    List(ListArgs),
    /// Send a drafted mail through the SMTP server of --escalation-smtp-url.
    Send(SendArgs),
    /// Record a call to the desk (or a submitted web form) and move the case as its outcome says.
    RecordCall(RecordCallArgs),
    /// Set the desk's ticket number, the status or the visit date.
    Update(UpdateArgs),
    /// Raise the reminders owed now (the server does this every minute).
    Remind {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DraftArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The incident's id (from `incidents list`).
    #[arg(long)]
    pub incident: i64,
    /// Another desk than the routed one (e.g. lenovo-pc for a site subscribed to おまかせ).
    #[arg(long, value_enum)]
    pub desk: Option<DeskId>,
    /// The failed unit's serial, when the site's record lacks it or is wrong.
    #[arg(long)]
    pub serial: Option<String>,
    /// Draft as at this instant (RFC 3339): the desk's state in the call sheet; default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<DateTime<FixedOffset>>,
    /// Store the draft (下書き) and print its id.
    #[arg(long)]
    pub save: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only this incident's escalations (with the desk's state now).
    #[arg(long)]
    pub incident: Option<i64>,
    /// Fleet-wide: open (not 完了/取消), due (a reminder is due) or all.
    #[arg(long, value_enum, default_value_t = Scope::Open)]
    pub scope: Scope,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub mail: super::send::MailArgs,
    /// The escalation's id (from `escalation list`).
    #[arg(long)]
    pub id: i64,
    /// Send again although an earlier send ended without a recorded outcome (check first that
    /// the desk did not get it).
    #[arg(long)]
    pub confirm_resend: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RecordCallArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The escalation's id (from `escalation list`).
    #[arg(long)]
    pub id: i64,
    /// What came of the call: accepted (受付済), callback (依頼済, waiting), no_answer or other.
    #[arg(long, value_enum)]
    pub outcome: CallOutcome,
    /// Who answered at the desk.
    #[arg(long)]
    pub spoke_with: Option<String>,
    /// When the call was made (RFC 3339); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<DateTime<FixedOffset>>,
    /// The desk's ticket / reception number.
    #[arg(long)]
    pub ticket: Option<String>,
    /// A note kept with the call.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The escalation's id (from `escalation list`).
    #[arg(long)]
    pub id: i64,
    /// New status, forward only: accepted, parts_ordered, visit_scheduled (with --visit-on),
    /// done, cancelled.
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// The desk's ticket / reception number.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Visit date (YYYY-MM-DD), with --status visit_scheduled.
    #[arg(long)]
    pub visit_on: Option<NaiveDate>,
    /// Said in the timeline with the change.
    #[arg(long)]
    pub note: Option<String>,
}

/// The draft as `--format json` prints it.
#[derive(Serialize)]
struct DraftJson<'a> {
    incident: i64,
    escalation_id: Option<i64>,
    #[serde(flatten)]
    draft: &'a Draft,
}

fn print_json(value: &impl Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
    );
    Ok(())
}

async fn incident_of(pool: &sqlx::PgPool, eid: i64) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT incident_id FROM escalations WHERE escalation_id = $1")
        .bind(eid)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("エスカレーション {eid}")))
}

async fn draft_cmd(a: DraftArgs, by: Actor<'_>) -> Result<(), Error> {
    let database = pool(&a.db).await?;
    let now = Utc::now();
    let req = Request {
        desk: a.desk,
        serial: a.serial,
    };
    let result = if a.save {
        store::create(&database.pool, a.incident, &req, by, now)
            .await
            .map(|(id, d)| (Some(id), d))
    } else {
        let at = a.at.unwrap_or_else(|| now.with_timezone(&JST));
        let mut conn = database.pool.acquire().await?;
        let built = context::load(&mut conn, a.incident, now)
            .await
            .and_then(|ctx| {
                draft::build(&ctx.facts(by.actor), &req, at)
                    .map(|d| (None, d))
                    .map_err(Error::from)
            });
        drop(conn);
        built
    };
    finish(database).await;
    let (saved, d) = result?;
    match a.format {
        Format::Json => print_json(&DraftJson {
            incident: a.incident,
            escalation_id: saved,
            draft: &d,
        }),
        Format::Text => {
            print!("{}", text::draft(&d, saved));
            Ok(())
        }
    }
}

async fn list_cmd(a: ListArgs) -> Result<(), Error> {
    let database = pool(&a.db).await?;
    let now = Utc::now();
    let mut conn = database.pool.acquire().await?;
    let list = match a.incident {
        Some(id) => query::for_incident(&mut conn, id, now)
            .await
            .map(|(_, l)| l),
        None => query::list(&mut conn, a.scope, 500, now).await,
    };
    drop(conn);
    finish(database).await;
    let list = list?;
    match a.format {
        Format::Json => print_json(&list),
        Format::Text => {
            print!("{}", text::list(&list));
            Ok(())
        }
    }
}

async fn send_cmd(a: SendArgs, by: Actor<'_>) -> Result<(), Error> {
    let sender = super::send::Sender::from_args(&a.mail)?;
    let database = pool(&a.db).await?;
    let done = async {
        let incident = incident_of(&database.pool, a.id).await?;
        super::send::send(
            &database.pool,
            Some(&sender),
            incident,
            a.id,
            a.confirm_resend,
            by,
        )
        .await
    }
    .await;
    finish(database).await;
    let e = done?;
    println!(
        "エスカレーション {} を {} に送信しました（回答期限 {}）",
        e.id,
        e.to,
        crate::portal::filters::jst_text(e.due_at)
    );
    Ok(())
}

async fn record_call_cmd(a: RecordCallArgs, by: Actor<'_>) -> Result<(), Error> {
    let now = Utc::now();
    let database = pool(&a.db).await?;
    let call = CallInput {
        spoke_with: a.spoke_with.unwrap_or_default(),
        at: a.at,
        outcome: a.outcome,
        ticket: a.ticket.unwrap_or_default(),
        note: a.note.unwrap_or_default(),
    };
    let done = async {
        let incident = incident_of(&database.pool, a.id).await?;
        store::record_call(&database.pool, incident, a.id, &call, by, now).await?;
        let mut conn = database.pool.acquire().await?;
        query::get(&mut conn, incident, a.id, now).await
    }
    .await;
    finish(database).await;
    let e = done?;
    println!(
        "エスカレーション {} に電話の記録を追加しました（状態: {}）",
        e.id, e.status_label
    );
    Ok(())
}

async fn update_cmd(a: UpdateArgs, by: Actor<'_>) -> Result<(), Error> {
    let now = Utc::now();
    let database = pool(&a.db).await?;
    let patch = Patch {
        status: a.status,
        ticket: a.ticket,
        visit_on: a.visit_on,
        note: a.note,
        ..Default::default()
    };
    let done = async {
        let incident = incident_of(&database.pool, a.id).await?;
        store::update(&database.pool, incident, a.id, &patch, by, now).await?;
        let mut conn = database.pool.acquire().await?;
        query::get(&mut conn, incident, a.id, now).await
    }
    .await;
    finish(database).await;
    let e = done?;
    println!(
        "エスカレーション {} を更新しました（状態: {}、受付番号: {}）",
        e.id,
        e.status_label,
        if e.ticket.is_empty() { "-" } else { &e.ticket }
    );
    Ok(())
}

pub async fn run(cmd: EscalationCommand) -> Result<(), Error> {
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    match cmd {
        EscalationCommand::Draft(a) => draft_cmd(a, by).await,
        EscalationCommand::List(a) => list_cmd(a).await,
        EscalationCommand::Send(a) => send_cmd(a, by).await,
        EscalationCommand::RecordCall(a) => record_call_cmd(a, by).await,
        EscalationCommand::Update(a) => update_cmd(a, by).await,
        EscalationCommand::Remind { db } => {
            let database = pool(&db).await?;
            let raised = reminders::pass(&database.pool, Utc::now()).await;
            finish(database).await;
            println!("催促を {} 件記録しました", raised?);
            Ok(())
        }
    }
}
