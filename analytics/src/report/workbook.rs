//! `leaders.xlsx`: every table the run writes as CSV, one sheet each, cell for cell (the values
//! unrounded, shown through number formats), under a header of the column names and a row of
//! their units, frozen; a `totals` sheet whose sums are formulas over the monthly sheet, and
//! whose intensities are formulas over those sums, so that a spreadsheet user sees the window's
//! totals and indicators recompute from the months; a `sources` sheet with the run's inputs and
//! every coefficient with its source.

use std::path::Path;

use anyhow::Context as _;
use polars::prelude::*;
use rust_xlsxwriter::{Format, Formula, Workbook, Worksheet};

use super::figures::{column_unit, Figure};
use super::inputs::RunInputs;

/// Rows above the data of every table sheet: the column names and their units.
pub const HEADER_ROWS: u32 = 2;

/// The monthly figures the `totals` sheet sums per enterprise.
pub const TOTALS: [&str; 10] = ["energy_tce", "water_m3", "co2_t", "co2_combustion_t", "co2_process_t", "co2_purchased_electricity_t", "co2_purchased_heat_t", "co2_exports_t", "electricity_net_kwh", "production"];

/// The intensities the `totals` sheet divides out of its sums, as the accounts define them
/// (docs/accounts.md): (indicator, numerator among [`TOTALS`], factor); the denominator is
/// `production`.
pub const INTENSITIES: [(&str, &str, f64); 3] = [("kgce_per_unit", "energy_tce", 1000.0), ("water_m3_per_unit", "water_m3", 1.0), ("co2_t_per_unit", "co2_t", 1.0)];

fn too_many(what: &str) -> anyhow::Error {
    anyhow::anyhow!("too many {what} for a worksheet")
}

/// The spreadsheet name of column `c` (0 = A).
pub fn column_letter(c: u16) -> String {
    let mut n = u32::from(c) + 1;
    let mut s = String::new();
    while n > 0 {
        let r = (n - 1) % 26;
        s.insert(0, char::from(b'A' + r as u8));
        n = (n - 1) / 26;
    }
    s
}

fn table_sheet(ws: &mut Worksheet, name: &str, df: &DataFrame) -> anyhow::Result<()> {
    ws.set_name(name)?;
    let bold = Format::new().set_bold();
    let unit_format = Format::new().set_italic().set_font_color("#555555");
    for (c, column) in df.columns().iter().enumerate() {
        let c = u16::try_from(c).map_err(|_| too_many("columns"))?;
        let title = column.name().as_str();
        ws.write_string_with_format(0, c, title, &bold)?;
        ws.write_string_with_format(1, c, column_unit(title).unwrap_or("-"), &unit_format)?;
        ws.set_column_width(c, (title.len() as f64 + 2.0).clamp(9.0, 28.0))?;
        let numeric = column.dtype().is_primitive_numeric();
        let format = Figure::of_column(title).map(|f| Format::new().set_num_format(f.excel_format()));
        let text = column.cast(&DataType::String)?;
        let floats = if numeric { Some(column.cast(&DataType::Float64)?) } else { None };
        for r in 0..df.height() {
            let row = u32::try_from(r).ok().and_then(|r| r.checked_add(HEADER_ROWS)).ok_or_else(|| too_many("rows"))?;
            match &floats {
                Some(f) => {
                    match f.f64()?.get(r) {
                        Some(v) if v.is_finite() => {
                            match &format {
                                Some(fmt) => ws.write_number_with_format(row, c, v, fmt)?,
                                None => ws.write_number(row, c, v)?,
                            };
                        }
                        // As the CSV has it (a share of nothing is NaN), not a blank.
                        Some(v) => {
                            ws.write_string(row, c, v.to_string())?;
                        }
                        None => {}
                    }
                }
                None => {
                    if let Some(s) = text.str()?.get(r) {
                        ws.write_string(row, c, s)?;
                    }
                }
            }
        }
    }
    ws.set_freeze_panes(HEADER_ROWS, 0)?;
    Ok(())
}

