//! The metering centre's overview of a run (`index.html`): every enterprise with its grade,
//! coverage, totals, intensities and leader status, sortable by any column (a small inline
//! script; the page reads fine without it, sorted by group and name), linking to each
//! enterprise's page; the run's inputs at the foot. `print.html` is the overview followed by
//! every enterprise's one-page summary.

use std::fmt::Write as _;

use polars::prelude::*;

use super::enterprise::summary;
use super::figures::Figure;
use super::html::{enterprise_link, page, result_text, rules_of, ReportInput, Rows};
use super::svg::esc;
use crate::leaders::Programme;

/// Sorts a `table.sortable` by the clicked heading, numbers by their `data-v`, text as Chinese.
const SORT: &str = "document.querySelectorAll('table.sortable').forEach(function(t){var hs=t.tHead.rows[0].cells;\
Array.prototype.forEach.call(hs,function(th,i){th.dataset.k='1';th.tabIndex=0;th.addEventListener('click',function(){\
var asc=th.dataset.sort!=='asc';Array.prototype.forEach.call(hs,function(h){delete h.dataset.sort});th.dataset.sort=asc?'asc':'desc';\
var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);function key(r){var c=r.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent.trim();\
if(v==='')return null;var n=Number(v);return isNaN(n)?v:n}\
rows.sort(function(x,y){var a=key(x),c=key(y);if(a===null)return c===null?0:1;if(c===null)return -1;\
var o=typeof a==='number'&&typeof c==='number'?a-c:String(a).localeCompare(String(c),'zh');return asc?o:-o});\
rows.forEach(function(r){b.appendChild(r)})})})});";

/// A numeric cell: shown rounded, sorted by its exact value.
fn num_cell(v: Option<f64>, f: Figure) -> String {
    match v {
        Some(v) => format!("<td class=n data-v=\"{v}\">{}</td>", f.show(v)),
        None => "<td class=n data-v=\"\">-</td>".to_owned(),
    }
}

/// The overview table and what it was computed from.
fn overview_body(input: &ReportInput, prefix: &str) -> PolarsResult<String> {
    let accounts = Rows::of(&input.window_tables.accounts)?;
    let quality = Rows::of(&input.window_tables.quality)?;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>计量中心总览 Metering centre overview</h1><p>统计期 Window <b>{}</b>: calendar months in {} · {} enterprises · \
         <span class=noprint>click a heading to sort; </span>each name opens the enterprise's page.</p>",
        esc(&input.window),
        esc(&input.zone),
        input.reference.enterprises.len()
    );
    b.push_str(
        "<table class=sortable><thead><tr><th>企业 Enterprise</th><th>产品组 Group</th><th>等级<br>Grade</th><th>覆盖率<br>Coverage</th>\
         <th>综合能耗<br>Energy tce</th><th>取水<br>Water m3</th><th>CO2<br>tCO2</th><th>能效指标<br>Energy indicator</th><th>能效领跑<br>Energy leaders</th>\
         <th>水效指标<br>Water indicator</th><th>水效领跑<br>Water leaders</th></tr></thead><tbody>",
    );
    let mut rows: Vec<_> = accounts.cells.iter().collect();
    rows.sort_by(|x, y| (accounts.get(x, "product_group"), accounts.get(x, "name")).cmp(&(accounts.get(y, "product_group"), accounts.get(y, "name"))));
    for row in rows {
        let e = accounts.get(row, "enterprise");
        let q = quality.of_enterprise(e).next();
        let programme = |p: Programme| -> (String, String) {
            let found = input.results.iter().filter(|r| r.programme == p).find_map(|r| r.assessments.iter().find(|a| a.enterprise == e).map(|a| (r, a)));
            match found {
                None => ("<td class=n data-v=\"\">-</td>".to_owned(), "<td>-</td>".to_owned()),
                Some((r, a)) => {
                    let unit = rules_of(input.rules, r).map_or("", |rule| rule.unit.as_str());
                    let value = match a.value {
                        Some(v) => format!("<td class=n data-v=\"{v}\">{} {}</td>", Figure::Intensity.show(v), esc(unit)),
                        None => "<td class=n data-v=\"\">-</td>".to_owned(),
                    };
                    let class = if a.selected { " class=cand" } else if !a.eligible() { " class=bad" } else { "" };
                    let status = if a.selected { "CANDIDATE" } else if a.eligible() { "eligible" } else { "excluded" };
                    (value, format!("<td{class} data-v=\"{status}\" title=\"{}\">{status}{}</td>", esc(&result_text(a)), if a.eligible() { String::new() } else { format!(" ({})", a.failed.len()) }))
                }
            }
        };
        let (ev, es) = programme(Programme::Energy);
        let (wv, ws) = programme(Programme::Water);
        let _ = write!(
            b,
            "<tr><td data-v=\"{name}\">{link}<br><span class=muted>{e}</span></td><td>{group}</td><td>{grade}</td>{cov}{tce}{water}{co2}{ev}{es}{wv}{ws}</tr>",
            name = esc(accounts.get(row, "name")),
            link = enterprise_link(prefix, e, accounts.get(row, "name")),
            e = esc(e),
            group = esc(accounts.get(row, "product_group")),
            grade = esc(q.map_or("-", |q| quality.get(q, "grade"))),
            cov = num_cell(q.and_then(|q| quality.number(q, "coverage")), Figure::Share),
            tce = num_cell(accounts.number(row, "energy_tce"), Figure::Tce),
            water = num_cell(accounts.number(row, "water_m3"), Figure::Physical),
            co2 = num_cell(accounts.number(row, "co2_t"), Figure::Co2T),
        );
    }
    b.push_str("</tbody></table><p class=muted>Status counts the failed gates in brackets; the enterprise's page names each. Energy and water indicators are each product group's own (kgce or m3 per unit of its product).</p>");
    Ok(b)
}

