//! `onshi-server channel add|list|remove|test|deliveries|retry` and `onshi-server route
//! add|list|remove`, run from a shell on the server host. Writes are audited as `cli:<OS user>`.

use chrono::Utc;
use clap::{Args, Subcommand};

use super::channel::{self, NewChannel};
use super::deliveries::{self, Filter, RetryTarget};
use super::model::{ChannelKind, DeliveryState};
use super::route::{self, NewRoute};
use crate::cli::DbArgs;
use crate::commands::{actor, finish, pool};
use crate::desk::JST;
use crate::desk::cli::Format;
use crate::error::Error;
use crate::sites::{Actor, Health, Maintenance, SiteKind};

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a channel: --kind webhook --url URL --secret S, or --kind smtp --smtp-url URL --from ADDR --to ADDR[,ADDR].
    Add(ChannelAddArgs),
    /// Every channel (secrets never shown).
    List {
        #[command(flatten)]
        db: DbArgs,
        /// `text` (a table) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove a channel; its undelivered messages are dead-lettered, not lost silently.
    Remove {
        #[command(flatten)]
        db: DbArgs,
        /// The channel's name (from `channel list`).
        #[arg(long)]
        name: String,
    },
    /// Send a test message now and print the answer (exit 1 if it failed).
    Test {
        #[command(flatten)]
        db: DbArgs,
        /// The channel's name (from `channel list`).
        #[arg(long)]
        name: String,
    },
    /// Delivery history, newest first (failed and dead-lettered ones with their error).
    Deliveries {
        #[command(flatten)]
        db: DbArgs,
        /// Only messages in this state (e.g. dead: dead-lettered, retrying: failed, will retry).
        #[arg(long, value_enum)]
        state: Option<DeliveryState>,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
        /// Most messages shown (up to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// `text` (a table) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Send failed messages again: one (--delivery ID) or every dead-lettered one of --channel.
    Retry {
        #[command(flatten)]
        db: DbArgs,
        /// The message's id (from `channel deliveries`).
        #[arg(long, conflicts_with = "channel")]
        delivery: Option<i64>,
        /// Retry every dead-lettered message of this channel.
        #[arg(long)]
        channel: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ChannelAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// `webhook` (signed JSON POST) or `smtp` (mail).
    #[arg(long, value_enum)]
    pub kind: ChannelKind,
    /// A name operators recognise, e.g. ops-slack.
    #[arg(long)]
    pub name: String,
    /// Webhook: where to POST (http:// or https://).
    #[arg(long)]
    pub url: Option<String>,
    /// Webhook: the HMAC key the receiver checks (16 characters or more).
    #[arg(long)]
    pub secret: Option<String>,
    /// SMTP: smtp://HOST:PORT[?tls=none|opportunistic|required] or smtps://HOST[:PORT].
    #[arg(long)]
    pub smtp_url: Option<String>,
    /// SMTP: sender address.
    #[arg(long)]
    pub from: Option<String>,
    /// SMTP: recipients, comma-separated.
    #[arg(long)]
    pub to: Option<String>,
    /// Nothing below this severity is sent to the channel (default warning).
    #[arg(long, value_enum)]
    pub min_severity: Option<Health>,
    /// Incidents opening within this many seconds go out as one message (default 60).
    #[arg(long)]
    pub group_seconds: Option<i32>,
    /// Repeat unacknowledged critical incidents every N minutes (default 0: never).
    #[arg(long)]
    pub repeat_minutes: Option<i32>,
    /// Tries before a message is dead-lettered (default 8).
    #[arg(long)]
    pub max_attempts: Option<i32>,
    /// Seconds one try may take (default 10).
    #[arg(long)]
    pub timeout_seconds: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Add a routing rule: matching incidents go to --channel (and only routed ones, once a route names a channel).
    Add(RouteAddArgs),
    /// Every route with its channels.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// `text` (a table) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove a route.
    Remove {
        #[command(flatten)]
        db: DbArgs,
        /// The route's name (from `route list`).
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RouteAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A name operators recognise, e.g. tokyo-critical.
    #[arg(long)]
    pub name: String,
    /// Channel names, comma-separated or repeated.
    #[arg(long = "channel", value_delimiter = ',', required = true)]
    pub channels: Vec<String>,
    /// Only incidents of this severity or above (default warning).
    #[arg(long, value_enum)]
    pub min_severity: Option<Health>,
    /// Rule codes (e.g. reader_off,offline); none: every rule.
    #[arg(long = "rule", value_delimiter = ',')]
    pub rules: Vec<String>,
    /// 都道府県 (e.g. 東京都); none: everywhere.
    #[arg(long = "prefecture", value_delimiter = ',')]
    pub prefectures: Vec<String>,
    /// Site kinds; none: every kind.
    #[arg(long = "kind", value_enum, value_delimiter = ',')]
    pub kinds: Vec<SiteKind>,
    /// Only sites with (omakase) or without (none) the maintenance subscription.
    #[arg(long, value_enum)]
    pub maintenance: Option<Maintenance>,
}

fn jst(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%m/%d %H:%M:%S").to_string()
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.into()))?
    );
    Ok(())
}

