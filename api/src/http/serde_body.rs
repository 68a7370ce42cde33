//! A JSON response body written straight from the value by serde, documented in the spec by the value's
//! poem-openapi schema exactly as [`poem_openapi::payload::Json`] documents it.
//!
//! `Json<T>` first turns the value into a `serde_json::Value` tree (one map, one key string and one string per
//! field) and then serialises the tree. For the hottest responses, pages of tasks, building that tree cost more of
//! the API's CPU than the rest of the request outside the database, so those responses derive `serde::Serialize`
//! next to `Object` and use this body instead. The two derivations must agree field for field: each type that does
//! this has a test comparing `serde_json::to_value` with `ToJSON::to_json`.
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use serde::Serialize;

/// What `Json<T>` answers with.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A `200 OK` JSON body serialised by serde (see the module docs).
#[derive(Debug, Clone)]
pub struct SerdeJson<T>(pub T);

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            Err(e) => {
                // Only a map with non-string keys or a failing custom serialiser can get here: a bug, not input.
                tracing::error!(error = %e, "serialising a response body failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send + poem_openapi::types::ToJSON> ApiResponse for SerdeJson<T> {
    fn meta() -> MetaResponses {
        <Json<T> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// `DateTime<Utc>` as poem-openapi writes it (`to_rfc3339`, `+00:00`), so both derivations print the same text.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339())
    }

    /// The same for an optional time (skipped when absent by the field's `skip_serializing_if`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, s),
                None => s.serialize_none(),
            }
        }
    }
}
