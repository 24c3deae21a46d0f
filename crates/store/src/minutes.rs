//! The monitoring actions' per-minute totals (`api_minutes`, migration 2) and their detail
//! (`api_minute_details`, migration 4: a JSON document a row): each node writes the minutes it
//! holds in memory under its own node id, replacing what it wrote before for those minutes; a
//! reader adds up the other nodes' rows (the totals in SQL, the details here). Not
//! configuration: these writes never bump the generation, so they wake no reloader.

use crate::sql::{Arg, Step};
use apigw_model::monitor::{ApiMinute, MinuteDetail, MinuteTotals};
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

pub(crate) const PUT_DETAIL: &str =
    "INSERT INTO api_minute_details (api_id, minute, stage, node, doc) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (api_id, minute, stage, node) DO UPDATE SET doc = excluded.doc";

/// One text column a row: the minute, a space, the detail's document (the store's primitive
/// reads one text column). Same filter as [`SUMS`]; summed by [`add_details`].
pub(crate) const DETAILS: &str =
    "SELECT CAST(minute AS TEXT) || ' ' || doc FROM api_minute_details \
     WHERE api_id = $1 AND ($2 = '' OR stage = $2) AND minute >= $3 AND minute < $4 AND node <> $5 \
     ORDER BY minute";

pub(crate) const PRUNE: &str = "DELETE FROM api_minutes WHERE minute < $1";
pub(crate) const PRUNE_DETAILS: &str = "DELETE FROM api_minute_details WHERE minute < $1";

fn int(v: u64) -> Arg {
    Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The statements writing `rows` as `node`'s: the totals, and the detail when it has any.
pub(crate) fn puts(node: &str, rows: &[ApiMinute]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let key = [
            Arg::from(&r.api_id),
            Arg::Int(r.minute),
            Arg::from(r.stage.as_str()),
            Arg::from(node),
        ];
        let t = &r.totals;
        let totals = [
            t.successes,
            t.client_errors,
            t.server_errors,
            t.latency_us,
            t.request_bytes,
            t.response_bytes,
        ];
        steps.push(Step {
            sql: PUT,
            args: key.iter().cloned().chain(totals.map(int)).collect(),
        });
        if !r.detail.is_empty() {
            let doc = serde_json::to_string(&r.detail).unwrap_or_default();
            steps.push(Step {
                sql: PUT_DETAIL,
                args: key.into_iter().chain([Arg::Text(doc)]).collect(),
            });
        }
    }
    steps
}

/// The rows of [`DETAILS`] added up per minute, in order. A row that does not parse (written
/// by another release) is skipped, with a warning.
pub(crate) fn add_details(rows: &[String]) -> Vec<(i64, MinuteDetail)> {
    let mut out: Vec<(i64, MinuteDetail)> = Vec::new();
    for row in rows {
        let parsed = row.split_once(' ').and_then(|(minute, doc)| {
            let detail = serde_json::from_str::<MinuteDetail>(doc).ok()?;
            Some((minute.parse::<i64>().ok()?, detail))
        });
        let Some((minute, detail)) = parsed else {
            tracing::warn!(target: "apigw::monitor", "a row of api_minute_details was skipped: not a detail this release reads");
            continue;
        };
        match out.last_mut() {
            Some((m, sum)) if *m == minute => sum.add(&detail),
            _ => out.push((minute, detail)),
        }
    }
    out
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
    use apigw_model::monitor::{ApiMinute, MinuteDetail, MinuteTotals};
    use apigw_model::Stage;

    /// `successes` answers of status 200, one of 404 with `I404NF`, timed in bucket 0.
    fn detail(successes: u64) -> MinuteDetail {
        let mut latency = vec![0; apigw_model::monitor::LATENCY_BUCKETS];
        latency[0] = successes + 1;
        MinuteDetail {
            statuses: [(200, successes), (404, 1)].into(),
            errors: [("I404NF".to_string(), 1)].into(),
            latency,
        }
    }

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
            detail: detail(successes),
        }
    }

    /// Rows of other nodes are added up per minute (and over stages unless one is asked), the
    /// totals and their detail; a node's second write of a minute replaces its first; pruning
    /// drops old minutes of both; the generation does not move.
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

        let details = store
            .api_minute_details("api", None, 0, 600, "me")
            .await
            .unwrap();
        let mut sum = detail(2);
        sum.add(&detail(10));
        sum.add(&detail(100));
        assert_eq!(details, vec![(60, sum), (120, detail(7))]);
        assert_eq!(details[0].1.statuses[&200], 112);
        assert_eq!(details[0].1.errors["I404NF"], 3);

        let release = store
            .api_minutes("api", Some(Stage::Release), 60, 120, "b")
            .await
            .unwrap();
        assert_eq!(release.len(), 1);
        assert_eq!(release[0].1.successes, 2);
        let release = store
            .api_minute_details("api", Some(Stage::Release), 60, 120, "b")
            .await
            .unwrap();
        assert_eq!(release, vec![(60, detail(2))]);

        assert_eq!(store.prune_minutes(120).await.unwrap(), 8);
        let left = store.api_minutes("api", None, 0, 600, "me").await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, 120);
        let left = store
            .api_minute_details("api", None, 0, 600, "me")
            .await
            .unwrap();
        assert_eq!(left, vec![(120, detail(7))]);
    }

    #[test]
    fn detail_rows_that_do_not_parse_are_skipped() {
        let doc = serde_json::to_string(&detail(1)).unwrap();
        let rows = vec![
            format!("60 {doc}"),
            "60 not json".to_string(),
            format!("60 {doc}"),
            format!("x {doc}"),
            format!("120 {doc}"),
        ];
        let mut two = detail(1);
        two.add(&detail(1));
        assert_eq!(super::add_details(&rows), vec![(60, two), (120, detail(1))]);
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
