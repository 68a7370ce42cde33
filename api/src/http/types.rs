//! DTOs shared by several areas.
use poem_openapi::Object;

/// A user as other members see them.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserSummary {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
}

impl From<&entities::tables::users::Model> for UserSummary {
    fn from(u: &entities::tables::users::Model) -> Self {
        UserSummary { id: u.id, name: u.name.clone(), email: u.email.clone() }
    }
}

/// 201 with the created resource.
#[derive(poem_openapi::ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(poem_openapi::payload::Json<T>),
}

/// 204: done, nothing to return.
#[derive(poem_openapi::ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// 202: accepted, the rest happens in the background (e.g. an email on its way).
#[derive(poem_openapi::ApiResponse)]
pub enum Accepted {
    /// Accepted.
    #[oai(status = 202)]
    Accepted,
}
