//! Reading a task row with its link copies ([`crate::link_copies`]), as task lists and task reads select it.
//!
//! sea-orm's derived decoder finds every column by name (the name hashed, per column and per row) and, for each NULL,
//! formats an error message that it then throws away (twice for a NULL id, which it retries as text). On a page of 51
//! tasks that was about a sixth of the API's CPU under list load (docs/performance.md, "Decoding task rows"). On
//! MySQL/MariaDB, when a row's columns are exactly [`COLUMNS`] in that order (what `select` of the task entity plus
//! the two copies produces), it is read here by position, with the conversions sea-orm applies. Any other row (SQLite,
//! a prefixed or differently shaped select) is read by sea-orm, with the same result.
use chrono::{DateTime, Utc};
use sea_orm::sqlx::mysql::MySqlRow;
use sea_orm::sqlx::{Column as _, Row as _};
use sea_orm::{DbErr, FromQueryResult, QueryResult, RuntimeErr};

use crate::link_copies::{ASSIGNEES, LABELS};
use crate::tables::tasks;

/// The columns read by position, in order: the task's (the entity's field order), then its two link copies.
pub const COLUMNS: [&str; 22] = [
    "id",
    "org_id",
    "project_id",
    "number",
    "title",
    "description",
    "status_id",
    "priority",
    "due_at",
    "start_at",
    "estimate",
    "parent_id",
    "position",
    "version",
    "started_at",
    "completed_at",
    "deleted_at",
    "created_by",
    "created_at",
    "updated_at",
    ASSIGNEES,
    LABELS,
];

/// A task and the raw copies of its assignee and label ids.
pub type RawLinkedTask = (tasks::Model, Option<String>, Option<String>);

/// Reads a task and its link copies from `row` (columns named `{pre}{column}`).
pub fn read(row: &QueryResult, pre: &str) -> Result<RawLinkedTask, DbErr> {
    if pre.is_empty() {
        if let Some(mysql) = row.try_as_mysql_row().filter(|r| by_position(r)) {
            return read_mysql(mysql).map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())));
        }
    }
    Ok((tasks::Model::from_query_result(row, pre)?, row.try_get(pre, ASSIGNEES)?, row.try_get(pre, LABELS)?))
}

/// Whether `row` has exactly [`COLUMNS`], in order.
pub fn by_position(row: &MySqlRow) -> bool {
    let columns = row.columns();
    columns.len() == COLUMNS.len() && columns.iter().zip(COLUMNS).all(|(c, name)| c.name() == name)
}

fn read_mysql(row: &MySqlRow) -> Result<RawLinkedTask, sea_orm::sqlx::Error> {
    // sea-orm reads `DateTimeWithTimeZone` from MySQL as UTC, then converts.
    let zoned = |i: usize| row.try_get::<Option<DateTime<Utc>>, _>(i).map(|t| t.map(Into::into));
    let text = |i: usize| row.try_get::<&str, _>(i).map(str::to_owned);
    let optional_text = |i: usize| row.try_get::<Option<&str>, _>(i).map(|t| t.map(str::to_owned));
    let task = tasks::Model {
        id: row.try_get(0)?,
        org_id: row.try_get(1)?,
        project_id: row.try_get(2)?,
        number: row.try_get(3)?,
        title: text(4)?,
        description: text(5)?,
        status_id: row.try_get(6)?,
        priority: row.try_get(7)?,
        due_at: zoned(8)?,
        start_at: zoned(9)?,
        estimate: row.try_get(10)?,
        parent_id: row.try_get(11)?,
        position: row.try_get(12)?,
        version: row.try_get(13)?,
        started_at: row.try_get(14)?,
        completed_at: row.try_get(15)?,
        deleted_at: row.try_get(16)?,
        created_by: row.try_get(17)?,
        created_at: row.try_get(18)?,
        updated_at: row.try_get(19)?,
    };
    Ok((task, optional_text(20)?, optional_text(21)?))
}
