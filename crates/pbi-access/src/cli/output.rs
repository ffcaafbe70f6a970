//! `--output table|json|csv`: one `Rows` value rendered three ways. Tables fit the terminal:
//! comfy-table (already the table renderer; maintained, wraps cells by display width) reads the
//! terminal's width on a tty, and `COLUMNS` sets it when output is piped or redirected. Cells
//! wrap rather than overflow. Headers are bold only on a terminal, and never with `NO_COLOR`.

use std::io::Write;

use comfy_table::{presets, Attribute, Cell, ColumnConstraint, ContentArrangement, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A result set: column names and string cells, plus the JSON form of each row.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    pub fn new(columns: &[&'static str]) -> Rows {
        Rows { columns: columns.to_vec(), rows: Vec::new() }
    }

    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
        self.render_within(format, out, columns_env())
    }

    /// `render`, with tables at most `width` columns wide (else the terminal's, if any).
    pub fn render_within(&self, format: Format, out: &mut dyn Write, width: Option<u16>) -> std::io::Result<()> {
        match format {
            Format::Json => {
                let items: Vec<serde_json::Map<String, serde_json::Value>> = self
                    .rows
                    .iter()
                    .map(|r| self.columns.iter().zip(r).map(|(c, v)| (c.to_string(), serde_json::Value::String(v.clone()))).collect())
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &items)?;
                writeln!(out)
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(&self.columns)?;
                for r in &self.rows {
                    w.write_record(r)?;
                }
                w.flush()
            }
            Format::Table => {
                let mut table = Table::new();
                table.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
                if no_color() {
                    table.force_no_tty();
                }
                if let Some(w) = width {
                    table.set_width(w);
                }
                table.set_header(self.columns.iter().map(|c| Cell::new(c).add_attribute(Attribute::Bold)));
                for r in &self.rows {
                    table.add_row(r);
                }
                keep_short_columns_whole(&mut table, &self.columns, &self.rows);
                writeln!(out, "{table}")
            }
        }
    }
}

/// Short columns (roles, types, flags of a word) are never wrapped, so the width goes to the
/// long ones (names, paths) — as long as the short ones take at most half the table.
fn keep_short_columns_whole(table: &mut Table, columns: &[&str], rows: &[Vec<String>]) {
    const SHORT: usize = 14;
    let Some(width) = table.width() else { return };
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&columns[i].to_string()))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let short: Vec<usize> = (0..widths.len()).filter(|&i| widths[i] <= SHORT).collect();
    let taken: usize = short.iter().map(|&i| widths[i] + 3).sum();
    if short.len() < widths.len() && taken * 2 <= width as usize {
        for i in short {
            if let Some(column) = table.column_mut(i) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
}

/// `COLUMNS`, when set to a usable width (shells export it; scripts can set it).
fn columns_env() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|w| *w >= 20)
}

/// `NO_COLOR` (any value) turns colour off, as https://no-color.org asks.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        let mut rows = Rows::new(&["identifier", "role"]);
        rows.push(vec!["a@x.com".into(), "Admin".into()]);
        rows.push(vec!["b, \"q\"@x.com".into(), "Viewer".into()]);
        rows
    }

    #[test]
    fn renders_json_csv_and_table() {
        let mut json = Vec::new();
        sample().render(Format::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[1]["role"], "Viewer");
        let mut csv = Vec::new();
        sample().render(Format::Csv, &mut csv).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "identifier,role\na@x.com,Admin\n\"b, \"\"q\"\"@x.com\",Viewer\n");
        let mut table = Vec::new();
        sample().render(Format::Table, &mut table).unwrap();
        let text = String::from_utf8(table).unwrap();
        assert!(text.contains("a@x.com") && text.contains("identifier"));
        assert!(!text.contains('\u{1b}'), "no escape codes when not writing to a terminal: {text:?}");
    }

    #[test]
    fn tables_wrap_to_the_width_they_are_given() {
        let mut rows = Rows::new(&["workspace", "principalType", "principal", "path"]);
        rows.push(vec![
            "Sales Analytics".into(),
            "User".into(),
            "a-rather-long-user-principal-name@contoso.onmicrosoft.com".into(),
            "workspace role of group Regional Analysts inside group Sales Analysts".into(),
        ]);
        let mut out = Vec::new();
        rows.render_within(Format::Table, &mut out, Some(60)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.lines().count() > 5, "the long cells wrap onto more lines: {text}");
        assert!(text.contains("principalType"), "a short column is kept whole: {text}");
        for word in ["Regional", "inside", "Analysts", "a-rather"] {
            assert!(text.contains(word), "{word} is kept: {text}");
        }
        let mut wide = Vec::new();
        rows.render_within(Format::Table, &mut wide, None).unwrap();
        assert!(String::from_utf8(wide).unwrap().lines().any(|l| l.chars().count() > 60), "no width, no wrapping");
    }
}
