//! Where readings go once normalised.

pub mod parquet;
