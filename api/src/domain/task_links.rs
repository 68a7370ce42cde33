//! A task's assignees and labels read inside the statement that reads the task: two correlated subqueries, each
//! giving the linked ids as a JSON array of hex strings. A list page and a single task use the same columns, so a
//! page costs one statement and a task's links never come from two different code paths.
use entities::tables::tasks;
use entities::Scope;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, FromQueryResult, QueryFilter, QueryResult, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::AppError;

/// `select` (of tasks) with each task's assignee and label ids, to be read as [`LinkedTask`] rows.
pub fn with_links(select: Select<tasks::Entity>, backend: DbBackend) -> Select<tasks::Entity> {
    select
        .column_as(linked_ids(backend, "task_assignees", "user_id"), ASSIGNEES)
        .column_as(linked_ids(backend, "task_labels", "label_id"), LABELS)
}

/// The assignee and label ids of one task (already loaded by the caller, in its transaction if it has one).
pub async fn links_of(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
) -> Result<(Vec<Uuid>, Vec<Uuid>), AppError> {
    let select = scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(task_id)).select_only();
    let row: Option<(Option<String>, Option<String>)> =
        with_links(select, db.get_database_backend()).into_tuple().one(db).await?;
    let (assignees, labels) = row.unwrap_or_default();
    Ok((parse_linked_ids(assignees)?, parse_linked_ids(labels)?))
}

/// Column aliases of the assignee and label ids.
const ASSIGNEES: &str = "assignee_ids_json";
const LABELS: &str = "label_ids_json";

/// A task and, read by the same statement, its assignees' and labels' ids (a second statement per list page cost
/// the database as much as the page itself: docs/performance.md).
pub struct LinkedTask {
    pub task: tasks::Model,
    pub assignee_ids: Vec<Uuid>,
    pub label_ids: Vec<Uuid>,
}

impl FromQueryResult for LinkedTask {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(LinkedTask {
            task: tasks::Model::from_query_result(row, pre)?,
            assignee_ids: parse_linked_ids(row.try_get(pre, ASSIGNEES)?)?,
            label_ids: parse_linked_ids(row.try_get(pre, LABELS)?)?,
        })
    }
}

/// A correlated subquery giving the ids in `table`.`column` linked to the row's task as a JSON array of hex strings
/// (`["0192…", …]`). JSON rather than `GROUP_CONCAT`, whose result MySQL silently cuts at `group_concat_max_len`
/// (1,024 bytes by default, 31 ids; a task may have 50 assignees). MariaDB bounds `JSON_ARRAYAGG` by the same
/// variable, whose MariaDB default is 1 MiB; a cut array fails to parse, an error rather than missing ids
/// (docs/operations.md asks for the default). Cast to text because MySQL types the aggregate JSON, which the driver
/// does not read as a string. The link tables' primary keys start with `task_id`, so each is one index range.
fn linked_ids(backend: DbBackend, table: &str, column: &str) -> Expr {
    let array = match backend {
        DbBackend::Sqlite => format!("json_group_array(hex(`l`.`{column}`))"),
        _ => format!("CAST(JSON_ARRAYAGG(HEX(`l`.`{column}`)) AS CHAR)"),
    };
    Expr::cust(format!(
        "(SELECT {array} FROM `{table}` `l` WHERE `l`.`org_id` = `tasks`.`org_id` AND `l`.`task_id` = `tasks`.`id`)"
    ))
}

/// The sorted ids of a [`linked_ids`] value; none for NULL (MySQL's aggregate of no rows).
fn parse_linked_ids(json: Option<String>) -> Result<Vec<Uuid>, DbErr> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let hex: Vec<String> = serde_json::from_str(&json).map_err(|e| DbErr::Type(format!("linked ids `{json}`: {e}")))?;
    let mut ids = hex
        .iter()
        .map(|h| Uuid::try_parse(h).map_err(|e| DbErr::Type(format!("linked id `{h}`: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_ids_read_from_json_hex_sorted() {
        assert_eq!(parse_linked_ids(None).unwrap(), Vec::<Uuid>::new(), "MySQL's aggregate of no rows");
        assert_eq!(parse_linked_ids(Some("[]".into())).unwrap(), Vec::<Uuid>::new(), "SQLite's");
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let json = format!(r#"["{}", "{}"]"#, b.simple().to_string().to_uppercase(), a.simple());
        assert_eq!(parse_linked_ids(Some(json)).unwrap(), vec![a, b]);
        assert!(parse_linked_ids(Some("[\"nope\"]".into())).is_err());
        assert!(parse_linked_ids(Some("0192".into())).is_err());
    }
}
