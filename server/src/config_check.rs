//! `onshi-server config check`: validates the configuration the server would
//! run with (file, environment, defaults) using clap's own value parsers, and
//! prints the effective values with secrets masked.

use std::fmt::Write as _;

use crate::config_file::{Applied, ConfigOption, options};
use crate::db;

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    File,
    Default,
    Unset,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Environment => "environment",
            Source::File => "file",
            Source::Default => "default",
            Source::Unset => "unset",
        }
    }
}

/// The check's outcome: the text to print and the problems found.
pub struct Report {
    pub text: String,
    pub problems: Vec<String>,
}

/// Builds the report from the current environment (after the file was
/// applied). `root` is `Cli::command()`.
pub fn check(root: &clap::Command, applied: &Applied) -> Report {
    let mut text = String::new();
    match &applied.file {
        Some(file) => {
            let _ = writeln!(text, "# configuration file: {}", file.display());
        }
        None => {
            let _ = writeln!(text, "# configuration file: none (--config / ONSHI_CONFIG)");
        }
    }
    for option in options(root) {
        if option.key == "config" {
            continue;
        }
        let (value, source) = effective(&option, applied);
        let shown = match &value {
            Some(v) => format!("{:?}", mask(&option, v)),
            None => "unset".to_owned(),
        };
        let _ = writeln!(
            text,
            "{} = {shown}    # {} {}",
            option.key,
            option.env,
            source.label()
        );
    }
    let problems = validate(root);
    Report { text, problems }
}

fn effective(option: &ConfigOption, applied: &Applied) -> (Option<String>, Source) {
    match std::env::var(&option.env) {
        Ok(v) if applied.from_file.contains(&option.env) => (Some(v), Source::File),
        Ok(v) => (Some(v), Source::Environment),
        Err(_) => match &option.default {
            Some(d) => (Some(d.clone()), Source::Default),
            None => (None, Source::Unset),
        },
    }
}

/// Hides passwords in URLs and the values of secret-looking keys.
pub fn mask(option: &ConfigOption, value: &str) -> String {
    let key = option.key.as_str();
    if ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
    {
        return "***".to_owned();
    }
    if value.contains("://") {
        return db::redact(value);
    }
    value.to_owned()
}

/// Parses every leaf subcommand with only the environment as input (required
/// arguments relaxed), so each option's value meets its own clap parser.
fn validate(root: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    let mut leaves = Vec::new();
    leaf_paths(root, &mut Vec::new(), &mut leaves);
    for path in leaves {
        let mut cmd = relaxed(root.clone());
        let argv = std::iter::once(root.get_name().to_owned()).chain(path.iter().cloned());
        if let Err(e) = cmd.try_get_matches_from_mut(argv) {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
            if !problems.contains(&first) {
                problems.push(first);
            }
        }
    }
    if let Ok(url) = std::env::var("DATABASE_URL")
        && let Err(e) = url.parse::<sqlx::postgres::PgConnectOptions>()
    {
        problems.push(format!(
            "DATABASE_URL が不正です ({e}): postgres://USER:PASS@HOST:5432/DB の形で指定してください"
        ));
    }
    problems
}

fn leaf_paths(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if cmd.get_subcommands().next().is_none() {
        out.push(path.clone());
        return;
    }
    for sub in cmd.get_subcommands() {
        path.push(sub.get_name().to_owned());
        leaf_paths(sub, path, out);
        path.pop();
    }
}

fn relaxed(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut cmd = cmd
        .subcommand_required(false)
        .arg_required_else_help(false)
        .mut_args(|a| a.required(false));
    for name in names {
        cmd = cmd.mut_subcommand(name, relaxed);
    }
    cmd
}
