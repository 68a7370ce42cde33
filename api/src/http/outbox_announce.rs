//! After a write answered with success, announce on the bus that outbox rows committed, so the outbox relays
//! (in this process or in the workers) publish the change now rather than at their next poll: the part of a live
//! update's delay that polling would add. Only a hint, sent after the response is ready and never awaited by it.
use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::state::AppState;

pub async fn announce_writes<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bus = if writes { req.data::<AppState>().map(|s| s.bus.clone()) } else { None };
    let resp = ep.call(req).await?.into_response();
    if let Some(bus) = bus {
        if resp.status().is_success() {
            tokio::spawn(async move { bus.announce_outbox().await });
        }
    }
    Ok(resp)
}
