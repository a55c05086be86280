//! `onshi-server maker set|list|clear` and `onshi-server receipt-vendor add|list|remove`: the
//! desks administrators keep (the same checks and audit rows as /admin/makers and
//! /admin/receipt-vendors).

use clap::{Args, Subcommand};

use super::directory::{DeskEntry, DeskInput};
use super::vendors::Saved;
use super::{makers, vendors};
use crate::cli::DbArgs;
use crate::commands::{actor, finish, pool};
use crate::desk::cli::Format;
use crate::error::Error;
use crate::sites::{Actor, ReaderMaker};

/// Reception hours per kind of day, as bands (`09:00-12:00,13:00-17:00`); none given means
/// "not recorded".
#[derive(Debug, Clone, Default, Args)]
pub struct HoursArgs {
    /// 平日 (Mon–Fri that is not a national holiday), e.g. 09:00-17:00.
    #[arg(long)]
    pub weekday: Option<String>,
    /// Saturdays.
    #[arg(long)]
    pub saturday: Option<String>,
    /// Sundays.
    #[arg(long)]
    pub sunday: Option<String>,
    /// National holidays.
    #[arg(long)]
    pub holiday: Option<String>,
    /// 年末年始 closure: dec29-jan3 or dec29-jan4 (none when absent).
    #[arg(long)]
    pub year_end: Option<String>,
}

/// `maker set`.
#[derive(Debug, Clone, Args)]
pub struct MakerSetArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The reader maker.
    #[arg(long, value_enum)]
    pub maker: ReaderMaker,
    /// The desk's name as drafts show it.
    #[arg(long)]
    pub name: Option<String>,
    /// Phone number(s), comma separated.
    #[arg(long)]
    pub phone: Option<String>,
    /// The desk's mail address.
    #[arg(long)]
    pub mail: Option<String>,
    /// URL of the maker's support / repair form.
    #[arg(long)]
    pub web_form: Option<String>,
    #[command(flatten)]
    pub hours: HoursArgs,
    /// A note for operators (shown on the admin page).
    #[arg(long)]
    pub note: Option<String>,
}

/// `receipt-vendor add`.
#[derive(Debug, Clone, Args)]
pub struct VendorAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The vendor's name as sites record it (「レセコン業者」).
    #[arg(long)]
    pub name: String,
    /// Phone number(s), comma separated.
    #[arg(long)]
    pub phone: Option<String>,
    /// The desk's mail address.
    #[arg(long)]
    pub mail: Option<String>,
    /// URL of the vendor's support page or form.
    #[arg(long)]
    pub web: Option<String>,
    #[command(flatten)]
    pub hours: HoursArgs,
    /// A note for operators (shown on the admin page).
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MakerCommand {
    /// Register or replace a reader maker's desk (at least one of --phone, --mail, --web-form).
    Set(Box<MakerSetArgs>),
    /// Every maker and its desk, 未登録 when none.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove a maker's desk (back to 未登録).
    Clear {
        #[command(flatten)]
        db: DbArgs,
        /// The reader maker.
        #[arg(long, value_enum)]
        maker: ReaderMaker,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiptVendorCommand {
    /// Add a receipt-system vendor's desk, or replace the one with the same name.
    Add(Box<VendorAddArgs>),
    /// Every vendor in the directory.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove a vendor by name.
    Remove {
        #[command(flatten)]
        db: DbArgs,
        /// The vendor's name (any case).
        #[arg(long)]
        name: String,
    },
}

fn input(
    name: String,
    phone: Option<String>,
    mail: Option<String>,
    web: Option<String>,
    h: HoursArgs,
    note: Option<String>,
) -> DeskInput {
    DeskInput {
        name,
        phone: phone.unwrap_or_default(),
        mail: mail.unwrap_or_default(),
        web: web.unwrap_or_default(),
        weekday: h.weekday.unwrap_or_default(),
        saturday: h.saturday.unwrap_or_default(),
        sunday: h.sunday.unwrap_or_default(),
        holiday: h.holiday.unwrap_or_default(),
        year_end: h.year_end.unwrap_or_default(),
        note: note.unwrap_or_default(),
    }
}

fn entry_line(e: &DeskEntry) -> String {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        or_dash(&e.name),
        or_dash(&e.phone),
        or_dash(&e.mail),
        or_dash(&e.web),
        e.hours_ja()
    )
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
    );
    Ok(())
}

