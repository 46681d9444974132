//! The result of a run: a list of named figures, printed as a table or as one JSON object.
//!
//! The JSON object maps each figure's name (which carries its unit as a suffix, e.g.
//! `latency_p50_us`) to its value: counts as integers, measurements as numbers (`null` when not
//! finite, e.g. CPU per operation with no operation), text as strings. `bench/compare.py` and
//! `bench/idle100k.py` read these names.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// One figure of the result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Something counted (connections, operations, errors): an integer in JSON.
    Count(u64),
    /// A measurement: rounded in the table, full precision in JSON.
    Num(f64),
    /// A piece of text.
    Text(String),
}

/// One named figure, with the decimals and the unit the table shows it with.
#[derive(Debug, Clone)]
struct Row {
    name: &'static str,
    value: Value,
    decimals: usize,
    unit: &'static str,
}

/// The figures of one run, in the order they were added.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Adds a count with its unit.
    pub fn count(&mut self, name: &'static str, value: u64, unit: &'static str) {
        self.push(name, Value::Count(value), 0, unit);
    }

    /// Adds a number with its unit.
    pub fn num(&mut self, name: &'static str, value: f64, decimals: usize, unit: &'static str) {
        self.push(name, Value::Num(value), decimals, unit);
    }

    /// Adds a piece of text.
    pub fn text(&mut self, name: &'static str, value: impl Into<String>) {
        self.push(name, Value::Text(value.into()), 0, "");
    }

    /// The operations of the measurement window (`ops`), once measured (0 before).
    pub fn ops(&self) -> u64 {
        match self.get("ops") {
            Some(Value::Count(n)) => *n,
            _ => 0,
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.rows.iter().find(|r| r.name == name).map(|r| &r.value)
    }

    fn push(&mut self, name: &'static str, value: Value, decimals: usize, unit: &'static str) {
        debug_assert!(
            self.rows.iter().all(|r| r.name != name),
            "figure {name} added twice: the JSON object would have a duplicate key"
        );
        self.rows.push(Row {
            name,
            value,
            decimals,
            unit,
        });
    }

    /// A two-column table for people.
    pub fn table(&self) -> String {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for Row {
            name,
            value,
            decimals,
            unit,
        } in &self.rows
        {
            let value = match value {
                Value::Count(n) => n.to_string(),
                Value::Num(v) => format!("{v:.d$}", d = *decimals),
                Value::Text(t) => t.clone(),
            };
            out.push_str(&format!("{name:<width$}  {value:>14} {unit}\n"));
        }
        out
    }

    /// One JSON object on one line, figures in the order they were added.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

/// A JSON object of `name: value`, in the order added (a derive would give a list of rows).
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.rows.len()))?;
        for row in &self.rows {
            map.serialize_entry(row.name, &row.value)?;
        }
        map.end()
    }
}

/// The line `--hold` prints on stdout with `--json` once every connection is open, before the
/// hold: `bench/idle100k.py` reads the server's memory while every generator holds.
#[derive(Debug, serde::Serialize)]
pub struct Held {
    /// Always `"held"`: tells this line from the report that follows it.
    pub event: &'static str,
    /// The generator's process id.
    pub pid: u32,
    /// Connections open.
    pub open: u64,
    /// Errors so far.
    pub errors: u64,
    /// The hold's bound in seconds.
    pub hold_s: f64,
}

impl Held {
    /// One JSON object on one line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a held line always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_one_object_with_typed_values_in_order() {
        let mut report = Report::default();
        report.text("scenario", "echo \"16\"\\\n");
        report.count("ops", 300, "messages");
        report.num("latency_p50_us", 12.25, 1, "us");
        report.num("server_cpu_us_per_op", f64::NAN, 3, "us");
        let json = report.json();
        assert!(!json.contains('\n'), "one line: {json}");
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "scenario": "echo \"16\"\\\n",
                "ops": 300,
                "latency_p50_us": 12.25,
                "server_cpu_us_per_op": null,
            })
        );
        assert!(parsed["ops"].is_u64(), "counts stay integers: {json}");
        let keys: Vec<&str> = ["scenario", "ops", "latency_p50_us", "server_cpu_us_per_op"]
            .into_iter()
            .filter(|k| json.contains(&format!("\"{k}\":")))
            .collect();
        assert_eq!(keys.len(), 4, "{json}");
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "order kept: {json}"
        );
    }

    #[test]
    fn table_rounds_numbers_and_shows_units() {
        let mut report = Report::default();
        report.count("ops", 300, "messages");
        report.num("ops_per_s", 1234.567, 0, "/s");
        assert_eq!(
            report.table(),
            format!(
                "ops        {:>14} messages\nops_per_s  {:>14} /s\n",
                "300", "1235"
            )
        );
    }

    #[test]
    fn held_line_has_the_fields_idle100k_reads() {
        let line = Held {
            event: "held",
            pid: 42,
            open: 100,
            errors: 0,
            hold_s: 60.0,
        }
        .json();
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"event": "held", "pid": 42, "open": 100, "errors": 0, "hold_s": 60.0})
        );
    }
}
