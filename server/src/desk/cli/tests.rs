//! Every error case of the CLI contract exits 2 and names the option and its allowed values;
//! the outputs are checked line by line.

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
#[command(name = "desk")]
struct TestCli {
    #[command(subcommand)]
    cmd: DeskCommand,
}

fn fixed_now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-05-08T10:00:00+09:00").unwrap()
}

/// Parses and runs `args`; Ok(stdout) or Err((exit status, message)).
fn cli(args: &[&str]) -> Result<String, (i32, String)> {
    let parsed = TestCli::try_parse_from(std::iter::once("desk").chain(args.iter().copied()))
        .map_err(|e| (e.exit_code(), e.to_string()))?;
    let mut out = Vec::new();
    run_at(parsed.cmd, fixed_now, &mut out).map_err(|e| (e.exit_code(), e.to_string()))?;
    Ok(String::from_utf8(out).unwrap())
}

#[track_caller]
fn usage_error(args: &[&str], must_mention: &[&str]) {
    let (code, msg) = cli(args).expect_err("should fail");
    assert_eq!(code, 2, "{args:?}: {msg}");
    for needle in must_mention {
        assert!(msg.contains(needle), "{args:?}: {needle:?} not in {msg}");
    }
}

#[test]
fn router_without_model_exits_2_naming_the_option_and_values() {
    usage_error(
        &["route", "--part", "router"],
        &["--router-model", "AT-AR1050V", "NVR700", "RTX830"],
    );
}

#[test]
fn card_reader_without_maker_exits_2() {
    usage_error(
        &["route", "--part", "card-reader"],
        &[
            "--reader-maker",
            "fujitsu",
            "panasonic",
            "atlus",
            "almex",
            "canon",
        ],
    );
}

#[test]
fn unknown_or_missing_values_exit_2() {
    usage_error(
        &["route", "--part", "modem"],
        &["--part", "line", "billing-other"],
    );
    usage_error(&["route"], &["--part"]);
    usage_error(
        &["route", "--part", "router", "--router-model", "RTX1200"],
        &["--router-model", "RTX830"],
    );
    usage_error(
        &["route", "--part", "card-reader", "--reader-maker", "sony"],
        &["--reader-maker", "canon"],
    );
    usage_error(
        &["route", "--part", "pc", "--maintenance", "gold"],
        &["--maintenance", "omakase"],
    );
    usage_error(
        &["route", "--part", "pc", "--format", "xml"],
        &["--format", "json"],
    );
    usage_error(&["hours", "--desk", "nowhere"], &["--desk", "ssk-other"]);
}

#[test]
fn unparseable_time_exits_2() {
    usage_error(
        &["route", "--part", "line", "--at", "tomorrow"],
        &["--at", "RFC 3339"],
    );
    usage_error(
        &["route", "--part", "line", "--at", "2026-05-08 10:00"],
        &["--at"],
    );
    usage_error(
        &[
            "hours",
            "--desk",
            "flets-113",
            "--at",
            "2026-02-30T10:00:00+09:00",
        ],
        &["--at"],
    );
}

#[test]
fn wrong_router_serial_exits_2_and_says_where_it_is_printed() {
    usage_error(
        &[
            "route",
            "--part",
            "router",
            "--router-model",
            "AT-AR1050V",
            "--serial",
            "SER.123",
        ],
        &["--serial", "本体に記載", "S/NA"],
    );
}

#[test]
fn holiday_years_are_checked() {
    usage_error(
        &["holidays", "--from", "2030", "--to", "2020"],
        &["--from", "--to", "1990", "2099"],
    );
    usage_error(
        &["holidays", "--from", "1989", "--to", "2020"],
        &["--from", "1990", "2099"],
    );
    usage_error(
        &["holidays", "--from", "2020", "--to", "2100"],
        &["--to", "1990", "2099"],
    );
    usage_error(&["holidays", "--from", "2020"], &["--to"]);
    usage_error(
        &["holidays", "--from", "twenty", "--to", "2020"],
        &["--from"],
    );
}