pub async fn maker(cmd: MakerCommand) -> Result<(), Error> {
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    match cmd {
        MakerCommand::Set(a) => {
            let MakerSetArgs {
                db,
                maker,
                name,
                phone,
                mail,
                web_form,
                hours,
                note,
            } = *a;
            let desk = input(name.unwrap_or_default(), phone, mail, web_form, hours, note);
            let database = pool(&db).await?;
            let done = async {
                let mut tx = database.pool.begin().await?;
                let entry = makers::set(&mut tx, maker, &desk, by).await?;
                tx.commit().await?;
                Ok::<_, Error>(entry)
            }
            .await;
            finish(database).await;
            let entry = done?;
            println!(
                "{} の窓口を登録しました: {}",
                maker.name_ja(),
                entry_line(&entry)
            );
        }
        MakerCommand::List { db, format } => {
            let database = pool(&db).await?;
            let mut conn = database.pool.acquire().await?;
            let rows = makers::list(&mut conn).await;
            drop(conn);
            finish(database).await;
            let rows = rows?;
            match format {
                Format::Json => print_json(&rows)?,
                Format::Text => {
                    println!("メーカー\t窓口名\t電話\tメール\tweb フォーム\t受付時間");
                    for r in rows {
                        match r.desk {
                            Some(d) => println!("{}\t{}", r.maker.name_ja(), entry_line(&d.entry)),
                            None => println!("{}\t未登録", r.maker.name_ja()),
                        }
                    }
                }
            }
        }
        MakerCommand::Clear { db, maker } => {
            let database = pool(&db).await?;
            let done = async {
                let mut tx = database.pool.begin().await?;
                makers::clear(&mut tx, maker, by).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            }
            .await;
            finish(database).await;
            done?;
            println!("{} の窓口を削除しました（未登録）", maker.name_ja());
        }
    }
    Ok(())
}

pub async fn receipt_vendor(cmd: ReceiptVendorCommand) -> Result<(), Error> {
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    match cmd {
        ReceiptVendorCommand::Add(a) => {
            let VendorAddArgs {
                db,
                name,
                phone,
                mail,
                web,
                hours,
                note,
            } = *a;
            let desk = input(name.clone(), phone, mail, web, hours, note);
            let database = pool(&db).await?;
            let done = async {
                let mut tx = database.pool.begin().await?;
                let saved = vendors::save(&mut tx, &desk, by).await?;
                tx.commit().await?;
                Ok::<_, Error>(saved)
            }
            .await;
            finish(database).await;
            match done? {
                Saved::Added(id) => {
                    println!("レセコン業者「{}」を登録しました（ID {id}）", name.trim())
                }
                Saved::Replaced(id) => {
                    println!("レセコン業者「{}」を更新しました（ID {id}）", name.trim())
                }
            }
        }
        ReceiptVendorCommand::List { db, format } => {
            let database = pool(&db).await?;
            let mut conn = database.pool.acquire().await?;
            let list = vendors::list(&mut conn).await;
            drop(conn);
            finish(database).await;
            let list = list?;
            match format {
                Format::Json => print_json(&list)?,
                Format::Text if list.is_empty() => println!("登録されたレセコン業者はありません"),
                Format::Text => {
                    println!("ID\t業者名\t電話\tメール\tweb\t受付時間");
                    for v in list {
                        println!("{}\t{}", v.vendor_id, entry_line(&v.entry));
                    }
                }
            }
        }
        ReceiptVendorCommand::Remove { db, name } => {
            let database = pool(&db).await?;
            let done = async {
                let mut tx = database.pool.begin().await?;
                vendors::remove(&mut tx, &name, by).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            }
            .await;
            finish(database).await;
            done?;
            println!("レセコン業者「{}」を削除しました", name.trim());
        }
    }
    Ok(())
}
