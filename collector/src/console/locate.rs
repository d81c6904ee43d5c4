//! Where a key path such as `modbus.devices[1].port` is written in a TOML text, so that the
//! console can show a problem found after parsing (which knows the key, not the place) at its
//! line. Headers (`[a.b]`, `[[a.b]]`) and `key = value` lines are followed; inline tables count
//! as the line of their key.

use std::collections::HashMap;

/// The 1-based line of `key` in `text`: the line that sets it, or else the header of the
/// nearest table around it; `None` when neither is written (a key left to its default in a table
/// that is not written either).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut header = String::new();
    // Last index taken by each array of tables, by its unindexed path.
    let mut current: HashMap<String, usize> = HashMap::new();
    // How many entries each array of tables has under one parent, by indexed path.
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut best: Option<(usize, usize)> = None;
    let mut consider = |path: &str, line: usize| {
        if path == key {
            best = Some((usize::MAX, line));
        } else if key.starts_with(path) && key[path.len()..].starts_with(['.', '[']) && best.is_none_or(|(len, _)| path.len() > len) {
            best = Some((path.len(), line));
        }
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let path = normalise(inner);
            let (parent, last) = path.rsplit_once('.').map_or((String::new(), path.as_str()), |(p, l)| (indexed(p, &current), l));
            let array = if parent.is_empty() { last.to_owned() } else { format!("{parent}.{last}") };
            let count = counts.entry(array.clone()).or_insert(0);
            let index = *count;
            *count += 1;
            current.insert(path.clone(), index);
            header = format!("{array}[{index}]");
            consider(&header, n + 1);
        } else if let Some(inner) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            header = indexed(&normalise(inner), &current);
            consider(&header, n + 1);
        } else if let Some((k, _)) = line.split_once('=') {
            let k = normalise(k);
            let path = if header.is_empty() { k } else { format!("{header}.{k}") };
            consider(&path, n + 1);
        }
    }
    best.map(|(_, line)| line)
}

/// A dotted key without spaces or quotes.
fn normalise(key: &str) -> String {
    key.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".")
}

/// `path` with the current index after every prefix that is an array of tables.
fn indexed(path: &str, current: &HashMap<String, usize>) -> String {
    let mut out = String::new();
    let mut plain = String::new();
    for part in path.split('.') {
        if !plain.is_empty() {
            plain.push('.');
            out.push('.');
        }
        plain.push_str(part);
        out.push_str(part);
        if let Some(i) = current.get(&plain) {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[gateway]\nenterprise = \"x\"\nsite = \"p\"\n\n[[modbus.devices]]\nname = \"a\"\nport = 502\n\n[[modbus.devices]]\nname = \"b\"\nport = 70000\n[[modbus.devices.points]]\nname = \"e\"\n[[modbus.devices.points]]\nname = \"f\"\nunit = \"kWh\"\n\n[mqtt]\nhost = \"h\"\n";

    #[test]
    fn keys_are_found_at_their_lines() {
        assert_eq!(line_of(TEXT, "gateway.site"), Some(3));
        assert_eq!(line_of(TEXT, "modbus.devices[0].port"), Some(7));
        assert_eq!(line_of(TEXT, "modbus.devices[1].port"), Some(11));
        assert_eq!(line_of(TEXT, "modbus.devices[1].points[1].unit"), Some(16));
        // A key left out falls back to its table's header.
        assert_eq!(line_of(TEXT, "modbus.devices[1].points[0].unit"), Some(12));
        assert_eq!(line_of(TEXT, "mqtt.port"), Some(18));
        assert_eq!(line_of(TEXT, "storage.data_dir"), None);
    }
}
