//! Reading a reference CSV file row by row, with every problem located as
//! `file:line:column: header: message`.

use std::path::Path;
use std::str::FromStr;

use readings::config_file::ConfigError;

/// One data row of a reference CSV file; problems found while reading it go to `errors`.
pub struct Row<'a> {
    file: &'a str,
    line: usize,
    headers: &'a [String],
    record: &'a csv::StringRecord,
    errors: &'a mut Vec<ConfigError>,
}

impl Row<'_> {
    fn index(&self, column: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == column)
    }

    /// Records a problem with `column` of this row.
    pub fn problem(&mut self, column: &str, message: impl Into<String>) {
        let col = self.index(column).map_or(0, |i| i + 1);
        self.errors.push(ConfigError { file: self.file.to_owned(), position: Some((self.line, col)), key: column.to_owned(), message: message.into() });
    }

    /// The trimmed text of `column`, `None` when the cell is empty or the column absent.
    pub fn text(&self, column: &str) -> Option<&str> {
        self.index(column).and_then(|i| self.record.get(i)).map(str::trim).filter(|t| !t.is_empty())
    }

    /// The text of a column that must not be empty.
    pub fn required(&mut self, column: &str) -> Option<String> {
        let value = self.text(column).map(str::to_owned);
        if value.is_none() {
            self.problem(column, "is empty; a value is required");
        }
        value
    }

    /// A required cell parsed as `T`.
    pub fn parse<T: FromStr>(&mut self, column: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.required(column)?;
        match text.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(column, format!("{text:?} {e}"));
                None
            }
        }
    }

    /// An optional cell parsed as `T`: `Some(None)` when empty, `None` when it does not parse.
    pub fn optional<T: FromStr>(&mut self, column: &str) -> Option<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(column).map(str::to_owned) {
            None => Some(None),
            Some(text) => match text.parse() {
                Ok(v) => Some(Some(v)),
                Err(e) => {
                    self.problem(column, format!("{text:?} {e}"));
                    None
                }
            },
        }
    }

    /// A required number that must be positive (or zero, if `zero_ok`).
    pub fn number(&mut self, column: &str, zero_ok: bool) -> Option<f64> {
        let v: f64 = self.parse::<Number>(column)?.0;
        if v < 0.0 || (!zero_ok && v == 0.0) {
            self.problem(column, format!("is {v}; it must be {}", if zero_ok { "zero or more" } else { "more than zero" }));
            return None;
        }
        Some(v)
    }

    /// The line this row is on, counting the header as line 1.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// A finite number, with a message that says so.
struct Number(f64);

impl FromStr for Number {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<f64>().ok().filter(|v| v.is_finite()).map(Number).ok_or("is not a number")
    }
}

/// Reads the CSV file at `path` (comma-separated, a header line, `#` comment lines) and calls
/// `each` for every row. Headers must be among `required` and `optional`, and every `required`
/// one must be there. Returns the problems found, by the reader or by `each`.
pub fn read(path: &Path, required: &[&str], optional: &[&str], mut each: impl FnMut(&mut Row)) -> Vec<ConfigError> {
    let file = path.display().to_string();
    let mut errors = Vec::new();
    let whole = |message: String| ConfigError { file: file.clone(), position: None, key: String::new(), message };
    let mut reader = match csv::ReaderBuilder::new().comment(Some(b'#')).trim(csv::Trim::All).from_path(path) {
        Ok(r) => r,
        Err(e) => return vec![whole(format!("cannot read the file: {e}"))],
    };
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return vec![whole(format!("cannot read the header line: {e}"))],
    };
    for (i, h) in headers.iter().enumerate() {
        if !required.contains(&h.as_str()) && !optional.contains(&h.as_str()) {
            let known: Vec<&str> = required.iter().chain(optional).copied().collect();
            errors.push(ConfigError {
                file: file.clone(),
                position: Some((1, i + 1)),
                key: h.clone(),
                message: format!("is not a column of this file; the columns are: {}", known.join(", ")),
            });
        }
    }
    for r in required {
        if !headers.iter().any(|h| h == r) {
            errors.push(ConfigError { file: file.clone(), position: Some((1, 1)), key: (*r).to_owned(), message: "column is missing".into() });
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let mut row = Row { file: &file, line, headers: &headers, record: &record, errors: &mut errors };
                each(&mut row);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(ConfigError { file: file.clone(), position: Some((line, 1)), key: String::new(), message: e.to_string() });
            }
        }
    }
    errors
}
