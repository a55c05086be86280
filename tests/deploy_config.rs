//! Configuration: docs/CONFIGURATION.md against the clap definitions (so the
//! two never drift), and the TOML file / `config check` through the real binary.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use clap::CommandFactory;
use onshi_server::cli::Cli;
use onshi_server::config_file::{self, FlagDoc};

const DOC: &str = "docs/CONFIGURATION.md";

fn cell(text: &str) -> String {
    format!("`{text}`")
}

fn first_line(help: &str) -> String {
    help.lines().next().unwrap_or_default().replace('|', "\\|")
}

/// The row the document must have for a flag: the part before the
/// description is compared, the description is free.
fn expected_row(flag: &FlagDoc) -> (String, String) {
    let default = flag
        .default
        .as_deref()
        .map(cell)
        .unwrap_or_else(|| "—".into());
    let prefix = match &flag.env {
        Some(env) => format!(
            "| {} | {} | {} | {} |",
            cell(&flag.flag),
            cell(env),
            cell(&flag.flag.trim_start_matches("--").replace('-', "_")),
            default
        ),
        None => format!(
            "| {} | {} | {} |",
            cell(&flag.command),
            cell(&flag.flag),
            default
        ),
    };
    let line = format!("{prefix} {} |", first_line(&flag.help));
    (prefix, line)
}

/// Rows of the two tables in the document: lines starting with "| `--" (the
/// options) or "| `<command>` | `--" (command arguments).
fn is_flag_row(line: &str) -> bool {
    let is_flag = |c: &str| c.starts_with("`--") && c.ends_with('`') && !c.contains(' ');
    line.starts_with("| `--") || line.split(" | ").nth(1).is_some_and(is_flag)
}

#[test]
fn configuration_reference_lists_every_flag() {
    let doc = std::fs::read_to_string(DOC).expect("docs/CONFIGURATION.md is missing");
    // One row per (flag, env, key, default): the same option appears under
    // many subcommands.
    let rows: BTreeMap<String, String> = config_file::flags(&Cli::command())
        .iter()
        .map(expected_row)
        .rev()
        .collect();
    let missing: Vec<&str> = rows
        .iter()
        .filter(|(prefix, _)| !doc.lines().any(|l| l.starts_with(prefix.as_str())))
        .map(|(_, line)| line.as_str())
        .collect();
    let stale: Vec<&str> = doc
        .lines()
        .filter(|l| is_flag_row(l))
        .filter(|l| {
            !rows
                .iter()
                .any(|(prefix, _)| l.starts_with(prefix.as_str()))
        })
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{DOC} does not match the clap definitions.\n\
         Add these lines (rows with an environment variable go in the table \"Options\", \
         the others in \"Command arguments\"; the last cell is free text):\n{}\n\
         Remove or correct these lines (no such flag, or its env/key/default changed):\n{}\n",
        missing.join("\n"),
        stale.join("\n")
    );
}

#[test]
fn one_key_means_one_environment_variable() {
    // The file sets a key's variable: two flags spelled alike but read from
    // different variables would make the key ambiguous.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for flag in config_file::flags(&Cli::command()) {
        let Some(env) = flag.env else { continue };
        let key = flag.flag.trim_start_matches("--").replace('-', "_");
        let first = seen.entry(key.clone()).or_insert_with(|| env.clone());
        assert_eq!(
            *first, env,
            "key `{key}` ({}) is read from both {first} and {env}: give the flags one variable",
            flag.flag
        );
    }
}

fn server(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(common::bin("onshi-server"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("ONSHI_CONFIG")
        .env("ONSHI_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_check_shows_file_values_masked_and_env_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(
        &file,
        "database_url = \"postgres://onshi:hunter2-secret@db.internal:5432/onshi\"\n\
         grpc_addr = \"0.0.0.0:50051\"\n\
         http_addr = \"0.0.0.0:8080\"\n\
         tls_san = [\"onshi.example.jp\", \"10.0.0.5\"]\n\
         behind_tls = true\n\
         retention_days = 45\n",
    )
    .unwrap();
    let out = server(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[("ONSHI_HTTP_ADDR", "127.0.0.1:9090")],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(!stdout.contains("hunter2"), "password shown: {stdout}");
    assert!(
        stdout.contains("postgres://onshi:***@db.internal:5432/onshi"),
        "{stdout}"
    );
    assert!(
        stdout.contains("grpc_addr = \"0.0.0.0:50051\"    # ONSHI_GRPC_ADDR file"),
        "{stdout}"
    );
    // The environment wins over the file.
    assert!(
        stdout.contains("http_addr = \"127.0.0.1:9090\"    # ONSHI_HTTP_ADDR environment"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tls_san = \"onshi.example.jp,10.0.0.5\""),
        "{stdout}"
    );
    assert!(stdout.contains("retention_days = \"45\""), "{stdout}");
    assert!(
        stdout.contains(
            "agent_batches_per_minute = \"30\"    # ONSHI_AGENT_BATCHES_PER_MINUTE default"
        ),
        "{stdout}"
    );
}

#[test]
fn unknown_key_is_refused_with_the_known_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(&file, "grpc_adr = \"0.0.0.0:50051\"\n").unwrap();
    let out = server(
        &["config", "check"],
        &[("ONSHI_CONFIG", file.to_str().unwrap())],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("不明なキー `grpc_adr`"), "{stderr}");
    assert!(stderr.contains("grpc_addr"), "{stderr}");
}

#[test]
fn invalid_value_from_the_file_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    std::fs::write(&file, "retention_days = \"thirty\"\n").unwrap();
    let out = server(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'thirty' for '--retention-days"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_file_configures_a_real_serve_with_json_logs_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.toml");
    // A flag on the command line wins over the file's (invalid) http_addr.
    std::fs::write(
        &file,
        "http_addr = \"256.0.0.1:1\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    let db = common::TestDb::new().await;
    let server = common::Server::start_with_args(
        &db.url,
        &[
            "--config",
            file.to_str().unwrap(),
            "--log-filter",
            "info,tower_http=debug",
        ],
    );
    let resp = reqwest::Client::new()
        .get(server.http("/healthz"))
        .header("x-request-id", "req-deploy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-deploy-42");
    assert!(
        server.wait_for_log("\"message\":\"configuration file applied\""),
        "{}",
        server.log_text()
    );
    assert!(
        server.wait_for_log("\"request_id\":\"req-deploy-42\""),
        "{}",
        server.log_text()
    );
    // Without a caller's id the server makes one and returns it.
    let resp = reqwest::get(server.http("/healthz")).await.unwrap();
    assert_eq!(resp.headers()["x-request-id"].len(), 36, "a UUID");
}
