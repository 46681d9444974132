//! The result of a run: a list of named figures, printed as a table or as JSON.

use std::fmt::Write as _;

/// One figure of the result.
#[derive(Debug, Clone)]
pub enum Value {
    /// A number (printed with the given decimals).
    Num(f64, usize),
    /// A piece of text.
    Text(String),
}

/// The figures of one run, in the order they were added.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<(&'static str, Value, &'static str)>,
}

impl Report {
    /// Adds a number with its unit.
    pub fn num(&mut self, name: &'static str, value: f64, decimals: usize, unit: &'static str) {
        self.rows.push((name, Value::Num(value, decimals), unit));
    }

    /// Adds a piece of text.
    pub fn text(&mut self, name: &'static str, value: impl Into<String>) {
        self.rows.push((name, Value::Text(value.into()), ""));
    }

    /// A two-column table for people.
    pub fn table(&self) -> String {
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, value, unit) in &self.rows {
            let value = match value {
                Value::Num(v, d) => format!("{v:.d$}", d = *d),
                Value::Text(t) => t.clone(),
            };
            let _ = writeln!(out, "{name:<width$}  {value:>14} {unit}");
        }
        out
    }

    /// One JSON object; names carry their unit as a suffix already.
    pub fn json(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value, _)) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{name}\": ");
            match value {
                Value::Num(v, _) if v.is_finite() => {
                    let _ = write!(out, "{v}");
                }
                Value::Num(..) => out.push_str("null"),
                Value::Text(t) => {
                    out.push('"');
                    for c in t.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(out, "\\u{:04x}", c as u32);
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
            }
        }
        out.push('}');
        out
    }
}
