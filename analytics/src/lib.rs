//! The energy metering centre's batch job: load counter readings from the store, turn them into
//! consumption per meter and period, and sum them into energy (physical units and tce), water and
//! carbon accounts, intensity indicators and data-quality evidence per enterprise and period.

pub mod accounts;
pub mod carbon;
pub mod config;
pub mod consumption;
pub mod equipping;
pub mod frame;
pub mod jobs;
pub mod leaders;
pub mod load;
pub mod period;
pub mod quality;
pub mod reference;
pub mod report;