/// What the run read: the store, the periods, the reference files with their SHA-256 checksums
/// and the coefficient editions, so a printed report says what it was computed from.
pub fn inputs_foot(input: &ReportInput) -> String {
    let i = input.inputs;
    let mut b = String::from("<h2>输入 Inputs of this run</h2><table><tr><th>What</th><th>File or value</th><th>SHA-256</th></tr>");
    let _ = write!(b, "<tr><td>readings</td><td>{}</td><td></td></tr><tr><td>periods</td><td>{}</td><td></td></tr>", esc(&i.store), esc(&i.periods));
    for f in &i.files {
        let _ = write!(b, "<tr><td>{}</td><td>{}</td><td><code style=\"font-size:9px\">{}</code></td></tr>", esc(&f.role), esc(&f.path), esc(&f.sha256));
    }
    let c = &input.reference.coefficients;
    let mut editions: Vec<String> = c.energy.iter().map(|r| r.source.clone()).chain(c.grid.iter().map(|r| r.source.clone())).collect();
    editions.sort();
    editions.dedup();
    let _ = write!(b, "<tr><td>coefficient editions</td><td colspan=2>{}</td></tr></table>", esc(&editions.join(" · ")));
    b
}

/// `index.html`.
pub fn index(input: &ReportInput) -> PolarsResult<String> {
    let mut b = String::from("<nav><a href=\"report.html\">领跑者报告 Leader report</a> · <a href=\"print.html\">打印版 Print version</a> · <a href=\"leaders.xlsx\">leaders.xlsx</a></nav>");
    b.push_str(&overview_body(input, "")?);
    b.push_str(&inputs_foot(input));
    Ok(page("Overview · 总览", &b, SORT))
}

/// `print.html`: the overview, then each enterprise's summary on a page of its own.
pub fn print(input: &ReportInput, enterprises: &[&str]) -> PolarsResult<String> {
    let mut b = String::from("<section class=overview>");
    b.push_str(&overview_body(input, "")?);
    b.push_str(&inputs_foot(input));
    b.push_str("</section>");
    for e in enterprises {
        b.push_str(&summary(input, e, "")?);
    }
    Ok(page("Report for print · 打印版", &b, ""))
}