pub async fn channel(cmd: ChannelCommand) -> Result<bool, Error> {
    let actor = actor();
    let by = Actor {
        actor: &actor,
        remote: "",
    };
    let mut ok = true;
    match cmd {
        ChannelCommand::Add(a) => {
            let valid = NewChannel {
                name: a.name,
                kind: Some(a.kind),
                min_severity: a.min_severity,
                url: a.url,
                secret: a.secret,
                smtp_url: a.smtp_url,
                from: a.from,
                to: a.to,
                group_seconds: a.group_seconds,
                repeat_minutes: a.repeat_minutes,
                max_attempts: a.max_attempts,
                timeout_seconds: a.timeout_seconds,
            }
            .validate()?;
            let db = pool(&a.db).await?;
            channel::create(&db.pool, &valid, by).await?;
            println!(
                "チャネル {} を登録しました（{}）",
                valid.name,
                valid.kind.label_ja()
            );
            println!("確認: onshi-server channel test --name {}", valid.name);
            finish(db).await;
        }
        ChannelCommand::List { db, format } => {
            let db = pool(&db).await?;
            let channels = channel::list(&mut *db.pool.acquire().await?).await?;
            match format {
                Format::Json => print_json(&channels)?,
                Format::Text if channels.is_empty() => {
                    println!("チャネルはありません（channel add で登録）")
                }
                Format::Text => {
                    println!("名前\t種類\t最低重大度\t集約(秒)\t再通知(分)\t送信先");
                    for c in &channels {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            c.name,
                            c.kind.as_str(),
                            c.min_severity.as_str(),
                            c.group_seconds,
                            c.repeat_minutes,
                            c.destination()
                        );
                    }
                }
            }
            finish(db).await;
        }
        ChannelCommand::Remove { db, name } => {
            let db = pool(&db).await?;
            channel::remove(&db.pool, &name, by).await?;
            println!("チャネル {name} を削除しました");
            finish(db).await;
        }
        ChannelCommand::Test { db, name } => {
            let db = pool(&db).await?;
            let result = super::test_channel(&db.pool, &name, by, Utc::now()).await?;
            match &result.outcome {
                Ok(reply) => println!("送信しました（通知 {}、応答: {reply}）", result.delivery_id),
                Err(why) => {
                    eprintln!("送信できませんでした（通知 {}）: {why}", result.delivery_id);
                    ok = false;
                }
            }
            finish(db).await;
        }
        ChannelCommand::Deliveries {
            db,
            state,
            channel,
            limit,
            format,
        } => {
            let db = pool(&db).await?;
            let list = deliveries::list(
                &mut *db.pool.acquire().await?,
                &Filter {
                    state,
                    channel,
                    limit: Some(limit),
                },
            )
            .await?;
            match format {
                Format::Json => print_json(&list)?,
                Format::Text if list.is_empty() => println!("該当する通知はありません"),
                Format::Text => {
                    println!("ID\t状態\tチャネル\t種類\t試行\t作成\t件名\tエラー");
                    for d in &list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}/{}\t{}\t{}\t{}",
                            d.delivery_id,
                            d.state.as_str(),
                            d.channel_name,
                            d.kind.as_str(),
                            d.attempts,
                            d.max_attempts,
                            jst(d.created_at),
                            d.subject,
                            d.last_error.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            finish(db).await;
        }
        ChannelCommand::Retry {
            db,
            delivery,
            channel,
        } => {
            let target = match (delivery, channel) {
                (Some(id), _) => RetryTarget::One(id),
                (None, Some(name)) => RetryTarget::DeadOf(name),
                (None, None) => {
                    return Err(Error::InvalidArgument(
                        "--delivery ID か --channel NAME を指定してください".into(),
                    ));
                }
            };
            let db = pool(&db).await?;
            let n = deliveries::retry(&db.pool, &target, by, Utc::now()).await?;
            println!("{n} 件を再送待ちにしました（同じ Idempotency-Key で送ります）");
            finish(db).await;
        }
    }
    Ok(ok)
}

pub async fn route(cmd: RouteCommand) -> Result<(), Error> {
    let actor = actor();
    let by = Actor {
        actor: &actor,
        remote: "",
    };
    match cmd {
        RouteCommand::Add(a) => {
            let route = NewRoute {
                name: a.name,
                channels: a.channels,
                min_severity: a.min_severity,
                rules: a.rules,
                prefectures: a.prefectures,
                kinds: a.kinds,
                maintenance: a.maintenance,
            }
            .validate()?;
            let db = pool(&a.db).await?;
            route::create(&db.pool, &route, by).await?;
            println!(
                "ルート {} を登録しました（送信先: {}）",
                route.name,
                route.channels.join(", ")
            );
            finish(db).await;
        }
        RouteCommand::List { db, format } => {
            let db = pool(&db).await?;
            let routes = route::list(&mut *db.pool.acquire().await?).await?;
            match format {
                Format::Json => print_json(&routes)?,
                Format::Text if routes.is_empty() => {
                    println!(
                        "ルートはありません（各チャネルは最低重大度以上のすべての障害を受け取ります）"
                    )
                }
                Format::Text => {
                    println!("名前\t最低重大度\tルール\t都道府県\t種別\t保守契約\t送信先");
                    let all = |v: Vec<String>| {
                        if v.is_empty() {
                            "すべて".to_owned()
                        } else {
                            v.join(",")
                        }
                    };
                    for r in &routes {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            r.name,
                            r.min_severity.as_str(),
                            all(r.rules.iter().map(|x| x.as_str().to_owned()).collect()),
                            all(r.prefectures.clone()),
                            all(r.kinds.iter().map(|k| k.as_str().to_owned()).collect()),
                            r.maintenance.map(|m| m.as_str()).unwrap_or("すべて"),
                            r.channels.join(",")
                        );
                    }
                }
            }
            finish(db).await;
        }
        RouteCommand::Remove { db, name } => {
            let db = pool(&db).await?;
            route::remove(&db.pool, &name, by).await?;
            println!("ルート {name} を削除しました");
            finish(db).await;
        }
    }
    Ok(())
}
