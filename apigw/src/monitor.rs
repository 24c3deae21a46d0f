//! The monitoring actions' data for `serve` (docs/operations.md, "Monitoring data"): the
//! [`MonitorSource`] the management API reads — this node's per-minute counts (in memory,
//! `apigw_gateway::minutes`) plus what the other nodes wrote to the store — and the task that
//! writes this node's counts to the store.
//!
//! Each node writes, under an id of its own drawn at start, the minutes it counted since the
//! previous write (the current minute included, replaced at the next write), and deletes rows
//! older than 24 hours. A reader adds up the rows of every other node and its own memory, so a
//! node's data reaches the others within one write interval, and a node that is down still
//! counts with what it wrote. With the embedded store the rows are those of earlier runs of
//! this data directory, so the series survive a restart.

use apigw_gateway::minutes::current_minute;
use apigw_gateway::Shared;
use apigw_mgmt::monitor::MonitorSource;
use apigw_model::monitor::{ApiMinute, MinuteDetail, MinuteTotals, MINUTES_KEPT, MINUTE_SECS};
use apigw_model::Stage;
use apigw_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest wait for the store's rows before answering with this node's counts alone.
const STORE_WAIT: Duration = Duration::from_secs(2);

pub struct NodeMonitor {
    pub shared: Arc<Shared>,
    pub store: Arc<dyn Store>,
    /// This process's id in the store's rows.
    pub node: String,
}

#[async_trait::async_trait]
impl MonitorSource for NodeMonitor {
    async fn api_minutes(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteTotals> {
        let mut minutes = self.shared.api_minutes(api_id, stage, from, to);
        let others = self.store.api_minutes(api_id, stage, from, to, &self.node);
        add_others(&mut minutes, from, others, MinuteTotals::add).await;
        minutes
    }

    async fn api_minute_details(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteDetail> {
        let mut minutes = self.shared.api_minute_details(api_id, stage, from, to);
        let others = self
            .store
            .api_minute_details(api_id, stage, from, to, &self.node);
        add_others(&mut minutes, from, others, MinuteDetail::add).await;
        minutes
    }
}

/// Adds the other nodes' rows (`others`, read from the store within [`STORE_WAIT`]) to this
/// node's `minutes` (one a minute from `from`); this node's alone, with a warning, when the
/// store does not answer.
async fn add_others<T>(
    minutes: &mut [T],
    from: i64,
    others: impl std::future::Future<Output = apigw_store::Result<Vec<(i64, T)>>>,
    add: fn(&mut T, &T),
) {
    match tokio::time::timeout(STORE_WAIT, others).await {
        Ok(Ok(rows)) => {
            for (minute, value) in rows {
                let i = usize::try_from((minute - from) / MINUTE_SECS).ok();
                if let Some(slot) = i.and_then(|i| minutes.get_mut(i)) {
                    add(slot, &value);
                }
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "apigw::monitor", "other nodes' monitoring data not read, answering with this node's: {e}")
        }
        Err(_) => {
            tracing::warn!(target: "apigw::monitor", "other nodes' monitoring data not read within {STORE_WAIT:?}, answering with this node's")
        }
    }
}

/// Writes this node's per-minute counts to the store every `every` until `stop`, and once
/// more then; deletes rows older than 24 hours once a minute. A failed write is retried at the
/// next turn (the counts stay in memory).
pub async fn write_minutes(
    monitor: Arc<NodeMonitor>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut writer = Writer::default();
    let mut pruned = 0;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = stop.changed() => true,
        };
        let now = current_minute();
        writer.write(&monitor, now).await;
        if now != pruned {
            let oldest = now - (MINUTES_KEPT - 1) * MINUTE_SECS;
            match monitor.store.prune_minutes(oldest).await {
                Ok(_) => pruned = now,
                Err(e) => {
                    tracing::warn!(target: "apigw::monitor", "old monitoring data not deleted: {e}")
                }
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

/// What this node wrote last, so that only changed minutes are written again.
#[derive(Default)]
struct Writer {
    /// The first minute not yet written for good (its counts may still grow).
    since: Option<i64>,
    written: HashMap<(String, Stage, i64), (MinuteTotals, MinuteDetail)>,
}

impl Writer {
    async fn write(&mut self, monitor: &NodeMonitor, now: i64) {
        // The minute before the last write's too: a request counted just as it ended.
        let from = self.since.unwrap_or(now).min(now) - MINUTE_SECS;
        let oldest = now - (MINUTES_KEPT - 1) * MINUTE_SECS;
        let from = from.max(oldest);
        let rows: Vec<ApiMinute> = monitor
            .shared
            .served_minutes(from, now + MINUTE_SECS)
            .into_iter()
            .filter(|r| {
                let key = (r.api_id.clone(), r.stage, r.minute);
                self.written
                    .get(&key)
                    .is_none_or(|(t, d)| *t != r.totals || *d != r.detail)
            })
            .collect();
        match monitor.store.put_minutes(&monitor.node, &rows).await {
            Ok(()) => {
                self.since = Some(now);
                for r in rows {
                    let key = (r.api_id, r.stage, r.minute);
                    self.written.insert(key, (r.totals, r.detail));
                }
                self.written
                    .retain(|(_, _, minute), _| *minute >= now - MINUTE_SECS);
            }
            Err(e) => {
                tracing::warn!(target: "apigw::monitor", "monitoring data not written to the store (retried): {e}")
            }
        }
    }
}
