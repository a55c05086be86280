//! A real SMTP server process for the tests: Python's aiosmtpd running
//! `tests/smtp/sink.py`, which writes every accepted message to a directory.
//! Received messages are decoded with mail-parser, as a mail client would
//! (RFC 2047 subject, base64 / quoted-printable UTF-8 body).
//!
//! aiosmtpd is installed by `.ci/run` (`pip install aiosmtpd`). Without it a
//! test skips with a message, except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the sink protects connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// No TLS offered.
    Plain,
    /// STARTTLS offered and required before MAIL.
    StartTls,
    /// TLS from the first byte.
    Smtps,
}

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub mode: SmtpMode,
    dir: tempfile::TempDir,
    /// The CA that signed the sink's certificate (TLS modes), PEM.
    pub ca_pem: Option<String>,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub authenticated: bool,
    pub raw: Vec<u8>,
}

impl Received {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .unwrap_or_else(|| panic!("unparsable message: {}", self.raw_text()))
    }

    /// The decoded subject.
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }

    /// The decoded text body.
    pub fn body(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default()
    }

    /// A header's raw value (e.g. `Message-ID`, `Content-Type`).
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().header_raw(name).map(|v| v.trim().to_owned())
    }

    /// The addresses of the `To:` header.
    pub fn to_header(&self) -> Vec<String> {
        let parsed = self.parsed();
        parsed
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|addr| addr.address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// Whether `python3` can import aiosmtpd; if not, panics in CI, else says
/// what to install and returns false (the caller skips).
pub fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "aiosmtpd missing in CI: python3 -m pip install aiosmtpd (.ci/run does)"
        );
        eprintln!("skipping: this test needs a local SMTP server: python3 -m pip install aiosmtpd");
    }
    ok
}

impl SmtpSink {
    /// A plain SMTP server, or `None` (skip) when aiosmtpd is missing outside CI.
    pub fn start() -> Option<Self> {
        Self::start_with(SmtpMode::Plain, None)
    }

    /// A server in `mode`, requiring `user:password` authentication if given.
    pub fn start_with(mode: SmtpMode, auth: Option<&str>) -> Option<Self> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let port = super::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &port.to_string()])
            .arg("--out")
            .arg(&out);
        let ca_pem = match mode {
            SmtpMode::Plain => None,
            SmtpMode::StartTls | SmtpMode::Smtps => {
                let (ca, cert, key) = certificates(dir.path());
                let name = if mode == SmtpMode::Smtps {
                    "smtps"
                } else {
                    "starttls"
                };
                cmd.args(["--mode", name])
                    .arg("--cert")
                    .arg(cert)
                    .arg("--key")
                    .arg(key);
                Some(ca)
            }
        };
        if let Some(auth) = auth {
            cmd.args(["--auth", auth]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let _ = child.kill();
            panic!("SMTP sink did not start: {line:?}");
        }
        Some(SmtpSink {
            child,
            port,
            mode,
            dir,
            ca_pem,
        })
    }

    /// The server's URL for `--smtp-url` / `mail::SmtpUrl` (host 127.0.0.1,
    /// which the TLS certificate names).
    pub fn url(&self) -> String {
        match self.mode {
            SmtpMode::Plain => format!("smtp://127.0.0.1:{}?tls=none", self.port),
            SmtpMode::StartTls => format!("smtp://127.0.0.1:{}?tls=required", self.port),
            SmtpMode::Smtps => format!("smtps://127.0.0.1:{}", self.port),
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| read_received(p)).collect()
    }

    /// Waits (up to 60 s) until at least `n` messages have arrived; returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} message(s) at the SMTP server, got {}",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes the sink's CA to a file (for `--smtp-ca-file`).
    pub fn ca_file(&self) -> PathBuf {
        let path = self.dir.path().join("smtp-ca.pem");
        std::fs::write(&path, self.ca_pem.as_deref().expect("a TLS sink")).unwrap();
        path
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_received(path: &Path) -> Received {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let data = v["data"].as_str().unwrap();
    Received {
        mail_from: v["mail_from"].as_str().unwrap_or_default().to_owned(),
        rcpt_tos: v["rcpt_tos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect(),
        tls: v["tls"].as_bool().unwrap(),
        authenticated: v["authenticated"].as_bool().unwrap_or(false),
        raw: base64_decode(data),
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    // Tiny standard-alphabet decoder: the only base64 the harness reads is
    // the sink's own output.
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64"),
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| value(c) as u32).collect();
        let n = v.iter().fold(0u32, |acc, x| acc << 6 | x) << (6 * (4 - v.len()));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..v.len()]);
    }
    out
}

/// A test CA and a server certificate for 127.0.0.1 / localhost signed by it:
/// returns (CA PEM, certificate file, key file).
fn certificates(dir: &Path) -> (String, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "onshi test SMTP CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("smtp-cert.pem");
    let key_path = dir.join("smtp-key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_cert.pem(), cert_path, key_path)
}
