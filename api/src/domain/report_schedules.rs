//! Weekly report schedules: every chosen weekday at a chosen hour (UTC) the scheduler asks for a report for the
//! schedule's creator, covering the seven days before (`workers::reports::schedules`). Asking for a schedule needs
//! what asking for its report needs; schedules, like reports, are private to their creator.
use entities::tables::report_schedules as schedules;
use entities::tables::reports::{ReportFormat, ReportKind};
use entities::Scope;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::reports::may_report_on;
use crate::error::{AppError, Validator};

/// A schedule to create.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub kind: ReportKind,
    pub format: ReportFormat,
    pub project_id: Option<Uuid>,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i32,
    /// 0 … 23, UTC.
    pub hour: i32,
}

pub async fn create(db: &DatabaseConnection, scope: &Scope, input: NewSchedule) -> Result<schedules::Model, AppError> {
    let mut v = Validator::new();
    v.check((0..=6).contains(&input.weekday), "weekday", "must be 0 (Monday) to 6 (Sunday)");
    v.check((0..=23).contains(&input.hour), "hour", "must be 0 to 23 (UTC)");
    v.finish()?;
    may_report_on(db, scope, input.project_id).await?;
    let now = entities::now();
    Ok(schedules::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        project_id: Set(input.project_id),
        kind: Set(input.kind.name().into()),
        format: Set(input.format.name().into()),
        weekday: Set(input.weekday as i16),
        hour: Set(input.hour as i16),
        created_by: Set(scope.user_id()),
        last_run_on: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The actor's schedules in the org, oldest first.
pub async fn list(db: &impl ConnectionTrait, scope: &Scope) -> Result<Vec<schedules::Model>, AppError> {
    Ok(scope
        .find::<schedules::Entity>()
        .filter(schedules::Column::CreatedBy.eq(scope.user_id()))
        .order_by_asc(schedules::Column::Id)
        .all(db)
        .await?)
}

/// Deletes one of the actor's schedules; reports it already produced stay.
pub async fn delete(db: &impl ConnectionTrait, scope: &Scope, id: Uuid) -> Result<(), AppError> {
    let deleted = scope
        .delete_many::<schedules::Entity>()
        .filter(schedules::Column::Id.eq(id))
        .filter(schedules::Column::CreatedBy.eq(scope.user_id()))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::NotFound("report_schedule_not_found"));
    }
    Ok(())
}