/// Per enterprise, each of [`TOTALS`] summed over the months with SUMIFS on `monthly_accounts`,
/// and a last row summing the enterprises; each formula carries its computed result, so that
/// readers that do not recalculate show it too.
fn totals_sheet(ws: &mut Worksheet, monthly: &DataFrame) -> anyhow::Result<()> {
    ws.set_name("totals")?;
    let bold = Format::new().set_bold();
    let names: Vec<String> = monthly.get_column_names().iter().map(|c| c.to_string()).collect();
    let letter = |name: &str| -> anyhow::Result<String> {
        let i = names.iter().position(|c| c == name).with_context(|| format!("monthly_accounts has no {name}"))?;
        Ok(column_letter(u16::try_from(i).map_err(|_| too_many("columns"))?))
    };
    let first = HEADER_ROWS + 1;
    let last = HEADER_ROWS + u32::try_from(monthly.height()).map_err(|_| too_many("rows"))?.max(1);
    let ent_col = letter("enterprise")?;
    let enterprises = crate::frame::strings(monthly, "enterprise")?;
    let mut unique = enterprises.clone();
    unique.sort();
    unique.dedup();
    ws.write_string_with_format(0, 0, "enterprise", &bold)?;
    ws.write_string(1, 0, "sum of the months of monthly_accounts (SUMIFS)")?;
    ws.set_column_width(0, 24.0)?;
    // Per total, its sum for each enterprise: the intensities below divide them.
    let mut sums: Vec<Vec<f64>> = Vec::with_capacity(TOTALS.len());
    for (k, total) in TOTALS.iter().enumerate() {
        let c = u16::try_from(k + 1).map_err(|_| too_many("columns"))?;
        ws.write_string_with_format(0, c, *total, &bold)?;
        ws.write_string(1, c, column_unit(total).unwrap_or(""))?;
        ws.set_column_width(c, (total.len() as f64 + 2.0).clamp(10.0, 28.0))?;
        let fmt = Format::new().set_num_format(Figure::of_column(total).map_or("0.00", Figure::excel_format));
        let values = crate::frame::numbers(monthly, total)?;
        let col = letter(total)?;
        let mut grand = 0.0;
        let mut of_each = Vec::with_capacity(unique.len());
        for (i, e) in unique.iter().enumerate() {
            let row = HEADER_ROWS + u32::try_from(i).map_err(|_| too_many("rows"))?;
            let sum: f64 = enterprises.iter().zip(&values).filter(|(x, _)| *x == e).filter_map(|(_, v)| *v).sum();
            of_each.push(sum);
            grand += sum;
            let text = format!("=SUMIFS(monthly_accounts!${col}${first}:${col}${last},monthly_accounts!${ent_col}${first}:${ent_col}${last},$A{})", row + 1);
            ws.write_formula_with_format(row, c, Formula::new(text).set_result(sum.to_string()), &fmt)?;
            if k == 0 {
                ws.write_string(row, 0, e)?;
            }
        }
        sums.push(of_each);
        let row = HEADER_ROWS + u32::try_from(unique.len()).map_err(|_| too_many("rows"))?;
        if k == 0 {
            ws.write_string_with_format(row, 0, "all enterprises", &bold)?;
        }
        // Products differ between enterprises: their sum means nothing.
        if *total == "production" {
            continue;
        }
        let l = column_letter(c);
        let text = format!("=SUM({l}{}:{l}{})", HEADER_ROWS + 1, row.max(HEADER_ROWS + 1));
        ws.write_formula_with_format(row, c, Formula::new(text).set_result(grand.to_string()), &fmt.clone().set_bold())?;
    }
    // The window's intensities from the sums beside them; none for the row of all enterprises.
    let total_at = |name: &str| TOTALS.iter().position(|t| *t == name).with_context(|| format!("{name} is not summed"));
    let column_of = |k: usize| column_letter(k as u16 + 1);
    let production_at = total_at("production")?;
    let production = column_of(production_at);
    for (j, (indicator, numerator, factor)) in INTENSITIES.iter().enumerate() {
        let c = u16::try_from(TOTALS.len() + 1 + j).map_err(|_| too_many("columns"))?;
        ws.write_string_with_format(0, c, *indicator, &bold)?;
        ws.write_string(1, c, column_unit(indicator).unwrap_or(""))?;
        ws.set_column_width(c, (indicator.len() as f64 + 2.0).clamp(10.0, 28.0))?;
        let fmt = Format::new().set_num_format(Figure::Intensity.excel_format());
        let numerator_at = total_at(numerator)?;
        let num = column_of(numerator_at);
        for i in 0..unique.len() {
            let row = HEADER_ROWS + u32::try_from(i).map_err(|_| too_many("rows"))?;
            let (n, d) = (sums[numerator_at][i], sums[production_at][i]);
            // No production, no indicator: a cached empty result would read as 0, the best
            // value there is, in readers that do not recalculate.
            if d <= 0.0 {
                ws.write_string(row, c, "-")?;
                continue;
            }
            let r = row + 1;
            let text = format!("=IF({production}{r}>0,{num}{r}*{factor}/{production}{r},\"-\")");
            ws.write_formula_with_format(row, c, Formula::new(text).set_result((n * factor / d).to_string()), &fmt)?;
        }
    }
    ws.set_freeze_panes(HEADER_ROWS, 1)?;
    Ok(())
}

fn sources_sheet(ws: &mut Worksheet, inputs: &RunInputs, coefficients: &[(String, String, String)]) -> anyhow::Result<()> {
    ws.set_name("sources")?;
    let bold = Format::new().set_bold();
    for (c, (h, w)) in [("what", 30.0), ("file, value", 60.0), ("SHA-256, source", 70.0)].iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, *h, &bold)?;
        ws.set_column_width(c, *w)?;
    }
    let mut rows: Vec<(String, String, String)> = vec![("readings".into(), inputs.store.clone(), String::new()), ("periods".into(), inputs.periods.clone(), String::new())];
    rows.extend(inputs.files.iter().map(|f| (f.role.clone(), f.path.clone(), f.sha256.clone())));
    rows.push((String::new(), String::new(), String::new()));
    rows.push(("coefficient".into(), "value".into(), "source".into()));
    rows.extend(coefficients.iter().cloned());
    for (r, (a, b, c)) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| too_many("rows"))?;
        ws.write_string(r, 0, a)?;
        ws.write_string(r, 1, b)?;
        ws.write_string(r, 2, c)?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// Writes the workbook: a sheet per table of `sheets`, then `totals` (over the sheet named
/// `monthly_accounts`, if given) and `sources`.
pub fn write(path: &Path, sheets: &[(&str, &DataFrame)], inputs: &RunInputs, coefficients: &[(String, String, String)]) -> anyhow::Result<()> {
    let mut book = Workbook::new();
    for (name, df) in sheets {
        table_sheet(book.add_worksheet(), name, df).with_context(|| format!("sheet {name}"))?;
    }
    if let Some((_, monthly)) = sheets.iter().find(|(n, _)| *n == "monthly_accounts") {
        totals_sheet(book.add_worksheet(), monthly).context("sheet totals")?;
    }
    sources_sheet(book.add_worksheet(), inputs, coefficients).context("sheet sources")?;
    book.save(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_letters() {
        assert_eq!(super::column_letter(0), "A");
        assert_eq!(super::column_letter(25), "Z");
        assert_eq!(super::column_letter(26), "AA");
        assert_eq!(super::column_letter(52), "BA");
    }
}
