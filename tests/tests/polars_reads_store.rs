//! The store the collector writes is readable by polars with no other setup: `analytics summary`
//! scans it lazily (hive partitions) and finds exactly what the store's own reader finds.

use chrono::{DateTime, Utc};
use e2e::{bin, device, run_collector, write_config, Sim};

#[test]
fn analytics_summary_counts_what_the_collector_stored() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=tuf2000m:exceptions=0.3", "--device", "3=acrel_adw300"]);
    let dir = tempfile::tempdir().unwrap();
    let devices = [
        device("incomer", sim.port(), 1, "eastron_sdm630", "1s", ""),
        device("water", sim.port(), 2, "tuf2000m", "1s", ""),
        device("kiln", sim.port(), 3, "acrel_adw300", "1s", ""),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    assert!(run_collector(&config, "3500ms").status.success());

    let store = dir.path().join("data/readings");
    let stored = readings::store::read_range(&store, DateTime::from_timestamp(0, 0).unwrap(), Utc::now()).unwrap();
    let out = std::process::Command::new(bin("analytics")).args(["summary", "--store"]).arg(&store).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");

    let series = 16 + 2 + 1;
    assert!(stdout.contains(&format!("{series} series of 1 enterprise(s), {} readings", stored.len())), "{stdout}");
    // Columns: enterprise, site, meter, quantity, unit, readings, no value, by quality ..., first, last.
    let enterprise = stored[0].enterprise.to_string();
    let rows: Vec<Vec<&str>> = stdout.lines().filter(|l| l.starts_with(&enterprise)).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), series, "{stdout}");
    // The water meter's failed polls are rows without a value, counted per series.
    let volume = rows.iter().find(|c| c[2] == "water" && c[3] == "volume").expect("a volume row");
    let missing = stored.iter().filter(|r| r.meter.as_str() == "water" && r.quantity.to_string() == "volume" && r.value.is_none()).count();
    assert_eq!(volume[6], missing.to_string(), "{volume:?}");
    // Every series: its readings and those without a value, however the store encoded the
    // values (decimal mantissas or doubles), as the store's reader counts them; and its readings
    // by quality, which add up to them.
    for cols in rows.iter().filter(|c| ["incomer", "water", "kiln"].contains(&c[2])) {
        let of_series: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == cols[2] && r.quantity.to_string() == cols[3]).collect();
        assert_eq!(cols[5], of_series.len().to_string(), "{cols:?}");
        assert_eq!(cols[6], of_series.iter().filter(|r| r.value.is_none()).count().to_string(), "{cols:?}");
        let breakdown: Vec<&str> = cols[7..].iter().take_while(|t| !t.starts_with("20")).copied().collect();
        for pair in breakdown.chunks(2) {
            let (quality, n) = (pair[0], pair[1].trim_end_matches(','));
            let expected = of_series.iter().filter(|r| r.quality.to_string() == quality).count();
            assert_eq!(n, expected.to_string(), "{quality} in {cols:?}");
        }
        let total: usize = breakdown.chunks(2).map(|p| p[1].trim_end_matches(',').parse::<usize>().unwrap()).sum();
        assert_eq!(total, of_series.len(), "{cols:?}");
    }
    // The Acrel meter's energy register is an integer times 0.01: short decimals, stored as
    // mantissas, and counted above like the doubles.
    let kiln: Vec<f64> = stored.iter().filter(|r| r.meter.as_str() == "kiln").filter_map(|r| r.value).collect();
    assert!(!kiln.is_empty() && kiln.iter().all(|v| *v == (v * 100.0).round() / 100.0), "{kiln:?}");
}