#[test]
fn holidays_prints_tab_separated_lines() {
    let out = cli(&["holidays", "--from", "2026", "--to", "2026"]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 18);
    assert_eq!(lines[0], "2026-01-01\t元日");
    assert!(lines.contains(&"2026-05-06\t振替休日"));
    assert!(lines.contains(&"2026-09-22\t国民の休日"));
    assert_eq!(lines[17], "2026-11-23\t勤労感謝の日");
    let two = cli(&["holidays", "--from", "2019", "--to", "2020"]).unwrap();
    assert_eq!(two.lines().count(), 22 + 18);
    let whole = cli(&["holidays", "--from", "1990", "--to", "2099"]).unwrap();
    assert_eq!(whole.lines().count(), 1936);
}

#[test]
fn hours_json_has_the_contract_fields() {
    let out = cli(&[
        "hours",
        "--desk",
        "ssk-network",
        "--at",
        "2026-06-08T23:59:00+09:00",
        "--format",
        "json",
    ])
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["desk"], "ssk-network");
    assert_eq!(v["open"], true);
    assert_eq!(v["closes_at"], "2026-06-09T00:00:00+09:00");
    assert_eq!(v["next_open"], "2026-06-08T23:59:00+09:00");
    assert_eq!(v["closed_reason"], serde_json::Value::Null);

    let out = cli(&[
        "hours",
        "--desk",
        "lenovo-pc",
        "--at",
        "2026-05-04T10:00:00+09:00",
        "--format",
        "json",
    ])
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["closed_reason"], "holiday");
    assert_eq!(v["holiday"], "みどりの日");
    assert_eq!(v["next_open"], "2026-05-07T09:00:00+09:00");
}

#[test]
fn hours_text_is_japanese() {
    let out = cli(&[
        "hours",
        "--desk",
        "yamaha-router",
        "--at",
        "2027-01-04T10:00:00+09:00",
    ])
    .unwrap();
    assert!(out.contains("年末年始休み"), "{out}");
    assert!(
        out.contains("次の受付開始: 2027-01-05(火) 09:00（2027-01-05(火) 17:00 まで）"),
        "{out}"
    );
    let out = cli(&["hours", "--desk", "flets-113"]).unwrap();
    assert!(out.contains("受付中（24時間受付）"), "{out}");
    assert!(
        out.contains("2026-05-08(金) 10:00 時点"),
        "without --at the clock is used: {out}"
    );
}

#[test]
fn route_text_and_json() {
    let args = [
        "route",
        "--part",
        "router",
        "--router-model",
        "at-ar1050v",
        "--at",
        "2026-05-09T10:00:00+09:00",
    ];
    let out = cli(&args).unwrap();
    assert!(out.contains("【連絡先】アライドテレシス"), "{out}");
    assert!(out.contains("電話: 045-330-4846"), "{out}");
    assert!(out.contains("土日のため休み"), "{out}");
    assert!(out.contains("次の受付開始: 2026-05-11(月) 09:00"), "{out}");
    assert!(
        out.contains("【今つながる窓口】オンライン資格確認等コールセンター [onshi-call-center]"),
        "{out}"
    );
    assert!(out.contains("「S/NA」から始まる番号"), "{out}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json", "--maintenance", "omakase"]);
    let v: serde_json::Value = serde_json::from_str(&cli(&json_args).unwrap()).unwrap();
    assert_eq!(v["desk"], "omakase");
    assert_eq!(v["part_desk"], "allied-router");
    assert_eq!(v["closed_reason"], "no_published_hours");
    assert_eq!(v["fallback"], "onshi-call-center");
}

#[test]
fn exit_codes_of_each_error_kind() {
    assert_eq!(
        DeskCliError::Route(RouteError::MissingRouterModel).exit_code(),
        2
    );
    assert_eq!(DeskCliError::YearRange { from: 2, to: 1 }.exit_code(), 2);
    let io = std::io::Error::other("closed pipe");
    assert_eq!(DeskCliError::Io(io).exit_code(), 1);
}
