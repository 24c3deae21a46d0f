//! The monitoring actions' per-minute totals (`api_minutes`, migration 2): each node writes the
//! minutes it holds in memory under its own node id, replacing what it wrote before for those
//! minutes; a reader adds up the other nodes' rows. Not configuration: these writes never bump
//! the generation, so they wake no reloader.

use crate::sql::{Arg, Step};
use apigw_model::monitor::{ApiMinute, MinuteTotals};
use apigw_model::Stage;

pub(crate) const PUT: &str = "INSERT INTO api_minutes (api_id, minute, stage, node, successes, client_errors, server_errors, latency_us, request_bytes, response_bytes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (api_id, minute, stage, node) DO UPDATE SET successes = excluded.successes, \
     client_errors = excluded.client_errors, server_errors = excluded.server_errors, \
     latency_us = excluded.latency_us, request_bytes = excluded.request_bytes, \
     response_bytes = excluded.response_bytes";

/// Columns: minute and the six totals, summed over nodes (and stages).
pub(crate) const SUMS: &str = "SELECT minute, CAST(SUM(successes) AS BIGINT), CAST(SUM(client_errors) AS BIGINT), \
     CAST(SUM(server_errors) AS BIGINT), CAST(SUM(latency_us) AS BIGINT), \
     CAST(SUM(request_bytes) AS BIGINT), CAST(SUM(response_bytes) AS BIGINT) \
     FROM api_minutes WHERE api_id = $1 AND ($2 = '' OR stage = $2) AND minute >= $3 AND minute < $4 \
     AND node <> $5 GROUP BY minute ORDER BY minute";

pub(crate) const SUMS_COLUMNS: usize = 7;

pub(crate) const PRUNE: &str = "DELETE FROM api_minutes WHERE minute < $1";

fn int(v: u64) -> Arg {
    Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The statements writing `rows` as `node`'s.
pub(crate) fn puts(node: &str, rows: &[ApiMinute]) -> Vec<Step> {
    rows.iter()
        .map(|r| Step {
            sql: PUT,
            args: vec![
                Arg::from(&r.api_id),
                Arg::Int(r.minute),
                Arg::from(r.stage.as_str()),
                Arg::from(node),
                int(r.totals.successes),
                int(r.totals.client_errors),
                int(r.totals.server_errors),
                int(r.totals.latency_us),
                int(r.totals.request_bytes),
                int(r.totals.response_bytes),
            ],
        })
        .collect()
}

pub(crate) fn sums_args(
    api_id: &str,
    stage: Option<Stage>,
    from: i64,
    to: i64,
    except_node: &str,
) -> Vec<Arg> {
    vec![
        Arg::from(api_id),
        Arg::from(stage.map_or("", Stage::as_str)),
        Arg::Int(from),
        Arg::Int(to),
        Arg::from(except_node),
    ]
}

/// A row of [`SUMS`] as (minute, totals).
pub(crate) fn from_sums(row: &[i64]) -> (i64, MinuteTotals) {
    let n = |i: usize| row.get(i).copied().unwrap_or(0).max(0) as u64;
    (
        row.first().copied().unwrap_or(0),
        MinuteTotals {
            successes: n(1),
            client_errors: n(2),
            server_errors: n(3),
            latency_us: n(4),
            request_bytes: n(5),
            response_bytes: n(6),
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::{PostgresStore, SqliteStore, Store, TestDatabase};
    use apigw_model::monitor::{ApiMinute, MinuteTotals};
    use apigw_model::Stage;

    fn row(api: &str, stage: Stage, minute: i64, successes: u64) -> ApiMinute {
        ApiMinute {
            api_id: api.into(),
            stage,
            minute,
            totals: MinuteTotals {
                successes,
                client_errors: 1,
                server_errors: 2,
                latency_us: 3,
                request_bytes: 4,
                response_bytes: 5,
            },
        }
    }

    /// Rows of other nodes are added up per minute (and over stages unless one is asked); a
    /// node's second write of a minute replaces its first; pruning drops old minutes; the
    /// generation does not move.
    async fn minutes_are_summed_over_other_nodes(store: &dyn Store) {
        let generation = store.generation().await.unwrap();
        store
            .put_minutes(
                "a",
                &[
                    row("api", Stage::Release, 60, 1),
                    row("api", Stage::Test, 60, 10),
                ],
            )
            .await
            .unwrap();
        store
            .put_minutes("a", &[row("api", Stage::Release, 60, 2)])
            .await
            .unwrap();
        store
            .put_minutes(
                "b",
                &[
                    row("api", Stage::Release, 60, 100),
                    row("api", Stage::Release, 120, 7),
                ],
            )
            .await
            .unwrap();
        store
            .put_minutes("b", &[row("other", Stage::Release, 60, 1000)])
            .await
            .unwrap();
        assert_eq!(store.generation().await.unwrap(), generation);

        let all = store.api_minutes("api", None, 0, 600, "me").await.unwrap();
        let m60 = all[0].1;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, 60);
        assert_eq!(
            (m60.successes, m60.client_errors, m60.server_errors),
            (112, 3, 6)
        );
        assert_eq!(
            (m60.latency_us, m60.request_bytes, m60.response_bytes),
            (9, 12, 15)
        );
        assert_eq!((all[1].0, all[1].1.successes), (120, 7));

        let release = store
            .api_minutes("api", Some(Stage::Release), 60, 120, "b")
            .await
            .unwrap();
        assert_eq!(release.len(), 1);
        assert_eq!(release[0].1.successes, 2);

        assert_eq!(store.prune_minutes(120).await.unwrap(), 4);
        let left = store.api_minutes("api", None, 0, 600, "me").await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, 120);
    }

    #[tokio::test]
    async fn sqlite_sums_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        minutes_are_summed_over_other_nodes(&store).await;
    }

    #[tokio::test]
    async fn postgres_sums_minutes() {
        let db = TestDatabase::create();
        let store = PostgresStore::connect(db.url()).await.unwrap();
        minutes_are_summed_over_other_nodes(&store).await;
    }
}
