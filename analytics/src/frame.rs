//! Reading whole columns of a polars frame into plain vectors, for the steps that work row by
//! row (grading, facts for the leader selection).

use polars::prelude::*;

/// Column `name` as text; nulls become empty strings.
pub fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df.column(name)?.cast(&DataType::String)?.str()?.iter().map(|v| v.unwrap_or("").to_owned()).collect())
}

/// Column `name` as numbers; nulls stay `None`.
pub fn numbers(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
}
