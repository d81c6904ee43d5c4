//! The stored-reading model shared by the collector and the analytics job: what a reading is
//! (medium, quantity, kind, canonical unit, quality, ids), how units convert into the canonical
//! ones, the embedded Parquet store that both binaries write and read, and the errors their
//! config files report.

pub mod config_file;
pub mod ids;
pub mod model;
pub mod store;
pub mod units;

pub use ids::{uscc_check_char, EnterpriseId, IdError, MeterId, SiteId};
pub use model::{Kind, Measure, Medium, ParseError, Phase, Quality, Quantity, Reading};
pub use units::{apply_scale, Dimension, Unit, UnitError, POW10};
