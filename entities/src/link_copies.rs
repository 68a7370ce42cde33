//! Each task row carries a copy of its assignees' and labels' ids (`tasks.assignee_ids`, `tasks.label_ids`: JSON
//! arrays of hex ids, NULL for none), so a task list reads a page of tasks and everything it shows from the task rows
//! alone. `task_assignees` and `task_labels` stay the source of truth (the assignee and label filters, analytics,
//! notifications read them); every write that changes a task's links calls [`refresh`] in the same transaction.
//!
//! Why copies: reading the links with the page cost MariaDB more than the page itself, however they were read (two
//! correlated subqueries per row, or a second statement over 50 ids: docs/performance.md, "Link copies").
//!
//! [`refresh`] recomputes the copies from the link tables with one `UPDATE`, rather than writing what the caller
//! believes the set is: the value cannot disagree with the tables it copies. On MySQL/MariaDB under the default
//! REPEATABLE READ, the subqueries of an `UPDATE` are locking reads that see the latest committed rows (under READ
//! COMMITTED each statement reads a fresh snapshot), so a concurrent writer's links are never lost from the copy;
//! SQLite runs one write transaction at a time.
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, UpdateStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use uuid::Uuid;

use crate::tables::tasks;

/// The column holding the copy of the assignees' ids.
pub const ASSIGNEES: &str = "assignee_ids";
/// The column holding the copy of the labels' ids.
pub const LABELS: &str = "label_ids";

/// Task ids per `UPDATE`, well under every backend's bind-parameter limit.
const CHUNK: usize = 500;

/// Recomputes the link copies of `task_ids` (tasks of `org_id`) from `task_assignees` and `task_labels`.
pub async fn refresh(db: &impl ConnectionTrait, org_id: Uuid, task_ids: &[Uuid]) -> Result<(), DbErr> {
    for chunk in task_ids.chunks(CHUNK) {
        let mut update = copies_update(db.get_database_backend());
        update
            .and_where(Expr::col(tasks::Column::OrgId).eq(org_id))
            .and_where(Expr::col(tasks::Column::Id).is_in(chunk.iter().copied()));
        db.execute(&update).await?;
    }
    Ok(())
}

/// Recomputes the copies of every task of `org_id`: for bulk loads (`taskforge admin seed-bench`), where one pass
/// at the end costs less than one per batch.
pub async fn refresh_org(db: &impl ConnectionTrait, org_id: Uuid) -> Result<(), DbErr> {
    let mut update = copies_update(db.get_database_backend());
    update.and_where(Expr::col(tasks::Column::OrgId).eq(org_id));
    db.execute(&update).await?;
    Ok(())
}

/// Recomputes the copies of every task, one org per statement (each statement locks only that org's tasks while it
/// runs): the migration that adds the columns fills them with this, and so does
/// `taskforge admin refresh-link-copies` after a rolling upgrade.
pub async fn refresh_all(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let mut orgs = Query::select();
    orgs.distinct().column(tasks::Column::OrgId).from(tasks::Entity);
    let org_ids =
        db.query_all(&orgs).await?.iter().map(|row| row.try_get_by_index::<Uuid>(0)).collect::<Result<Vec<_>, _>>()?;
    for org_id in org_ids {
        refresh_org(db, org_id).await?;
    }
    Ok(())
}

/// `UPDATE tasks SET` both copies, recomputed, for the caller to narrow.
fn copies_update(backend: DbBackend) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(tasks::Entity)
        .value(Alias::new(ASSIGNEES), aggregate(backend, "task_assignees", "user_id"))
        .value(Alias::new(LABELS), aggregate(backend, "task_labels", "label_id"));
    update
}

/// The ids in `table`.`column` linked to the updated task, as a JSON array of hex strings (NULL on MySQL when there
/// are none, `[]` on SQLite). JSON rather than `GROUP_CONCAT`, which MySQL cuts at `group_concat_max_len` (1,024
/// bytes by default) without an error. MariaDB bounds `JSON_ARRAYAGG` by the same variable, whose MariaDB default is
/// 1 MiB; a cut array fails to parse on read, an error rather than missing ids (docs/operations.md asks for the
/// default). Cast to text because MySQL types the aggregate JSON. The link tables' primary keys start with
/// `task_id`, so each is one index range.
fn aggregate(backend: DbBackend, table: &str, column: &str) -> Expr {
    let array = match backend {
        DbBackend::Sqlite => format!("json_group_array(lower(hex(`l`.`{column}`)))"),
        _ => format!("CAST(JSON_ARRAYAGG(LOWER(HEX(`l`.`{column}`))) AS CHAR)"),
    };
    // By task id alone: a task's links are of its org, and with `l.org_id = tasks.org_id` added MariaDB may read
    // the links through an org-first index, every link of the org per task (minutes for a large org).
    Expr::cust(format!("(SELECT {array} FROM `{table}` `l` WHERE `l`.`task_id` = `tasks`.`id`)"))
}

/// The sorted ids of a copy column's value; none for NULL.
pub fn parse(json: Option<String>) -> Result<Vec<Uuid>, DbErr> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    // Straight into ids (serde's `Uuid` takes the hex form in either case): no string per id.
    let mut ids: Vec<Uuid> =
        serde_json::from_str(&json).map_err(|e| DbErr::Type(format!("linked ids `{json}`: {e}")))?;
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_read_from_json_hex_sorted() {
        assert_eq!(parse(None).unwrap(), Vec::<Uuid>::new(), "MySQL's aggregate of no rows");
        assert_eq!(parse(Some("[]".into())).unwrap(), Vec::<Uuid>::new(), "SQLite's");
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let json = format!(r#"["{}", "{}"]"#, b.simple().to_string().to_uppercase(), a.simple());
        assert_eq!(parse(Some(json)).unwrap(), vec![a, b]);
        assert!(parse(Some("[\"nope\"]".into())).is_err());
        assert!(parse(Some("0192".into())).is_err());
    }
}
