//! The `onshi-server desk` CLI contract, through the real binary: JSON
//! fields, Japanese text, and exit status 2 with a message naming the option
//! and its allowed values for every usage error.

use std::process::{Command, Output};

fn desk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onshi-server"))
        .arg("desk")
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = desk(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn route_json_has_the_contract_fields() {
    // Saturday 2026-11-28 20:00 JST: Allied is closed (weekend), opens Monday 9:00.
    let v = json(&[
        "route",
        "--part",
        "router",
        "--router-model",
        "AT-AR1050V",
        "--at",
        "2026-11-28T20:00:00+09:00",
        "--format",
        "json",
    ]);
    for field in [
        "desk",
        "part_desk",
        "name",
        "contacts",
        "open",
        "closes_at",
        "next_open",
        "closed_reason",
        "prepare",
        "notes",
        "fallback",
    ] {
        assert!(v.get(field).is_some(), "missing {field} in {v}");
    }
    assert_eq!(v["desk"], "allied-router");
    assert_eq!(v["open"], false);
    assert_eq!(v["closed_reason"], "weekend");
    assert_eq!(v["next_open"], "2026-11-30T09:00:00+09:00");
    assert_eq!(v["closes_at"], "2026-11-30T17:30:00+09:00");
    assert!(
        v["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["value"] == "045-330-4846")
    );
    assert!(v["prepare"].to_string().contains("S/NA"));

    // A subscribed site calls omakase first; the part's desk is kept.
    let v = json(&[
        "route",
        "--part",
        "pc",
        "--maintenance",
        "omakase",
        "--at",
        "2026-11-30T10:00:00+09:00",
        "--format",
        "json",
    ]);
    assert_eq!(v["desk"], "omakase");
    assert_eq!(v["part_desk"], "lenovo-pc");

    // Holiday with its name: 2026-11-23 勤労感謝の日.
    let v = json(&[
        "hours",
        "--desk",
        "lenovo-pc",
        "--at",
        "2026-11-23T10:00:00+09:00",
        "--format",
        "json",
    ]);
    assert_eq!(v["closed_reason"], "holiday");
    assert_eq!(v["holiday"], "勤労感謝の日");
    assert_eq!(v["next_open"], "2026-11-24T09:00:00+09:00");

    // Around-the-clock desk: next_open and closes_at are null.
    let v = json(&[
        "hours",
        "--desk",
        "flets-113",
        "--at",
        "2026-01-01T03:00:00+09:00",
        "--format",
        "json",
    ]);
    assert_eq!(v["open"], true);
    assert!(v["next_open"].is_null() && v["closes_at"].is_null());
}

#[test]
fn route_text_is_japanese() {
    let out = desk(&[
        "route",
        "--part",
        "line",
        "--at",
        "2026-11-25T23:00:00+09:00",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0120-000-113"), "{text}");
    assert!(text.contains("受付"), "{text}");
}

#[test]
fn holidays_lists_tab_separated_lines() {
    let out = desk(&["holidays", "--from", "2026", "--to", "2026"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "2026-09-22\t国民の休日"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "2026-05-06\t振替休日"), "{text}");
    assert!(
        text.lines()
            .all(|l| l.len() > 11 && l.as_bytes()[10] == b'\t')
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_option() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["route", "--part", "router"],
            &["--router-model", "AT-AR1050V", "NVR700", "RTX830"],
        ),
        (
            &["route", "--part", "card-reader"],
            &["--reader-maker", "fujitsu"],
        ),
        (&["route", "--part", "toaster"], &["--part", "line"]),
        (&["route", "--part", "line", "--at", "yesterday"], &["--at"]),
        (
            &["route", "--part", "line", "--format", "xml"],
            &["--format", "json"],
        ),
        (
            &["route", "--part", "router", "--router-model", "XR500"],
            &["--router-model", "RTX830"],
        ),
        (
            &[
                "route",
                "--part",
                "router",
                "--router-model",
                "NVR700",
                "--serial",
                "S/NA1234",
            ],
            &["SER."],
        ),
        (&["route"], &["--part"]),
        (
            &[
                "hours",
                "--desk",
                "nope",
                "--at",
                "2026-11-25T10:00:00+09:00",
            ],
            &["--desk", "lenovo-pc"],
        ),
        (
            &["holidays", "--from", "2030", "--to", "2020"],
            &["--from", "--to"],
        ),
        (&["holidays", "--from", "1980", "--to", "1990"], &["1990"]),
    ];
    for (args, needles) in cases {
        let out = desk(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in *needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle:?} not in {stderr}"
            );
        }
    }
}
