//! The yardstick of issue 14: how fast PostgreSQL takes the same history
//! rows through a bare `COPY` into a scratch copy of `report_history`
//! (same columns and indexes, committed), on the same machine and moment.

use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::error::Error;

pub struct CopyFigure {
    pub rows: u64,
    pub rows_per_sec: f64,
}

/// Copies the rows of agents matching `agent_pattern` (SQL LIKE) out, then
/// times copying them into a scratch table; the scratch table is dropped.
pub async fn measure(pool: &PgPool, agent_pattern: &str) -> Result<CopyFigure, Error> {
    let scratch = format!("loadgen_copy_scratch_{:08x}", rand::random::<u32>());
    let mut conn = pool.acquire().await?;
    let pattern = agent_pattern.replace('\'', "''");
    let mut out = conn
        .copy_out_raw(&format!(
            "COPY (SELECT * FROM report_history WHERE agent_id LIKE '{pattern}') TO STDOUT"
        ))
        .await?;
    let mut data = Vec::new();
    while let Some(chunk) = out.try_next().await? {
        data.extend_from_slice(&chunk);
    }
    drop(out);
    sqlx::raw_sql(&format!(
        "CREATE TABLE {scratch} (LIKE report_history INCLUDING DEFAULTS INCLUDING INDEXES)"
    ))
    .execute(&mut *conn)
    .await?;
    let timed = copy_in(&mut conn, &scratch, &data).await;
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {scratch}"))
        .execute(&mut *conn)
        .await?;
    let (rows, elapsed) = timed?;
    Ok(CopyFigure {
        rows,
        rows_per_sec: rows as f64 / elapsed.max(1e-9),
    })
}

async fn copy_in(
    conn: &mut sqlx::PgConnection,
    table: &str,
    data: &[u8],
) -> Result<(u64, f64), Error> {
    let started = Instant::now();
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let mut copy = tx.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
    copy.send(data).await?;
    let rows = copy.finish().await?;
    tx.commit().await?;
    Ok((rows, started.elapsed().as_secs_f64()))
}
