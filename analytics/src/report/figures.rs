//! How every figure of the report and the workbook is rounded and which unit it carries: the
//! one place for presentation rules, so a table, a chart label and a workbook cell of the same
//! column never disagree. Computation is never rounded (docs/accounts.md, Tables).

/// What kind of figure a column holds; it decides the decimals and the unit shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Tonnes of coal equivalent.
    Tce,
    /// Tonnes of CO2.
    Co2T,
    /// Physical quantities in a counter's unit (kWh, m3, t, GJ ...).
    Physical,
    /// Intensities (kgce/t, m3/t ...): three significant figures.
    Intensity,
    /// Shares 0..1, shown as percent with one decimal.
    Share,
    /// Values already in percent (a percentile), one decimal.
    Percent,
    /// Hours.
    Hours,
    /// Counts.
    Count,
    /// Coefficients: as given in the reference files.
    Coefficient,
}

impl Figure {
    /// The figure kind of a table column, by the naming conventions of the account tables.
    pub fn of_column(column: &str) -> Option<Figure> {
        let c = column;
        Some(if c.contains("_per_") || c == "value" || c == "median" || c == "group_benchmark" || c == "candidates_level" || c == "advanced_value" || c.starts_with("sector_") {
            Figure::Intensity
        } else if c == "percentile" || c.ends_with("_percent") {
            Figure::Percent
        } else if c.ends_with("share") || c.ends_with("coverage") || c.starts_with("margin_") {
            Figure::Share
        } else if c.ends_with("_tce") || c == "tce" {
            Figure::Tce
        } else if c.starts_with("co2") && c.ends_with("_t") || c == "savings_co2_t" {
            Figure::Co2T
        } else if c.ends_with("_h") {
            Figure::Hours
        } else if c.ends_with("_kwh") || c.ends_with("_m3") || c.ends_with("_cny") || ["consumption", "boundary", "area_submetered", "device_submetered", "production", "savings", "green_kwh_counted"].contains(&c) {
            Figure::Physical
        } else if ["rank", "enterprises", "with_value", "eligible", "selected", "readings", "unusable", "count", "findings", "boundary_counters", "unusable_rows", "rollovers", "resets", "implausible", "glitches", "meters_past_calibration", "points", "equipped"].contains(&c) {
            Figure::Count
        } else if c.starts_with("kg") {
            Figure::Coefficient
        } else {
            return None;
        })
    }

    /// Decimals for a value of this kind and magnitude.
    pub fn decimals(self, v: f64) -> usize {
        match self {
            Figure::Tce | Figure::Co2T => 1,
            Figure::Physical => {
                if v.abs() >= 100.0 {
                    0
                } else {
                    2
                }
            }
            Figure::Intensity | Figure::Coefficient => significant(v, 3),
            Figure::Share | Figure::Percent => 1,
            Figure::Hours => 1,
            Figure::Count => 0,
        }
    }

    /// The value as the report shows it (shares as percent), with thousands separated.
    pub fn show(self, v: f64) -> String {
        if self == Figure::Share {
            return format!("{} %", group(&fixed(100.0 * v, 1)));
        }
        group(&fixed(v, self.decimals(v)))
    }

    /// The Excel number format of this kind (the cell keeps the unrounded value).
    pub fn excel_format(self) -> &'static str {
        match self {
            Figure::Tce | Figure::Co2T | Figure::Hours | Figure::Percent => "#,##0.0",
            Figure::Physical => "#,##0.00",
            Figure::Intensity | Figure::Coefficient => "0.000",
            Figure::Share => "0.0%",
            Figure::Count => "0",
        }
    }
}

/// An axis tick: as many decimals as the step between ticks needs (a share's axis in percent).
pub fn tick(v: f64, step: f64, f: Figure) -> String {
    let (v, step) = if f == Figure::Share { (100.0 * v, 100.0 * step) } else { (v, step) };
    let d = if step >= 1.0 || step <= 0.0 { 0 } else { (-step.log10()).ceil().clamp(0.0, 6.0) as usize };
    group(&fixed(v, d))
}

