use std::collections::BTreeMap;

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn run_args(argv: &[&str]) -> RunArgs {
    let mut full = vec!["onshi-agent", "run"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Run(a) => a,
        other => panic!("not run: {other:?}"),
    }
}

#[test]
fn missing_default_file_is_fine_but_missing_explicit_file_is_not() {
    assert!(load(Some(Path::new("/nonexistent/agent.toml"))).is_err());
}

#[test]
fn flag_beats_file_beats_default() {
    let file = parse(
        "server = \"https://file:50051\"\nsite_id = \"from-file\"\ninterval = 30\nmax_backoff = 7\nprobe_timeout = 2\nstate_dir = \"/srv/onshi\"",
    )
    .unwrap();
    let c = resolve(&run_args(&["--site-id", "from-flag"]), &file).unwrap();
    assert_eq!(c.site_id, "from-flag");
    assert_eq!(c.server.url, "https://file:50051");
    assert_eq!(c.interval, Duration::from_secs(30));
    assert_eq!(c.max_backoff, Duration::from_secs(7));
    assert_eq!(c.probe.timeout, Duration::from_secs(2));
    assert_eq!(c.state_dir, Path::new("/srv/onshi"));
    assert_eq!(c.server.state_dir, c.state_dir, "one state directory");
    assert_eq!(c.mode, Mode::Service);

    let c = resolve(
        &run_args(&["--interval", "5", "--max-backoff", "2", "--once"]),
        &file,
    )
    .unwrap();
    assert_eq!(c.interval, Duration::from_secs(5));
    assert_eq!(c.max_backoff, Duration::from_secs(2));
    assert_eq!(c.mode, Mode::Once { max_attempts: 5 });

    let bare = parse("server = \"https://s:1\"\nsite_id = \"x\"").unwrap();
    let c = resolve(&run_args(&[]), &bare).unwrap();
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.max_backoff, Duration::from_secs_f64(DEFAULT_MAX_BACKOFF));
    assert_eq!(c.probe.timeout, Duration::from_secs(3));
}

#[test]
fn missing_server_or_site_and_bad_numbers_are_errors_that_say_what_to_do() {
    let none = FileConfig::default();
    let err = resolve(&run_args(&["--site-id", "s"]), &none).unwrap_err();
    assert!(format!("{err:#}").contains("--server"), "{err:#}");
    let err = resolve(&run_args(&["--server", "https://s:1"]), &none).unwrap_err();
    assert!(format!("{err:#}").contains("--site-id"), "{err:#}");
    let base = ["--server", "https://s:1", "--site-id", "s"];
    for bad in [
        ["--interval", "0"],
        ["--interval", "NaN"],
        ["--max-backoff=-1", "--once"],
    ] {
        let mut argv = base.to_vec();
        argv.extend_from_slice(&bad);
        assert!(resolve(&run_args(&argv), &none).is_err(), "{bad:?}");
    }
}

#[test]
fn enroll_and_run_share_the_default_state_dir() {
    let none = FileConfig::default();
    let Command::Enroll(e) = Cli::try_parse_from([
        "onshi-agent",
        "enroll",
        "--server",
        "https://s:1",
        "--token",
        " t ",
    ])
    .unwrap()
    .command
    else {
        panic!("not enroll")
    };
    let e = resolve_enroll(&e, &none).unwrap();
    let r = resolve(
        &run_args(&["--server", "https://s:1", "--site-id", "s"]),
        &none,
    )
    .unwrap();
    assert_eq!(e.state_dir, r.state_dir);
    assert_eq!(e.state_dir, default_state_dir());
    assert_eq!(e.token, "t");
}

#[test]
fn file_targets_join_flag_targets() {
    let cli = vec![("router".to_owned(), "10.0.0.1:80".to_owned())];
    let file = BTreeMap::from([
        ("router".to_owned(), "10.9.9.9:80".to_owned()),
        ("vpn".to_owned(), "10.0.0.2:443".to_owned()),
    ]);
    assert_eq!(
        merge_targets(&cli, &file),
        [
            ("router".into(), "10.0.0.1:80".into()),
            ("vpn".into(), "10.0.0.2:443".into())
        ]
    );
}
