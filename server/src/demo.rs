//! `onshi-server demo`: the real server plus a simulated fleet of agents that
//! report over real gRPC/TLS, so a new user sees a living portal at once.

use std::time::Duration;

use chrono::Utc;
use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use rand::Rng;
use sqlx::PgPool;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::cli::DemoArgs;
use crate::error::Error;
use crate::serve;
use crate::sites::profile::PREFECTURES;
use crate::sites::{Maintenance, ReaderMaker, RouterModel, SiteInput, SiteKind};

const MAKERS: [Option<ReaderMaker>; 6] = [
    Some(ReaderMaker::Fujitsu),
    Some(ReaderMaker::Panasonic),
    Some(ReaderMaker::Atlus),
    Some(ReaderMaker::Almex),
    Some(ReaderMaker::Canon),
    None,
];

/// First parts of the demo sites' names: family names and the names clinics take.
const DEMO_NAMES: [&str; 20] = [
    "山田",
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "さくら",
    "渡辺",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山本",
    "ひまわり",
    "松本",
    "井上",
    "木村",
    "あおば",
    "清水",
    "みどり",
    "山口",
];
/// What a clinic is, after its first part.
const DEMO_CLINICS: [&str; 10] = [
    "内科クリニック",
    "医院",
    "整形外科",
    "眼科",
    "小児科クリニック",
    "皮膚科",
    "耳鼻咽喉科",
    "歯科医院",
    "内科",
    "ファミリークリニック",
];

/// Silence (minutes, while open) after which the demo raises `offline`.
const DEMO_OFFLINE_MINUTES: u32 = 2;

/// A simulated site: its profile and the fault it is given (if any).
#[derive(Debug, Clone)]
pub struct DemoSite {
    pub site_id: String,
    pub name: String,
    pub prefecture: &'static str,
    pub kind: SiteKind,
    pub reader_maker: Option<ReaderMaker>,
    pub router_model: RouterModel,
    pub maintenance: Maintenance,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The reader is switched off after the first few reports (during the day).
    ReaderOff,
    CertExpiring,
    CertExpired,
    AccountChanged,
    NoReboot,
    RouterUnreachable,
    ScreenLockOff,
    /// The PC stops reporting after a few reports, while the site is open (→ `offline`).
    StopsReporting,
    /// Closed today (a per-date exception) and its PC off: silent, but 営業時間外, no incident.
    ClosedToday,
}

impl Fault {
    /// Reports this simulated PC sends before it goes quiet, if it does.
    fn reports_before_silence(self) -> Option<u32> {
        match self {
            Fault::StopsReporting => Some(4),
            Fault::ClosedToday => Some(1),
            _ => None,
        }
    }
}

/// Deterministic fleet: site `i` always gets the same profile.
pub fn fleet(count: u32) -> Vec<DemoSite> {
    (0..count as usize)
        .map(|i| {
            let kind = [
                SiteKind::Clinic,
                SiteKind::Clinic,
                SiteKind::Pharmacy,
                SiteKind::HomeNursing,
            ][i % 4];
            // Names as clinics are named, so the console's search has something to find
            // (「山田」, 「さくら」).
            let suffix = match kind {
                SiteKind::Pharmacy => ["薬局", "調剤薬局"][(i / 4) % 2],
                SiteKind::HomeNursing => "訪問看護ステーション",
                SiteKind::Clinic => DEMO_CLINICS[(i / 20) % DEMO_CLINICS.len()],
            };
            let fault = match i % 20 {
                3 => Fault::ReaderOff,
                5 => Fault::CertExpiring,
                7 if i % 40 == 7 => Fault::CertExpired,
                9 => Fault::AccountChanged,
                11 => Fault::NoReboot,
                13 => Fault::RouterUnreachable,
                15 => Fault::StopsReporting,
                17 => Fault::ScreenLockOff,
                19 => Fault::ClosedToday,
                _ => Fault::None,
            };
            DemoSite {
                site_id: format!("demo-{:04}", i + 1),
                name: format!("{}{}", DEMO_NAMES[i % DEMO_NAMES.len()], suffix),
                prefecture: PREFECTURES[(i * 7) % PREFECTURES.len()],
                kind,
                reader_maker: MAKERS[i % MAKERS.len()],
                router_model: RouterModel::ALL[i % RouterModel::ALL.len()],
                maintenance: if i % 3 == 0 {
                    Maintenance::None
                } else {
                    Maintenance::Omakase
                },
                fault,
            }
        })
        .collect()
}