/// Decimals that give `n` significant figures of `v` (none for large values, at most 6).
pub fn significant(v: f64, n: i32) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 0;
    }
    let magnitude = v.abs().log10().floor() as i32 + 1;
    (n - magnitude).clamp(0, 6) as usize
}

/// `v` with exactly `d` decimals, no negative zero.
pub fn fixed(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

/// Commas between thousands of the integer part, from five digits on (1234 stays as it is).
fn group(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
    if int.len() <= 4 {
        return s.to_owned();
    }
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}{}", frac.map_or(String::new(), |f| format!(".{f}")))
}

/// The unit of a table column, where its name or the row says it (`unit` columns of meters and
/// media, `product_unit` of the accounts); None for text and ids.
pub fn column_unit(column: &str) -> Option<&'static str> {
    let c = column;
    Some(match c {
        "kgce_per_unit" => "kgce/product unit",
        "water_m3_per_unit" => "m3/product unit",
        "co2_t_per_unit" | "co2_process_t_per_unit" => "tCO2/product unit",
        "tce_per_10k_cny" => "tce/10k CNY",
        "co2_t_per_10k_cny" => "tCO2/10k CNY",
        "consumption" | "boundary" | "area_submetered" | "device_submetered" => "see unit column",
        "production" => "see product_unit",
        "value" | "median" | "group_benchmark" | "candidates_level" | "advanced_value" | "sector_benchmark" | "sector_baseline" => "see unit (leaders_groups)",
        "savings" => "see savings_unit",
        "kg_co2_per_unit" => "kgCO2/unit",
        "percentile" => "% of the group",
        _ if c.ends_with("_percent") => "%",
        _ if c.ends_with("_tce") || c == "tce" => "tce",
        _ if c.ends_with("_kwh") || c.ends_with("_kwh_counted") => "kWh",
        _ if c.ends_with("_m3") => "m3",
        _ if c.ends_with("_10k_cny") => "10k CNY",
        _ if c.starts_with("co2") && c.ends_with("_t") || c == "savings_co2_t" => "tCO2",
        _ if c.ends_with("_h") => "h",
        _ if c.ends_with("share") || c.ends_with("coverage") || c.starts_with("margin_") => "share (0-1)",
        _ => return None,
    })
}

/// A figure of kind `f` with its unit, or "-" when there is none.
pub fn with_unit(v: Option<f64>, f: Figure, unit: &str) -> String {
    match v.filter(|v| v.is_finite()) {
        None => "-".into(),
        Some(v) if f == Figure::Share || unit.is_empty() => f.show(v),
        Some(v) => format!("{} {unit}", f.show(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_kind_of_figure() {
        assert_eq!(Figure::of_column("energy_tce"), Some(Figure::Tce));
        assert_eq!(Figure::of_column("co2_purchased_electricity_t"), Some(Figure::Co2T));
        assert_eq!(Figure::of_column("kgce_per_unit"), Some(Figure::Intensity));
        assert_eq!(Figure::of_column("non_fossil_share"), Some(Figure::Share));
        assert_eq!(Figure::of_column("water_m3"), Some(Figure::Physical));
        assert_eq!(Figure::of_column("percentile"), Some(Figure::Percent), "already in percent: not a share");
        assert_eq!(Figure::Tce.show(12345.678), "12,345.7");
        assert_eq!(tick(2500.0, 2500.0, Figure::Physical), "2500");
        assert_eq!(tick(0.25, 0.05, Figure::Intensity), "0.25");
        assert_eq!(tick(20000.0, 10000.0, Figure::Co2T), "20,000");
        assert_eq!(Figure::Intensity.show(89.964), "90.0");
        assert_eq!(Figure::Intensity.show(0.25312), "0.253");
        assert_eq!(Figure::Share.show(0.9512), "95.1 %");
        assert_eq!(Figure::Physical.show(1234567.4), "1,234,567");
        assert_eq!(Figure::Co2T.show(-0.01), "0.0");
        assert_eq!(column_unit("electricity_net_kwh"), Some("kWh"));
        assert_eq!(column_unit("co2_t"), Some("tCO2"));
        assert_eq!(with_unit(Some(1.5), Figure::Tce, "tce"), "1.5 tce");
        assert_eq!(with_unit(None, Figure::Tce, "tce"), "-");
    }
}
