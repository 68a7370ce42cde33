//! A report's content independent of its file format: one table of rows (what the CSV holds and the XLSX's first
//! worksheet shows) and the charts the XLSX adds, each with its own small data table.
use chrono::{DateTime, Utc};

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Count(i64),
    /// A moment, shown in UTC.
    Time(DateTime<Utc>),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub fn time(t: Option<DateTime<Utc>>) -> Cell {
        t.map_or(Cell::Empty, Cell::Time)
    }
}

/// The report's rows under a header.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The XLSX worksheet name (at most 31 characters, none of `[]:*?/\`).
    pub sheet: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// How a chart draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    Column,
    Line,
}

/// A native XLSX chart and the numbers it plots: one value per category in each series.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartSpec {
    pub kind: ChartKind,
    pub title: String,
    /// What the categories are, e.g. "Status" or "Day": the header of the chart's data table.
    pub category_name: &'static str,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub values: Vec<i64>,
}

/// Everything one report file shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportContent {
    pub table: Table,
    pub charts: Vec<ChartSpec>,
}