pub async fn run(mut args: DemoArgs) -> Result<(), Error> {
    // A stopped PC should show within minutes in a demo, not after 15.
    args.serve.offline_after_minutes = args.serve.offline_after_minutes.min(DEMO_OFFLINE_MINUTES);
    args.serve.sweep_interval_seconds = args.serve.sweep_interval_seconds.min(10);
    let running = serve::start(&args.serve).await?;
    let sites = fleet(args.sites);
    register_sites(&running.pool, &sites).await?;

    let login_password = demo_admin(&running.pool).await?;
    for site in sites {
        let agent_id = format!("agent-{}", site.site_id);
        let (endpoint, acked) = in_process_agent(&running, &agent_id, &site.site_id).await?;
        let channel = endpoint.connect_lazy();
        // Like a real agent, continue after the last acknowledged seq.
        let next_seq = acked + 1;
        tokio::spawn(simulate(
            AgentServiceClient::new(channel),
            site,
            agent_id,
            next_seq,
            args.interval,
        ));
    }

    println!("portal: http://{}/", running.http_addr);
    println!("login: user demo-admin / password {login_password}");
    println!(
        "grpc:  {} (TLS, CA {})",
        running.grpc_addr,
        running.pki.dir.join("ca.pem").display()
    );
    println!(
        "{} simulated sites report every {} s. Ctrl-C to stop.",
        args.sites, args.interval
    );
    running.run_until_signal().await
}

/// An agent inside this process (demo, load generator): enrolled directly,
/// without the token round trip, but with a real client certificate from the
/// server's CA, so it goes through the same mTLS checks as a real agent.
/// Returns its endpoint (TLS configured) and its acknowledged seq.
pub async fn in_process_agent(
    running: &serve::Running,
    agent_id: &str,
    site_id: &str,
) -> Result<(Endpoint, u64), Error> {
    let acked: i64 = sqlx::query_scalar(
        "INSERT INTO agents (agent_id, site_id, enrolled_at) VALUES ($1, $2, now())
         ON CONFLICT (agent_id) DO UPDATE SET revoked_at = NULL RETURNING acked_seq",
    )
    .bind(agent_id)
    .bind(site_id)
    .fetch_one(&running.pool)
    .await?;
    let (key, cert) = running.pki.issue_agent_identity(agent_id)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&running.pki.ca_cert_pem))
        .identity(Identity::from_pem(cert.pem, key))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{}", running.grpc_addr))
        .map_err(|e| Error::Other(e.into()))?
        .tls_config(tls)
        .map_err(|e| Error::Other(e.into()))?;
    Ok((endpoint, acked as u64))
}

/// The demo's administrator: created on first run, given a fresh one-time password
/// on every run (printed once), so the login always works; the first login asks for a new
/// password, as for any one-time password.
async fn demo_admin(pool: &PgPool) -> Result<String, Error> {
    let password = crate::auth::password::generate();
    let hash = crate::auth::password::hash(&password)?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO operators (username, password_hash, role, must_change_password)
         VALUES ('demo-admin', $1, 'admin', true)
         ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             failed_logins = 0, locked_until = NULL, disabled = false, must_change_password = true",
    )
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    crate::auth::audit::record(
        &mut tx,
        crate::auth::audit::Entry::new("cli:demo", "operator.password_reset", "user:demo-admin"),
    )
    .await?;
    tx.commit().await?;
    Ok(password)
}

