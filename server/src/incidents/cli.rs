//! `onshi-server incidents list` and `onshi-server silence add|list|expire` (issue 11), run from
//! a shell on the server host. Writes are audited as `cli:<OS user>`.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use clap::{Args, Subcommand};

use super::lifecycle::State;
use super::query::{self, Filter, Incident, StateFilter};
use super::silence::{self, NewSilence, Scope, Silence};
use crate::cli::DbArgs;
use crate::commands::{actor, finish, pool};
use crate::desk::JST;
use crate::desk::cli::Format;
use crate::error::Error;
use crate::sites::Actor;

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, critical first then oldest first (open and acknowledged unless --state).
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, value_enum)]
        state: Option<State>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence matching incidents (recorded and shown, notifying no one) until --ends / for --for.
    Add(SilenceAddArgs),
    /// Silences not yet ended (--all: every one).
    List {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// End a silence now.
    Expire {
        #[command(flatten)]
        db: DbArgs,
        /// The silence's id (from `silence list`).
        id: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SilenceAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(long)]
    pub site: Option<String>,
    /// A rule code (e.g. reader_off, offline).
    #[arg(long)]
    pub rule: Option<String>,
    /// 都道府県, full name (e.g. 東京都).
    #[arg(long)]
    pub prefecture: Option<String>,
    /// clinic, pharmacy or home_nursing.
    #[arg(long)]
    pub kind: Option<String>,
    /// When it ends (RFC 3339, e.g. 2026-03-02T18:00:00+09:00).
    #[arg(long, conflicts_with = "for_")]
    pub ends: Option<DateTime<FixedOffset>>,
    /// How long from now: 30m, 2h, 1d.
    #[arg(long = "for", value_parser = parse_for)]
    pub for_: Option<Duration>,
    #[arg(long)]
    pub reason: String,
}

/// `30m`, `2h`, `1d` (also `90s`).
pub fn parse_for(text: &str) -> Result<Duration, String> {
    let bad = || format!("「{text}」は 30m / 2h / 1d の形で指定してください");
    let (number, unit) = text.trim().split_at(text.trim().len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(bad()),
    }
}

fn jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%m/%d %H:%M").to_string()
}

/// One line per incident for a person.
pub fn table_ja(incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return "該当する障害はありません\n".into();
    }
    let mut out =
        String::from("ID\t重大度\t状態\tサイト\tルール\t件数\t初回検知\t最終検知\t窓口\n");
    for i in incidents {
        let desk = match (&i.desk["name"], &i.desk["open"], &i.desk["next_open"]) {
            (serde_json::Value::String(name), serde_json::Value::Bool(true), _) => {
                format!("{name}（受付中）")
            }
            (serde_json::Value::String(name), _, serde_json::Value::String(next)) => {
                format!("{name}（次の受付 {next}）")
            }
            (serde_json::Value::String(name), _, _) => format!("{name}（受付時間外）"),
            _ => "-".into(),
        };
        let mut state = i.state_label.to_owned();
        if i.silenced {
            state.push_str("・サイレンス中");
        }
        if i.flapping {
            state.push_str("・頻発");
        }
        out.push_str(&format!(
            "{}\t{}\t{}\t{} {}\t{}\t{}\t{}\t{}\t{}\n",
            i.id,
            i.severity.label_ja(),
            state,
            i.site_id,
            i.site_name,
            i.title,
            i.count,
            jst(i.first_seen),
            jst(i.last_seen),
            desk
        ));
    }
    out
}

fn silences_ja(list: &[Silence]) -> String {
    if list.is_empty() {
        return "サイレンスはありません\n".into();
    }
    let mut out = String::from("ID\t対象\t開始\t終了\t理由\t作成者\n");
    for s in list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            s.id,
            s.target_ja(),
            jst(s.starts_at),
            jst(s.ends_at),
            s.reason,
            s.created_by
        ));
    }
    out
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
    );
    Ok(())
}

pub async fn incidents(cmd: IncidentsCommand) -> Result<(), Error> {
    let IncidentsCommand::List { db, state, format } = cmd;
    let database = pool(&db).await?;
    let now = Utc::now();
    let mut filter = Filter {
        state: state.map(StateFilter::from).unwrap_or_default(),
        limit: Some(query::MAX_LIMIT),
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut conn = database.pool.acquire().await?;
    loop {
        let page = query::list(&mut conn, &filter, now).await?;
        all.extend(page.incidents);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    drop(conn);
    finish(database).await;
    match format {
        Format::Json => print_json(&all),
        Format::Text => {
            print!("{}", table_ja(&all));
            Ok(())
        }
    }
}

pub async fn silence(cmd: SilenceCommand) -> Result<(), Error> {
    let now = Utc::now();
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    match cmd {
        SilenceCommand::Add(a) => {
            let database = pool(&a.db).await?;
            let input = NewSilence {
                site_id: a.site,
                rule: a.rule,
                prefecture: a.prefecture,
                kind: a.kind,
                starts_at: None,
                ends_at: a
                    .ends
                    .map(|e| e.with_timezone(&Utc))
                    .or(a.for_.map(|d| now + d)),
                reason: a.reason,
            };
            let created = silence::create(&database.pool, &input, by, now).await;
            finish(database).await;
            let s = created?;
            println!(
                "サイレンス {} を作成しました（{} まで）",
                s.id,
                jst(s.ends_at)
            );
        }
        SilenceCommand::List { db, all, format } => {
            let database = pool(&db).await?;
            let scope = if all { Scope::All } else { Scope::Current };
            let mut conn = database.pool.acquire().await?;
            let list = silence::list(&mut conn, scope, now).await?;
            drop(conn);
            finish(database).await;
            match format {
                Format::Json => print_json(&list)?,
                Format::Text => print!("{}", silences_ja(&list)),
            }
        }
        SilenceCommand::Expire { db, id } => {
            let database = pool(&db).await?;
            let done = silence::expire(&database.pool, id, by, now).await;
            finish(database).await;
            done?;
            println!("サイレンス {id} を終了しました");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_silences() {
        assert_eq!(parse_for("2h").unwrap(), Duration::hours(2));
        assert_eq!(parse_for("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_for("1d").unwrap(), Duration::days(1));
        assert!(parse_for("2x").is_err());
        assert!(parse_for("-1h").is_err());
        assert!(parse_for("h").is_err());
    }
}
