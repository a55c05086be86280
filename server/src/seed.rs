//! `onshi-server seed`: fills a database with a national-scale fleet for benchmarks and for
//! trying the console at scale (sites, agents and their latest state, set in SQL so 250,000
//! sites take seconds). Never run it against a production database: it refuses one that
//! already has sites unless `--force`.

use sqlx::PgPool;

use crate::error::Error;
use crate::sites::PREFECTURES;

mod console;
mod history;

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub db: crate::cli::DbArgs,
    /// Sites to create (`seed-000001`, ...).
    #[arg(long, default_value_t = 250_000)]
    pub sites: u32,
    /// Minutes since the last report for this share of sites (0–100): a fleet at night is
    /// 100 % silent, a fleet at 10:00 mostly reporting.
    #[arg(long, default_value_t = 1)]
    pub silent_percent: u32,
    /// Add to a database that already has sites.
    #[arg(long)]
    pub force: bool,
    /// Share of the sites (0–16 %) with an open incident (five times as many get a resolved
    /// one), for the console's incident list at scale.
    #[arg(long, default_value_t = 2)]
    pub incident_percent: u32,
    /// Days of report history to fill in the lean format, with COPY (0: none); see
    /// --history-interval-minutes for the density.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=400))]
    pub days: u32,
    /// Minutes between two seeded reports of a site while its PC is on (08:00–19:00 JST,
    /// Monday to Saturday); a real agent reports every minute.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub history_interval_minutes: u32,
}

pub async fn run(args: SeedArgs) -> Result<(), Error> {
    if args.silent_percent > 100 {
        return Err(Error::InvalidArgument(
            "--silent-percent must be 0–100".into(),
        ));
    }
    let database = crate::db::connect(&args.db).await?;
    crate::db::migrate(&database.pool).await?;
    let started = std::time::Instant::now();
    seed(&database.pool, args.sites, args.silent_percent, args.force).await?;
    let mut conn = database.pool.acquire().await?;
    console::incidents(&mut conn, args.incident_percent).await?;
    drop(conn);
    println!(
        "seeded {} sites ({}% silent) in {:.1}s",
        args.sites,
        args.silent_percent,
        started.elapsed().as_secs_f64()
    );
    if args.days > 0 {
        let started = std::time::Instant::now();
        let rows = history::seed_history(
            &database.pool,
            args.sites,
            args.days,
            args.history_interval_minutes,
            chrono::Utc::now(),
        )
        .await?;
        sqlx::query("ANALYZE report_history")
            .execute(&database.pool)
            .await?;
        println!(
            "seeded {rows} history rows ({} days, one report per site every {} min while open) in {:.1}s",
            args.days,
            args.history_interval_minutes,
            started.elapsed().as_secs_f64()
        );
    }
    database.pool.close().await;
    if let Some(cluster) = database.private_cluster {
        cluster.stop().await;
    }
    Ok(())
}

