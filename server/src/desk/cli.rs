//! `onshi-server desk route|hours|holidays` — the CLI contract of issue 5.
//!
//! The binary mounts [`DeskCommand`] as a subcommand and calls [`run`]; it maps an error to
//! its exit status with [`DeskCliError::exit_code`] (2 for bad or contradictory options, like
//! clap's own usage errors; 1 when writing the output fails).

use std::io::Write;

use chrono::{DateTime, FixedOffset, Utc};

use super::calendar::{self, FIRST_YEAR, LAST_YEAR};
use super::directory::DeskId;
use super::hours::JST;
use super::query::{Maintenance, Part, ReaderMaker, RouteQuery, RouterModel, SiteContacts};
use super::routing::{RouteError, route};
use super::status::desk_status;
use super::text;

/// `desk` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeskCommand {
    /// Which desk to call for a fault or question, whether it is open, and what to have ready.
    Route(RouteArgs),
    /// Whether a desk is open at an instant, until when, or when it next opens and why not.
    Hours(HoursArgs),
    /// Japanese national holidays, one per line: YYYY-MM-DD<TAB>name.
    Holidays(HolidaysArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Japanese, for a person.
    Text,
    /// JSON, for scripts (fields as in the HTTP API).
    Json,
}

/// `desk route`.
#[derive(Debug, Clone, clap::Args)]
pub struct RouteArgs {
    /// The part the fault or question is about.
    #[arg(long, value_enum)]
    pub part: Part,
    /// Router model (required with --part router).
    #[arg(long, value_enum, ignore_case = true)]
    pub router_model: Option<RouterModel>,
    /// Face-auth card reader maker (required with --part card-reader).
    #[arg(long, value_enum, ignore_case = true)]
    pub reader_maker: Option<ReaderMaker>,
    /// Maintenance subscription of the site.
    #[arg(long, value_enum, default_value_t = Maintenance::None)]
    pub maintenance: Maintenance,
    /// Serial number of the failed unit (a router's must start with S/NA or SER.).
    #[arg(long)]
    pub serial: Option<String>,
    /// The instant to answer for, RFC 3339 (e.g. 2026-05-01T09:00:00+09:00); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<DateTime<FixedOffset>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `desk hours`.
#[derive(Debug, Clone, clap::Args)]
pub struct HoursArgs {
    /// Desk id as in domain.md §4.
    #[arg(long, value_enum)]
    pub desk: DeskId,
    /// The instant to answer for, RFC 3339; default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<DateTime<FixedOffset>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `desk holidays`.
#[derive(Debug, Clone, clap::Args)]
pub struct HolidaysArgs {
    /// First year (1990–2099).
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(i64::from(FIRST_YEAR)..=i64::from(LAST_YEAR)))]
    pub from: i32,
    /// Last year (1990–2099), not before --from.
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(i64::from(FIRST_YEAR)..=i64::from(LAST_YEAR)))]
    pub to: i32,
}

/// A `desk` command that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum DeskCliError {
    /// Missing or contradictory options for routing: exit status 2.
    #[error("{0}")]
    Route(#[from] RouteError),
    /// `--from` after `--to`: exit status 2.
    #[error(
        "--from ({from}) は --to ({to}) 以前の年にしてください（指定できる年: {FIRST_YEAR}〜{LAST_YEAR}）"
    )]
    YearRange { from: i32, to: i32 },
    /// Writing the answer failed: exit status 1.
    #[error("出力できませんでした: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding the answer failed: exit status 1.
    #[error("JSON を出力できませんでした: {0}")]
    Json(#[from] serde_json::Error),
}

impl DeskCliError {
    /// The process exit status for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.is_usage() { 2 } else { 1 }
    }

    /// True for bad or contradictory options (the user can fix the command line).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DeskCliError::Route(_) | DeskCliError::YearRange { .. }
        )
    }
}

/// Parses `--at`: RFC 3339 with an offset (any offset; answers are given in +09:00).
pub fn parse_at(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        format!("RFC 3339 の日時を指定してください（例: 2026-05-01T09:00:00+09:00）: {e}")
    })
}

/// Runs a `desk` command, writing to `out`. Reads the clock only when `--at` is absent.
pub fn run(cmd: DeskCommand, out: &mut impl Write) -> Result<(), DeskCliError> {
    run_at(cmd, || Utc::now().with_timezone(&JST), out)
}

/// [`run`] with the clock passed in (`now` is called only when `--at` is absent).
pub fn run_at(
    cmd: DeskCommand,
    now: impl FnOnce() -> DateTime<FixedOffset>,
    out: &mut impl Write,
) -> Result<(), DeskCliError> {
    match cmd {
        DeskCommand::Route(args) => {
            let query = RouteQuery {
                part: args.part,
                router_model: args.router_model,
                reader_maker: args.reader_maker,
                maintenance: args.maintenance,
                serial: args.serial,
            };
            let answer = route(
                &query,
                &SiteContacts::default(),
                args.at.unwrap_or_else(now),
            )?;
            match args.format {
                Format::Json => write_json(out, &answer)?,
                Format::Text => out.write_all(text::route(&answer).as_bytes())?,
            }
        }
        DeskCommand::Hours(args) => {
            let status = desk_status(args.desk, args.at.unwrap_or_else(now));
            match args.format {
                Format::Json => write_json(out, &status)?,
                Format::Text => out.write_all(text::status(&status).as_bytes())?,
            }
        }
        DeskCommand::Holidays(args) => {
            if args.from > args.to {
                return Err(DeskCliError::YearRange {
                    from: args.from,
                    to: args.to,
                });
            }
            for year in args.from..=args.to {
                for (date, name) in calendar::holidays_in_year(year) {
                    writeln!(out, "{}\t{name}", date.format("%Y-%m-%d"))?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<(), DeskCliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests;
