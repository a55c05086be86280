//! `onshi-server seed`: fills a database with a national-scale fleet for benchmarks and for
//! trying the console at scale (sites, agents and their latest state, set in SQL so 250,000
//! sites take seconds). Never run it against a production database: it refuses one that
//! already has sites unless `--force`.

use sqlx::PgPool;

use crate::error::Error;

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
    // Kinds, makers and prefectures cycle like the demo fleet's.
    sqlx::query(
        "INSERT INTO sites (site_id, name, prefecture, kind, reader_maker, router_model, maintenance)
         SELECT 'seed-' || lpad(i::text, 6, '0'),
                (ARRAY['山田','佐藤','鈴木','高橋','田中','伊藤','渡辺','中村'])[1 + i % 8] || '医院' || i,
                (ARRAY['東京都','大阪府','北海道','福岡県','愛知県','神奈川県'])[1 + i % 6],
                (ARRAY['clinic','clinic','pharmacy','home_nursing'])[1 + i % 4],
                (ARRAY['fujitsu','panasonic','atlus','almex','canon'])[1 + i % 5],
                (ARRAY['AT-AR1050V','NVR700','RTX830'])[1 + i % 3],
                (ARRAY['none','omakase','omakase'])[1 + i % 3]
         FROM generate_series(1, $1) AS i
         ON CONFLICT DO NOTHING",
    )
    .bind(sites as i32)
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
         SELECT site_id, 'agent-' || site_id, 100, t, t, 'ok', '[]', '{\"seq\": 100}'
         FROM (SELECT site_id,
                      CASE WHEN abs(hashtext(site_id)) % 100 < $1 THEN now() - interval '3 hours'
                           ELSE now() - interval '30 seconds' END AS t
               FROM sites WHERE site_id LIKE 'seed-%') s
         ON CONFLICT DO NOTHING",
    )
    .bind(silent_percent as i32)
    .execute(&mut *tx)
    .await?;
    sqlx::query("ALTER TABLE site_state ENABLE TRIGGER site_state_evaluation")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE sites").execute(pool).await?;
    sqlx::query("ANALYZE site_state").execute(pool).await?;
    Ok(())
}
