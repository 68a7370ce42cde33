//! The labels of a project: a name, unique in the project regardless of case, and a `#rrggbb` colour. Deleting a
//! label takes it off every task.
//!
//! Names are compared case-insensitively in code, not only by the `(project_id, name)` unique index, because that
//! index is case-sensitive on SQLite and case-insensitive under MariaDB's collation: both backends must agree.
use entities::tables::labels;
use entities::Scope;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, QueryFilter, Set,
};
use serde_json::{json, Map};
use uuid::Uuid;

use super::{event, lock_visible, note_change, require_manage};
use crate::domain::outbox;
use crate::domain::project_access::{ensure_not_archived, visible_project};
use crate::error::{is_unique_violation, text_field, AppError, Validator};

/// A label colour: `#` and six hex digits, kept lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    /// Parses `#rrggbb` (either case): `#A1B2C3` becomes `#a1b2c3`.
    pub fn parse(raw: &str) -> Result<Color, &'static str> {
        let raw = raw.trim();
        match raw.strip_prefix('#') {
            Some(hex) if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                Ok(Color(raw.to_ascii_lowercase()))
            }
            _ => Err("must be a colour in the form #rrggbb"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new label.
pub struct NewLabel {
    pub name: String,
    pub color: String,
}

/// Changes to a label; `None` leaves a field as it is.
#[derive(Default)]
pub struct LabelChanges {
    pub name: Option<String>,
    pub color: Option<String>,
}

fn name_taken() -> AppError {
    AppError::conflict("label_name_taken", "the project already has a label with this name")
}

/// The labels of a project by name, case-insensitively (the backends' collations disagree on case).
async fn labels_of(db: &impl ConnectionTrait, scope: &Scope, project_id: Uuid) -> Result<Vec<labels::Model>, AppError> {
    let mut all = scope.find::<labels::Entity>().filter(labels::Column::ProjectId.eq(project_id)).all(db).await?;
    all.sort_by_cached_key(|l| (l.name.to_lowercase(), l.name.clone()));
    Ok(all)
}

async fn ensure_name_free(
    tx: &DatabaseTransaction,
    scope: &Scope,
    project_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    let lower = name.to_lowercase();
    let all = labels_of(tx, scope, project_id).await?;
    if all.iter().any(|l| Some(l.id) != except && l.name.to_lowercase() == lower) {
        return Err(name_taken());
    }
    Ok(())
}

async fn find(
    tx: &DatabaseTransaction,
    scope: &Scope,
    project_id: Uuid,
    label_id: Uuid,
) -> Result<labels::Model, AppError> {
    scope
        .find::<labels::Entity>()
        .filter(labels::Column::ProjectId.eq(project_id))
        .filter(labels::Column::Id.eq(label_id))
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("label_not_found"))
}

/// The labels of a project the actor sees, by name.
pub async fn list(db: &impl ConnectionTrait, scope: &Scope, project_id: Uuid) -> Result<Vec<labels::Model>, AppError> {
    visible_project(db, scope, project_id).await?;
    labels_of(db, scope, project_id).await
}

/// Adds a label to a project.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    input: NewLabel,
) -> Result<labels::Model, AppError> {
    require_manage(scope)?;
    let mut v = Validator::new();
    let name = text_field(&mut v, "name", &input.name, 100);
    let color = Color::parse(&input.color).map_err(|m| v.push("color", m)).ok();
    v.finish()?;
    let color = color.expect("validated");
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    ensure_not_archived(&project)?;
    ensure_name_free(&tx, scope, project_id, &name, None).await?;
    let label = labels::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        project_id: Set(project_id),
        name: Set(name),
        color: Set(color.as_str().to_owned()),
        created_at: Set(entities::now()),
    }
    .insert(&tx)
    .await
    .map_err(|e| if is_unique_violation(&e) { name_taken() } else { e.into() })?;
    let payload = json!({ "project_id": project_id, "name": label.name, "color": label.color });
    outbox::record(&tx, event(scope, "label.created", "label", label.id, payload)).await?;
    tx.commit().await?;
    Ok(label)
}

/// Renames or recolours a label.
pub async fn update(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    label_id: Uuid,
    input: LabelChanges,
) -> Result<labels::Model, AppError> {
    require_manage(scope)?;
    let mut v = Validator::new();
    let name = input.name.as_deref().map(|n| text_field(&mut v, "name", n, 100));
    let color = input.color.as_deref().and_then(|raw| Color::parse(raw).map_err(|m| v.push("color", m)).ok());
    v.finish()?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    let label = find(&tx, scope, project_id, label_id).await?;
    ensure_not_archived(&project)?;
    let mut changes = Map::new();
    let mut active: labels::ActiveModel = label.clone().into();
    if let Some(name) = name {
        if name != label.name {
            ensure_name_free(&tx, scope, project_id, &name, Some(label_id)).await?;
        }
        note_change(&mut changes, "name", &label.name, &name);
        active.name = Set(name);
    }
    if let Some(color) = color {
        let to = color.as_str().to_owned();
        note_change(&mut changes, "color", &label.color, &to);
        active.color = Set(to);
    }
    if changes.is_empty() {
        return Ok(label);
    }
    let label = active.update(&tx).await.map_err(|e| if is_unique_violation(&e) { name_taken() } else { e.into() })?;
    let payload = json!({ "project_id": project_id, "changes": changes });
    outbox::record(&tx, event(scope, "label.updated", "label", label_id, payload)).await?;
    tx.commit().await?;
    Ok(label)
}

/// Deletes a label and takes it off every task.
pub async fn delete(db: &DatabaseConnection, scope: &Scope, project_id: Uuid, label_id: Uuid) -> Result<(), AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    let label = find(&tx, scope, project_id, label_id).await?;
    ensure_not_archived(&project)?;
    crate::domain::task_links::unlabel_everywhere(&tx, scope, label_id).await?;
    scope.delete_many::<labels::Entity>().filter(labels::Column::Id.eq(label_id)).exec(&tx).await?;
    let payload = json!({ "project_id": project_id, "name": label.name });
    outbox::record(&tx, event(scope, "label.deleted", "label", label_id, payload)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_six_hex_digits_kept_lower_case() {
        assert_eq!(Color::parse("#A1b2C3").unwrap().as_str(), "#a1b2c3");
        for bad in ["", "#fff", "a1b2c3", "#a1b2c3d", "#g1b2c3", "##a1b2c"] {
            assert!(Color::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
