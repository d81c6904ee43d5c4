//! `production.csv`: what each enterprise made in each month, and the output value.

use std::collections::BTreeMap;
use std::path::Path;

use readings::config_file::ConfigError;
use readings::EnterpriseId;

use super::csv_rows;
use super::enterprises::{known_enterprise, Enterprise};
use crate::period::Month;

/// One enterprise's output of one product in one month.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductionRow {
    pub enterprise: EnterpriseId,
    pub month: Month,
    pub product: String,
    pub quantity: f64,
    /// The product's unit as the statistics report it (t, m2, pieces ...).
    pub unit: String,
    /// Output value, in 10,000 CNY.
    pub output_value: f64,
}

const REQUIRED: &[&str] = &["enterprise", "month", "product", "quantity", "unit", "output_value_10k_cny"];

/// Reads `production.csv`; one row per enterprise, month and product.
pub fn load(path: &Path, enterprises: &BTreeMap<EnterpriseId, Enterprise>) -> Result<Vec<ProductionRow>, Vec<ConfigError>> {
    let mut out: Vec<ProductionRow> = Vec::new();
    let mut seen: BTreeMap<(EnterpriseId, Month, String), (usize, String)> = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, &[], |row| {
        let enterprise = known_enterprise(row, enterprises);
        let month = row.parse::<Month>("month");
        let product = row.required("product");
        let quantity = row.number("quantity", true);
        let unit = row.required("unit");
        let output_value = row.number("output_value_10k_cny", true);
        if let (Some(enterprise), Some(month), Some(product), Some(quantity), Some(unit), Some(output_value)) = (enterprise, month, product, quantity, unit, output_value) {
            if let Some((line, _)) = seen.insert((enterprise.clone(), month, product.clone()), (row.line(), unit.clone())) {
                row.problem("product", format!("{product} in {month} is already on line {line}"));
                return;
            }
            if let Some(((_, _, _), (line, other))) = seen.iter().find(|((e, _, p), (_, u))| *e == enterprise && *p == product && *u != unit) {
                row.problem("unit", format!("{unit} differs from {other} on line {line} for the same product; one unit per product"));
                return;
            }
            out.push(ProductionRow { enterprise, month, product, quantity, unit, output_value });
        }
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
