//! Where the monitoring actions read their series from. The control plane does not depend on
//! the data plane: the serving binary implements [`MonitorSource`] on the data plane's
//! per-minute counts (and, in a cluster, the other nodes' counts in the store) and hands it to
//! [`crate::Management::with_monitor`]. Without one the actions answer empty series.

use apigw_model::monitor::{MinuteDetail, MinuteTotals};
use apigw_model::Stage;
use async_trait::async_trait;

#[async_trait]
pub trait MonitorSource: Send + Sync + 'static {
    /// The totals of `api_id` (in `stage`, or all stages added) for each minute from `from` up
    /// to (not including) `to` — minute starts in seconds since the epoch, `to - from` a
    /// multiple of 60 — one entry a minute, in order. Never fails: what cannot be read counts
    /// as zero (and is logged by the source).
    async fn api_minutes(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteTotals>;

    /// Like [`MonitorSource::api_minutes`], the detail of each minute: answers by status and by
    /// gateway error code, the latency histogram (`DescribeApiCodeData`,
    /// `DescribeApiLatencyPercentiles`).
    async fn api_minute_details(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteDetail>;
}
