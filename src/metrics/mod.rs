//! What the simulator measures: per-node statistics, bounded time series and the report.

pub mod histogram;
pub mod report;
pub mod series;
pub mod stats;
