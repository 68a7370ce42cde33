//! Writing a report's table as CSV (RFC 4180, UTF-8, `\r\n` line ends, quoted where needed by the `csv` crate).
//! Text cells are defused against CSV injection (`platform::spreadsheet_text`); numbers and times are written by us
//! and never start like a formula.
use chrono::SecondsFormat;
use platform::spreadsheet_text::defuse;

use super::sheet::{Cell, Table};

fn render(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => defuse(s),
        Cell::Count(n) => n.to_string(),
        Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        Cell::Empty => String::new(),
    }
}

/// The CSV bytes of `table`, header first.
pub fn write(table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(&table.headers)?;
    for row in &table.rows {
        w.write_record(row.iter().map(render))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_defused_and_everything_else_kept() {
        for (given, written) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("plain = text", "plain = text"),
            ("", ""),
        ] {
            assert_eq!(defuse(given), written);
        }
    }

    #[test]
    fn cells_with_separators_quotes_and_newlines_survive_a_round_trip() {
        let table = Table {
            sheet: "T",
            headers: vec!["a", "b", "c"],
            rows: vec![vec![
                Cell::text("comma, \"quoted\"\nnewline"),
                Cell::Count(-3),
                Cell::Time("2026-11-25T10:00:00Z".parse().unwrap()),
            ]],
        };
        let bytes = write(&table).unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][0], "comma, \"quoted\"\nnewline");
        assert_eq!(&rows[0][1], "-3");
        assert_eq!(&rows[0][2], "2026-11-25T10:00:00Z");
    }
}
