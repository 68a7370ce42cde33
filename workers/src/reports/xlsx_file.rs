//! Writing a report as an XLSX workbook: the table on the first worksheet (bold frozen header, autofilter, real
//! date-times), and a second worksheet "Charts" holding each chart's data table with a native Excel chart beside
//! it, so the charts stay live if someone edits the numbers. Text goes in as strings, never as formulas, so no
//! cell content can run in the spreadsheet.
use rust_xlsxwriter::{Chart, ChartType, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::sheet::{Cell, ChartKind, ChartSpec, ReportContent};

/// The name of the worksheet with the charts.
pub const CHARTS_SHEET: &str = "Charts";
/// Rows a chart takes on the charts sheet (15 rows of 20 px, the default chart height is 288 px), plus a gap.
const CHART_ROWS: u32 = 17;

/// The workbook bytes of `content`.
pub fn write(content: &ReportContent) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let when = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let table = &content.table;
    let sheet = workbook.add_worksheet();
    sheet.set_name(table.sheet)?;
    for (c, h) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let mut widths: Vec<usize> = table.headers.iter().map(|h| h.len()).collect();
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let col = c as u16;
            let width = match cell {
                Cell::Text(s) => {
                    sheet.write_string(r, col, s)?;
                    s.chars().count()
                }
                Cell::Count(n) => {
                    sheet.write_number(r, col, *n as f64)?;
                    n.to_string().len()
                }
                Cell::Time(t) => {
                    sheet.write_datetime_with_format(r, col, ExcelDateTime::from_timestamp(t.timestamp())?, &when)?;
                    16
                }
                Cell::Empty => 0,
            };
            if let Some(w) = widths.get_mut(c) {
                *w = (*w).max(width);
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        // Wide enough for the content, within reason: long titles wrap in the viewer's own way.
        sheet.set_column_width(c as u16, (*w as f64 + 2.0).clamp(8.0, 60.0))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    if !table.headers.is_empty() {
        sheet.autofilter(0, 0, table.rows.len() as u32, table.headers.len() as u16 - 1)?;
    }
    if !content.charts.is_empty() {
        let charts = workbook.add_worksheet();
        charts.set_name(CHARTS_SHEET)?;
        let mut top = 0;
        for spec in &content.charts {
            add_chart(charts, top, spec, &bold)?;
            top += CHART_ROWS.max(spec.categories.len() as u32 + 3);
        }
    }
    workbook.save_to_buffer()
}

/// Writes the chart's data table at row `top` (a title row, a header row, one row per category) and the chart to
/// its right.
fn add_chart(sheet: &mut Worksheet, top: u32, spec: &ChartSpec, bold: &Format) -> Result<(), XlsxError> {
    sheet.write_string_with_format(top, 0, &spec.title, bold)?;
    let header = top + 1;
    sheet.write_string_with_format(header, 0, spec.category_name, bold)?;
    for (i, category) in spec.categories.iter().enumerate() {
        sheet.write_string(header + 1 + i as u32, 0, category)?;
    }
    let mut chart = Chart::new(match spec.kind {
        ChartKind::Column => ChartType::Column,
        ChartKind::Line => ChartType::Line,
    });
    chart.title().set_name(&spec.title);
    chart.x_axis().set_name(spec.category_name);
    let first = header + 1;
    // An empty category list still gets a one-row range: a chart series may not reference zero cells.
    let last = first + spec.categories.len().max(1) as u32 - 1;
    for (s, series) in spec.series.iter().enumerate() {
        let col = s as u16 + 1;
        sheet.write_string_with_format(header, col, series.name, bold)?;
        for (i, v) in series.values.iter().enumerate() {
            sheet.write_number(first + i as u32, col, *v as f64)?;
        }
        chart
            .add_series()
            .set_name((CHARTS_SHEET, header, col))
            .set_categories((CHARTS_SHEET, first, 0, last, 0))
            .set_values((CHARTS_SHEET, first, col, last, col));
    }
    if spec.series.len() == 1 {
        chart.legend().set_hidden();
    }
    sheet.set_column_width(0, 24)?;
    sheet.insert_chart(top, spec.series.len() as u16 + 2, &chart)?;
    Ok(())
}
