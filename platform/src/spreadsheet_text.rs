//! Text that goes into a file people open in a spreadsheet (report and activity exports).
//!
//! Spreadsheet programs run a cell that starts with `=`, `+`, `-` or `@` (and some a leading tab or carriage
//! return) as a formula, so a task titled `=HYPERLINK(…)` could run in whoever opens the export (CSV injection,
//! OWASP). Such text gets a leading `'`, which spreadsheets show as text and hide.

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell made safe to open in a spreadsheet.
pub fn defuse(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}