/// The demo's sites, through the one site store (audited as `cli:demo`).
pub async fn register_sites(pool: &PgPool, sites: &[DemoSite]) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let by = crate::sites::Actor {
        actor: "cli:demo",
        remote: "",
    };
    let always = crate::sites::hours::WeekSchedule::parse(ALWAYS_OPEN).expect("valid schedule");
    let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
    for (i, s) in sites.iter().enumerate() {
        crate::sites::store::create_or_update(&mut tx, &s.input(), by).await?;
        // Most demo sites are open around the clock so that the story shows at any hour;
        // every tenth keeps its kind's real hours (quiet at night, on Sundays and holidays).
        let week = (i % 10 != 9).then_some(&always);
        crate::sites::hours_store::set_week(&mut tx, &s.site_id, week, true, by).await?;
        if s.fault == Fault::ClosedToday {
            let closed = crate::sites::hours::DayException {
                day: today,
                open: Vec::new(),
                note: "臨時休診（デモ）".into(),
            };
            crate::sites::hours_store::set_exception(&mut tx, &s.site_id, &closed, by).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The demo's around-the-clock schedule.
const ALWAYS_OPEN: &str = "mon-sun 00:00-24:00";

impl DemoSite {
    /// The profile operators see for this simulated site.
    pub fn input(&self) -> SiteInput {
        let n: u32 = self
            .site_id
            .trim_start_matches("demo-")
            .parse()
            .unwrap_or(0);
        let serial_prefix = match self.router_model {
            RouterModel::AtAr1050v => "S/NA",
            RouterModel::Nvr700 | RouterModel::Rtx830 => "SER.",
        };
        SiteInput {
            site_id: self.site_id.clone(),
            name: self.name.clone(),
            prefecture: self.prefecture.to_owned(),
            kind: self.kind,
            reader_maker: self.reader_maker,
            router_model: Some(self.router_model),
            maintenance: self.maintenance,
            omakase_dial: if self.maintenance == Maintenance::Omakase {
                "0120-000-000".into()
            } else {
                String::new()
            },
            medical_code: format!("13{:08}", 10_000_000 + n),
            address: format!("{}デモ市1-{}-1", self.prefecture, n),
            phone: format!("03-5000-{:04}", n % 10_000),
            contact_person: "受付 担当".into(),
            pc_serial: format!("PF{:06}", n),
            pc_purchased_on: chrono::NaiveDate::from_ymd_opt(2021 + (n % 4) as i32, 4, 1),
            router_serial: format!("{serial_prefix}{:08}", n),
            router_purchased_on: chrono::NaiveDate::from_ymd_opt(2021, 4, 1),
            receipt_vendor: "デモメディカルシステム".into(),
            receipt_vendor_contact: "0120-111-222".into(),
            ..Default::default()
        }
    }
}

async fn simulate(
    mut client: AgentServiceClient<Channel>,
    site: DemoSite,
    agent_id: String,
    mut seq: u64,
    interval: u64,
) {
    // Spread the first reports over one interval, as a real fleet would be.
    let offset = rand::rng().random_range(0..interval.max(1) * 1000);
    tokio::time::sleep(Duration::from_millis(offset)).await;
    let mut sent = 0u32;
    loop {
        if site
            .fault
            .reports_before_silence()
            .is_some_and(|n| sent >= n)
        {
            tracing::info!(site = %site.site_id, "demo agent: this PC goes quiet now (demo story)");
            return;
        }
        let mut report = demo_report(&site, &agent_id, seq);
        if sent < READER_ON_REPORTS
            && let Some(reader) = report.reader.as_mut()
        {
            // The story: the reader is switched off during the day, after a few reports.
            reader.power = pb::PowerState::On as i32;
            reader.software_running = true;
        }
        let request = pb::SubmitReportsRequest {
            agent_id: agent_id.clone(),
            reports: vec![report],
            abandoned_through: 0,
            update: None,
        };
        match client.submit_reports(request).await {
            Ok(_) => {
                seq += 1;
                sent += 1;
            }
            Err(status) => {
                tracing::debug!(site = %site.site_id, %status, "demo agent: send failed; will resend")
            }
        }
        tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
    }
}

/// The shares of a healthy オン資PC: face, req, res, and Onseikyu at home-visit nursing
/// stations (domain.md §2.9).
fn shares_of(kind: SiteKind) -> Vec<pb::Share> {
    let mut names = vec!["face", "req", "res"];
    if kind == SiteKind::HomeNursing {
        names.push("Onseikyu");
    }
    names
        .into_iter()
        .map(|n| pb::Share {
            name: n.into(),
            exists: true,
            shared: true,
        })
        .collect()
}

/// A stable number per site (FNV-1a), for demo serials.
fn crc_of(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A `ReaderOff` site's reader is on for its first reports of a demo run, then switched off.
const READER_ON_REPORTS: u32 = 3;

fn ts(t: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

pub fn demo_report(site: &DemoSite, agent_id: &str, seq: u64) -> pb::Report {
    let now = Utc::now();
    let mut rng = rand::rng();
    let maker = match site.reader_maker {
        Some(ReaderMaker::Fujitsu) => pb::ReaderMaker::Fujitsu,
        Some(ReaderMaker::Panasonic) => pb::ReaderMaker::Panasonic,
        Some(ReaderMaker::Atlus) => pb::ReaderMaker::Atlus,
        Some(ReaderMaker::Almex) => pb::ReaderMaker::Almex,
        Some(ReaderMaker::Canon) => pb::ReaderMaker::Canon,
        None => pb::ReaderMaker::None,
    };
    let boot_hours = if site.fault == Fault::NoReboot { 80 } else { 3 };
    let cert_days = match site.fault {
        Fault::CertExpiring => 20,
        Fault::CertExpired => -3,
        _ => 400,
    };
    let latency = |ms: u64| {
        Some(prost_types::Duration {
            seconds: 0,
            nanos: (ms * 1_000_000) as i32,
        })
    };
    pb::Report {
        seq,
        agent_id: agent_id.to_owned(),
        site_id: site.site_id.clone(),
        collected_at: ts(now),
        schema_version: 1,
        host: Some(pb::Host {
            hostname: format!("ONSHI-{}", site.site_id.to_uppercase()),
            os: "Windows 11 Pro 23H2".into(),
            boot_time: ts(now - chrono::Duration::hours(boot_hours)),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            screen_lock: Some(pb::ScreenLock {
                known: true,
                enabled: site.fault != Fault::ScreenLockOff,
                secure: site.fault != Fault::ScreenLockOff,
                timeout_seconds: 900,
                clear_screen_installed: site.reader_maker == Some(ReaderMaker::Panasonic),
            }),
            disk_free_bytes: 80 << 30,
            apps_updated_at: ts(now - chrono::Duration::hours(20)),
        }),
        reader: (maker != pb::ReaderMaker::None).then(|| pb::CardReader {
            maker: maker as i32,
            power: if site.fault == Fault::ReaderOff {
                pb::PowerState::Off
            } else {
                pb::PowerState::On
            } as i32,
            manual_power: matches!(maker, pb::ReaderMaker::Almex | pb::ReaderMaker::Canon),
            software_running: site.fault != Fault::ReaderOff,
            device_name: "顔認証付きカードリーダー".into(),
        }),
        certificate: Some(pb::ClientCertificate {
            present: true,
            subject: format!("CN={}", site.site_id),
            issuer: "CN=オンライン請求ネットワーク関連システム共通認証局".into(),
            // One certificate per site: its serial is the incident's subject.
            serial: format!("{:08X}", crc_of(&site.site_id)),
            not_after: ts(now + chrono::Duration::days(cert_days)),
            desktop_file_present: true,
            backup_seen: true,
        }),
        accounts: vec![pb::Account {
            kind: pb::AccountKind::Linkage as i32,
            baseline_known: true,
            password_changed: site.fault == Fault::AccountChanged,
            ..Default::default()
        }],
        network: vec![pb::NetworkTarget {
            name: "router".into(),
            address: "10.51.1.1:443".into(),
            reachable: site.fault != Fault::RouterUnreachable,
            latency: if site.fault == Fault::RouterUnreachable {
                None
            } else {
                latency(rng.random_range(1..5))
            },
            error: if site.fault == Fault::RouterUnreachable {
                "connection timed out".into()
            } else {
                String::new()
            },
        }],
        shares: shares_of(site.kind),
        agent: Some(pb::AgentHealth::default()),
        ip_config: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::health::{self, Health};
    use crate::fleet::report::ReportDoc;

    #[test]
    fn demo_fleet_is_varied_and_faults_show_up() {
        let sites = fleet(200);
        assert_eq!(sites.len(), 200);
        for kind in SiteKind::ALL {
            assert!(sites.iter().any(|s| s.kind == kind));
        }
        let mut critical = 0;
        let mut ok = 0;
        for s in &sites {
            let doc = ReportDoc::from(&demo_report(s, "a", 1));
            match health::overall(&health::evaluate(&doc, Utc::now())) {
                Health::Critical => critical += 1,
                Health::Ok => ok += 1,
                Health::Warning | Health::Info => {}
            }
        }
        assert!(critical >= 20, "{critical}");
        assert!(ok >= 100, "{ok}");
    }
}