pub async fn seed(
    pool: &PgPool,
    sites: u32,
    silent_percent: u32,
    force: bool,
) -> Result<(), Error> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM sites")
        .fetch_one(pool)
        .await?;
    if existing > 0 && !force {
        return Err(Error::Conflict(format!(
            "the database already has {existing} sites; seed only an empty benchmark database (or pass --force)"
        )));
    }
    let mut tx = pool.begin().await?;
    // Kinds, makers and prefectures cycle like the demo fleet's; names, codes, phones and
    // addresses look like the real ones, so the console's search meets realistic data (「山田」
    // matches about 1 % of the fleet, as a common surname does).
    sqlx::query(
        "INSERT INTO sites (site_id, name, prefecture, kind, reader_maker, router_model, maintenance,
                            medical_code, phone, address, contact_person, omakase_dial)
         SELECT 'seed-' || lpad(i::text, 6, '0'),
                (CASE WHEN h % 10 < 7
                      THEN (ARRAY['山田','佐藤','鈴木','高橋','田中','伊藤','渡辺','中村','小林','加藤',
                                  '吉田','山本','山口','松本','井上','木村','林','清水','斎藤','山崎',
                                  '森','池田','橋本','阿部','石川','前田','藤田','小川','岡田','後藤',
                                  '長谷川','村上','近藤','石井','坂本','遠藤','青木','藤井','西村','福田'])[1 + h % 40]
                      ELSE (ARRAY['さくら','ひまわり','みどり','あおば','つばさ','すずらん','駅前','中央',
                                  'ほほえみ','緑が丘'])[1 + h / 10 % 10] END)
                || (CASE kind WHEN 'pharmacy' THEN (ARRAY['薬局','調剤薬局'])[1 + h / 7 % 2]
                              WHEN 'home_nursing' THEN '訪問看護ステーション'
                              ELSE (ARRAY['内科クリニック','医院','歯科医院','整形外科','眼科',
                                          '小児科クリニック','皮膚科','耳鼻咽喉科'])[1 + h / 7 % 8] END),
                ($2::text[])[1 + i % 47],
                kind,
                (ARRAY['fujitsu','panasonic','atlus','almex','canon'])[1 + i % 5],
                (ARRAY['AT-AR1050V','NVR700','RTX830'])[1 + i % 3],
                maintenance,
                lpad((1 + i % 47)::text, 2, '0') || (CASE kind WHEN 'pharmacy' THEN '4' ELSE '1' END)
                    || lpad(i::text, 7, '0'),
                '0' || (1 + i % 9)::text || '-' || lpad((i / 9 % 10000)::text, 4, '0') || '-'
                    || lpad((i % 10000)::text, 4, '0'),
                '本町' || (1 + i % 9) || '丁目' || (1 + i % 30) || '-' || (1 + i % 15),
                '受付 ' || (ARRAY['佐々木','松田','中島','原田','小野'])[1 + h % 5],
                CASE WHEN maintenance = 'omakase' THEN '0120-' || lpad((i % 1000)::text, 3, '0') || '-' || lpad((i % 997)::text, 3, '0') END
         FROM (SELECT i, abs(hashtext(i::text)) AS h,
                      (ARRAY['clinic','clinic','pharmacy','home_nursing'])[1 + i % 4] AS kind,
                      (ARRAY['none','omakase','omakase'])[1 + i % 3] AS maintenance
               FROM generate_series(1, $1) AS i) g
         ON CONFLICT DO NOTHING",
    )
    .bind(sites as i32)
    .bind(PREFECTURES.to_vec())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO agents (agent_id, site_id, acked_seq, enrolled_at)
         SELECT 'agent-' || site_id, site_id, 100, now() FROM sites WHERE site_id LIKE 'seed-%'
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    // The trigger would queue every site for evaluation; a seeded state is already evaluated.
    sqlx::query("ALTER TABLE site_state DISABLE TRIGGER site_state_evaluation")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, findings, report)
         SELECT site_id, 'agent-' || site_id, 100, t, t, 'ok', '[]', $2
         FROM (SELECT site_id,
                      -- Spread like a real fleet's reports (the list sorts by them).
                      CASE WHEN abs(hashtext(site_id)) % 100 < $1
                           THEN now() - interval '3 hours' - (abs(hashtext(site_id || 'r')) % 3600000) * interval '1 ms'
                           ELSE now() - (abs(hashtext(site_id || 'r')) % 60000) * interval '1 ms' END AS t
               FROM sites WHERE site_id LIKE 'seed-%') s
         ON CONFLICT DO NOTHING",
    )
    .bind(silent_percent as i32)
    .bind(console::report())
    .execute(&mut *tx)
    .await?;
    sqlx::query("ALTER TABLE site_state ENABLE TRIGGER site_state_evaluation")
        .execute(&mut *tx)
        .await?;
    seed_incidents(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE sites").execute(pool).await?;
    sqlx::query("ANALYZE site_state").execute(pool).await?;
    sqlx::query("ANALYZE incidents").execute(pool).await?;
    sqlx::query("ANALYZE silences").execute(pool).await?;
    Ok(())
}

/// Open incidents as a fleet has them at 10:00 (about 8 % of sites, as the rules would open
/// them: readers off, certificates near expiry, PCs not rebooted, a router down, screen locks
/// off, and `offline` for a third of the silent sites), plus two silences, so the console's
/// state, counts and lists are measured on realistic work. Buckets come from a hash of the
/// site id: the same sites on every run.
async fn seed_incidents(tx: &mut sqlx::PgConnection) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, evidence,
                                first_seen, last_seen)
         SELECT s.site_id, r.rule, r.subject, r.severity, 'open', r.title, r.evidence,
                now() - make_interval(mins => 5 + b % 600), now()
         FROM (SELECT st.site_id, st.received_at < now() - interval '1 hour' AS silent,
                      abs(hashtext(st.site_id || '/incident')) % 1000 AS b
               FROM site_state st WHERE st.site_id LIKE 'seed-%') s
         JOIN LATERAL (VALUES
             (s.b < 10 AND NOT s.silent, 'reader_off', '', 'critical',
              '顔認証付きカードリーダーの電源が切れています（営業時間中）', '{}'::jsonb),
             (s.b >= 10 AND s.b < 25 AND NOT s.silent, 'cert_expiring', 'SEED', 'warning',
              '電子証明書の有効期限まであと20日です', '{\"threshold_days\": 30, \"days_left\": 20}'),
             (s.b >= 25 AND s.b < 30, 'cert_expired', 'SEED', 'critical',
              '電子証明書の有効期限が切れています', '{}'),
             (s.b >= 30 AND s.b < 50 AND NOT s.silent, 'no_daily_reboot', '', 'warning',
              'オン資PCが24時間以上再起動されていません', '{}'),
             (s.b >= 50 AND s.b < 53 AND NOT s.silent, 'network_unreachable', 'router', 'critical',
              'オン資ルータ（10.51.1.1:443）に接続できません', '{}'),
             (s.b >= 53 AND s.b < 83, 'screen_lock_disabled', '', 'info',
              'スクリーンセーバーのロックが無効です', '{}'),
             (s.silent AND s.b % 3 = 0, 'offline', '', 'critical',
              'オン資PCから営業時間中の報告がありません', '{}')
         ) AS r(applies, rule, subject, severity, title, evidence) ON r.applies
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO silences (rule, prefecture, starts_at, ends_at, reason, created_by)
         VALUES ('screen_lock_disabled', '北海道', now() - interval '1 day', now() + interval '30 days',
                 '北海道の画面ロック設定は顧客判断（シード）', 'cli:seed'),
                ('no_daily_reboot', NULL, now() - interval '1 hour', now() + interval '2 hours',
                 'Windows Update の配信日（シード）', 'cli:seed')",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
