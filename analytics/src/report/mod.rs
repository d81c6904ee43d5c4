//! What programme officers and enterprises read: the HTML report ([`html`]) with its charts
//! ([`svg`]), a one-page HTML summary per enterprise, and an XLSX workbook of the tables.

pub mod html;
pub mod svg;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polars::prelude::*;

pub use html::ReportInput;

/// Writes `report.html`, `enterprises/<id>.html` for every enterprise assessed, and
/// `leaders.xlsx` (one sheet per table) into `dir`; returns the report's path.
pub fn write(dir: &Path, input: &ReportInput, sheets: &[(&str, &DataFrame)]) -> anyhow::Result<PathBuf> {
    let report = dir.join("report.html");
    std::fs::write(&report, html::report(input)?).with_context(|| format!("writing {}", report.display()))?;
    let pages = dir.join("enterprises");
    std::fs::create_dir_all(&pages).with_context(|| format!("creating {}", pages.display()))?;
    let mut enterprises: Vec<&str> = input.results.iter().flat_map(|r| r.assessments.iter().map(|a| a.enterprise.as_str())).collect();
    enterprises.sort_unstable();
    enterprises.dedup();
    for e in enterprises {
        let path = pages.join(format!("{e}.html"));
        std::fs::write(&path, html::enterprise_page(input, e)?).with_context(|| format!("writing {}", path.display()))?;
    }
    write_xlsx(&dir.join("leaders.xlsx"), sheets)?;
    Ok(report)
}

/// One worksheet per table: a header row, numbers as numbers, empty cells for nulls.
pub fn write_xlsx(path: &Path, sheets: &[(&str, &DataFrame)]) -> anyhow::Result<()> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, df) in sheets {
        let ws = book.add_worksheet();
        ws.set_name(*name)?;
        for (c, column) in df.columns().iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| anyhow::anyhow!("too many columns for a worksheet"))?;
            ws.write_string(0, c, column.name().as_str())?;
            let numeric = column.dtype().is_primitive_numeric();
            let text = column.cast(&DataType::String)?;
            let floats = if numeric { Some(column.cast(&DataType::Float64)?) } else { None };
            for r in 0..df.height() {
                let row = u32::try_from(r + 1).map_err(|_| anyhow::anyhow!("too many rows for a worksheet"))?;
                match &floats {
                    Some(f) => {
                        if let Some(v) = f.f64()?.get(r).filter(|v| v.is_finite()) {
                            ws.write_number(row, c, v)?;
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
    }
    book.save(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
