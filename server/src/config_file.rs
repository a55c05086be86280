//! The optional TOML configuration file (`--config FILE` / `ONSHI_CONFIG`).
//!
//! One set of names: every option that has an environment variable has a key
//! in the file, its long flag with `-` turned into `_` (`--grpc-addr` →
//! `grpc_addr`). The file is applied before clap parses the command line, by
//! setting each key's environment variable when it is not already set, so the
//! order is flag > environment > file > default and the file needs no
//! knowledge of where the clap structs live: the keys come from walking
//! `Cli::command()`. A key that matches no option is refused with the list of
//! known keys (a typo must not silently fall back to a default).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::Error;

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "ONSHI_CONFIG";

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// TOML configuration file: one key per option below that has an
    /// environment variable (`grpc_addr = "0.0.0.0:50051"`). Flags and
    /// environment variables win over the file.
    #[arg(long = "config", env = CONFIG_ENV, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, environment, defaults) and print the
    /// effective values, secrets masked. Exit 1 when a value is invalid.
    Check,
}

/// One configurable option: a long flag with an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigOption {
    pub key: String,
    pub flag: String,
    pub env: String,
    /// Clap's default, as text; `None` when the option has none.
    pub default: Option<String>,
    pub help: String,
    /// Values may be given as a TOML array (joined with this delimiter).
    pub delimiter: Option<char>,
}

/// Every long flag of one (sub)command, for the configuration reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagDoc {
    /// Subcommand path, `""` for the global options.
    pub command: String,
    pub flag: String,
    pub env: Option<String>,
    pub default: Option<String>,
    pub help: String,
}

/// Walks the command tree: every long flag with its subcommand path.
pub fn flags(root: &clap::Command) -> Vec<FlagDoc> {
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<FlagDoc>) {
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") || (arg.is_global_set() && !path.is_empty()) {
            continue;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        out.push(FlagDoc {
            command: path.to_owned(),
            flag: format!("--{long}"),
            env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
            default: (!defaults.is_empty()).then(|| defaults.join(",")),
            help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        });
    }
    for sub in cmd.get_subcommands() {
        let sub_path = if path.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{path} {}", sub.get_name())
        };
        walk(sub, &sub_path, out);
    }
}

/// The options the file may set: flags with an environment variable, once
/// per key (the same option appears under many subcommands).
pub fn options(root: &clap::Command) -> Vec<ConfigOption> {
    let mut out: Vec<ConfigOption> = Vec::new();
    collect_options(root, &mut out);
    out
}

fn collect_options(cmd: &clap::Command, out: &mut Vec<ConfigOption>) {
    for arg in cmd.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let key = long.replace('-', "_");
        if out.iter().any(|o| o.key == key) {
            continue;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        out.push(ConfigOption {
            key,
            flag: format!("--{long}"),
            env: env.to_string_lossy().into_owned(),
            default: (!defaults.is_empty()).then(|| defaults.join(",")),
            help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
            delimiter: arg.get_value_delimiter(),
        });
    }
    for sub in cmd.get_subcommands() {
        collect_options(sub, out);
    }
}

/// The file named by `--config FILE` / `--config=FILE` on the command line,
/// else by `ONSHI_CONFIG`. Pure: the caller passes the environment value.
pub fn config_path(args: &[OsString], env: Option<OsString>) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    env.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Turns the file's text into (environment variable, value) pairs. Pure.
pub fn parse(
    text: &str,
    file: &Path,
    known: &[ConfigOption],
) -> Result<Vec<(String, String)>, Error> {
    let table: toml::Table = text.parse().map_err(|e| {
        Error::InvalidArgument(format!(
            "設定ファイル {} を読めません (TOML): {e}",
            file.display()
        ))
    })?;
    let mut pairs = Vec::new();
    for (key, value) in &table {
        let option = known.iter().find(|o| &o.key == key).ok_or_else(|| {
            let keys: Vec<&str> = known
                .iter()
                .map(|o| o.key.as_str())
                .filter(|k| *k != "config")
                .collect();
            Error::InvalidArgument(format!(
                "設定ファイル {}: 不明なキー `{key}` です。使えるキー: {} (docs/CONFIGURATION.md)",
                file.display(),
                keys.join(", ")
            ))
        })?;
        if option.key == "config" {
            return Err(Error::InvalidArgument(format!(
                "設定ファイル {}: `config` はファイルの中では指定できません",
                file.display()
            )));
        }
        pairs.push((option.env.clone(), env_value(option, value, file)?));
    }
    Ok(pairs)
}

fn env_value(option: &ConfigOption, value: &toml::Value, file: &Path) -> Result<String, Error> {
    let bad = |what: &str| {
        Error::InvalidArgument(format!(
            "設定ファイル {}: `{}` の値が不正です ({what})",
            file.display(),
            option.key
        ))
    };
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => {
            let delimiter = option
                .delimiter
                .ok_or_else(|| bad("配列は使えません: 値を一つ書いてください"))?;
            let parts: Result<Vec<String>, Error> = items
                .iter()
                .map(|item| match item {
                    toml::Value::Array(_) | toml::Value::Table(_) => Err(bad("入れ子の配列")),
                    other => env_value(option, other, file),
                })
                .collect();
            Ok(parts?.join(&delimiter.to_string()))
        }
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Table(_) => Err(bad(
            "表 ([section]) は使えません: キーはすべて最上位に書いてください",
        )),
    }
}

/// What the file contributed: its path and the environment variables it set.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub file: Option<PathBuf>,
    /// Environment variables set from the file (those already set were kept).
    pub from_file: Vec<String>,
}

/// Reads the configuration file named on the command line or in
/// `ONSHI_CONFIG` and sets the environment variable of every key that is not
/// already set.
///
/// Must run before any other thread starts (it calls `set_var`): `main`
/// calls it first, before the async runtime exists.
pub fn apply(root: &clap::Command, args: &[OsString]) -> Result<Applied, Error> {
    let Some(file) = config_path(args, std::env::var_os(CONFIG_ENV)) else {
        return Ok(Applied::default());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::InvalidArgument(format!(
            "設定ファイル {} を開けません: {e}. パスと権限を確認してください",
            file.display()
        ))
    })?;
    let pairs = parse(&text, &file, &options(root))?;
    let mut from_file = Vec::new();
    for (env, value) in pairs {
        if std::env::var_os(&env).is_some() {
            continue;
        }
        // SAFETY: called from `main` before the runtime or any other thread
        // exists, so no thread can read the environment concurrently.
        unsafe { std::env::set_var(&env, value) };
        from_file.push(env);
    }
    Ok(Applied {
        file: Some(file),
        from_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn config_path_from_flag_equals_form_or_env_in_that_order() {
        let env = Some(OsString::from("/env.toml"));
        let flag = os(&["onshi-server", "serve", "--config", "/a.toml"]);
        assert_eq!(config_path(&flag, env.clone()), Some("/a.toml".into()));
        let equals = os(&["onshi-server", "--config=/b.toml", "serve"]);
        assert_eq!(config_path(&equals, env.clone()), Some("/b.toml".into()));
        let none = os(&["onshi-server", "serve", "--", "--config", "/c.toml"]);
        assert_eq!(config_path(&none, env), Some("/env.toml".into()));
        assert_eq!(config_path(&none, Some(OsString::new())), None);
    }

    #[test]
    fn values_become_environment_strings() {
        let known = options(&crate::cli::Cli::command());
        let pairs = parse(
            "tls_san = [\"a.example\", \"10.0.0.1\"]\nbehind_tls = true\nretention_days = 7\n",
            Path::new("t.toml"),
            &known,
        )
        .unwrap();
        assert!(pairs.contains(&("ONSHI_TLS_SAN".into(), "a.example,10.0.0.1".into())));
        assert!(pairs.contains(&("ONSHI_BEHIND_TLS".into(), "true".into())));
        assert!(pairs.contains(&("ONSHI_RETENTION_DAYS".into(), "7".into())));
    }

    #[test]
    fn arrays_tables_unknown_keys_and_config_itself_are_refused() {
        let known = options(&crate::cli::Cli::command());
        let file = Path::new("t.toml");
        for text in [
            "grpc_addr = [\"a\", \"b\"]",
            "[serve]\ngrpc_addr = \"x\"",
            "grpc_adr = \"x\"",
            "config = \"/other.toml\"",
            "not toml",
        ] {
            assert!(parse(text, file, &known).is_err(), "{text}");
        }
    }
}
