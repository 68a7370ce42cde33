//! The production event store: one DynamoDB table (single-table design).
//!
//! | item | PK | SK | GSI keys |
//! |---|---|---|---|
//! | event | `ORG#<org>` | `EV#<µs, 16 digits>#<event id>` | GSI1 `PROJECT#<id>`, GSI2 `TASK#<id>`, GSI3 `USER#<actor>`; each sort key `<µs>#<event id>` |
//! | counter | `ORG#<org>#DAY#<yyyy-mm-dd>` | `COUNTER#<project id or ALL>#<name>` | none |
//!
//! An event item exists in a GSI only when it has that attribute (sparse indexes). Events carry `expires_at`
//! (epoch seconds), the table's TTL attribute. `record` is one `TransactWriteItems`: a Put of the event conditioned
//! on `attribute_not_exists(PK)` and an `ADD` Update per counter, so either all of it happens or none; a replay
//! fails the condition, the whole transaction is cancelled, and the counters stay as they were.
//!
//! Feeds query the table or a GSI backwards. The time range is part of the key condition; event types and actor
//! are filter expressions, so a filtered page may take several requests (bounded by [`MAX_REQUESTS_PER_PAGE`]; a
//! page cut short by that bound still carries a cursor). Every GSI query also filters on the org: the index keys
//! name a project, task or user id, and the org filter keeps an id from another org from reading its events.
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, NaiveDate};
use uuid::Uuid;

use super::cursor::Position;
use super::{
    check_days, ActivityEvent, CounterDelta, DailyCounter, EventStore, EventStoreError, Feed, FeedPage, FeedQuery,
    Recorded,
};

const STORE: &str = "dynamodb";
/// The TTL attribute of event items.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Query requests one filtered feed page may take before it returns what it found.
pub const MAX_REQUESTS_PER_PAGE: usize = 10;
/// Items a filtered query evaluates per request.
const FILTERED_READ: i32 = 100;
/// Days whose counters are read at once.
const COUNTER_READS_IN_FLIGHT: usize = 16;

type Item = HashMap<String, AttributeValue>;

/// The key attributes of one feed: the index (none for the table), its partition and sort key names, and how a
/// sort key is written for a position.
struct FeedKeys {
    index: Option<&'static str>,
    pk_attr: &'static str,
    sk_attr: &'static str,
    pk: String,
    sk_prefix: &'static str,
}

impl FeedKeys {
    fn of(org_id: Uuid, feed: Feed) -> FeedKeys {
        let (index, pk_attr, sk_attr, pk, sk_prefix) = match feed {
            Feed::Org => (None, "PK", "SK", org_pk(org_id), "EV#"),
            Feed::Project(id) => (Some("GSI1"), "GSI1PK", "GSI1SK", format!("PROJECT#{id}"), ""),
            Feed::Task(id) => (Some("GSI2"), "GSI2PK", "GSI2SK", format!("TASK#{id}"), ""),
            Feed::User(id) => (Some("GSI3"), "GSI3PK", "GSI3SK", format!("USER#{id}"), ""),
        };
        FeedKeys { index, pk_attr, sk_attr, pk, sk_prefix }
    }

    fn sk_at(&self, micros: i64) -> String {
        format!("{}{}#", self.sk_prefix, stamp(micros))
    }

    /// The key DynamoDB resumes after: the table's key, plus the index's for a GSI query.
    fn start_key(&self, org_id: Uuid, p: Position) -> Item {
        let mut key =
            Item::from([("PK".to_owned(), s(org_pk(org_id))), ("SK".to_owned(), s(event_sk(p.micros, p.id)))]);
        if self.index.is_some() {
            key.insert(self.pk_attr.to_owned(), s(self.pk.clone()));
            key.insert(self.sk_attr.to_owned(), s(index_sk(p.micros, p.id)));
        }
        key
    }
}

fn org_pk(org_id: Uuid) -> String {
    format!("ORG#{org_id}")
}

/// Microseconds since the epoch, zero-padded so that text order is time order (16 digits last until 2286).
fn stamp(micros: i64) -> String {
    format!("{:016}", micros.max(0))
}

fn event_sk(micros: i64, id: Uuid) -> String {
    format!("EV#{}#{id}", stamp(micros))
}

fn index_sk(micros: i64, id: Uuid) -> String {
    format!("{}#{id}", stamp(micros))
}

fn day_pk(org_id: Uuid, date: NaiveDate) -> String {
    format!("ORG#{org_id}#DAY#{}", date.format("%Y-%m-%d"))
}

fn counter_scope(project_id: Option<Uuid>) -> String {
    project_id.map_or_else(|| "ALL".to_owned(), |p| p.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The position an event sort key (`EV#<µs>#<id>`) stands for.
fn position_of_sk(sk: &str) -> Option<Position> {
    let (micros, id) = sk.strip_prefix("EV#")?.split_once('#')?;
    Some(Position { micros: micros.parse().ok()?, id: id.parse().ok()? })
}

/// Sorts an SDK failure into "try again later" (network, throttling, server errors) and "refused".
fn sdk_error<E, R>(e: SdkError<E, R>) -> EventStoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let transient = match &e {
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "TransactionInProgressException"
            )
        ),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    let detail = DisplayErrorContext(&e).to_string();
    if transient {
        EventStoreError::Unavailable { store: STORE, detail }
    } else {
        EventStoreError::Rejected { store: STORE, detail }
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> EventStoreError {
    EventStoreError::Rejected { store: STORE, detail: e.to_string() }
}

fn corrupt(what: &str, item: &Item) -> EventStoreError {
    let key = item.get("SK").and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
    EventStoreError::Corrupt(format!("DynamoDB item {key}: {what}"))
}

fn text<'a>(item: &'a Item, attr: &str) -> Result<&'a str, EventStoreError> {
    item.get(attr).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| corrupt(attr, item))
}

fn number(item: &Item, attr: &str) -> Result<i64, EventStoreError> {
    item.get(attr).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).ok_or_else(|| corrupt(attr, item))
}

fn id(item: &Item, attr: &str) -> Result<Uuid, EventStoreError> {
    text(item, attr)?.parse().map_err(|_| corrupt(attr, item))
}

fn optional_id(item: &Item, attr: &str) -> Result<Option<Uuid>, EventStoreError> {
    item.contains_key(attr).then(|| id(item, attr)).transpose()
}

fn event_of(item: &Item) -> Result<ActivityEvent, EventStoreError> {
    let occurred_at =
        DateTime::from_timestamp_micros(number(item, "occurred_at")?).ok_or_else(|| corrupt("occurred_at", item))?;
    Ok(ActivityEvent {
        id: id(item, "id")?,
        org_id: id(item, "org_id")?,
        occurred_at,
        event_type: text(item, "event_type")?.to_owned(),
        actor_id: optional_id(item, "actor_id")?,
        entity_type: text(item, "entity_type")?.to_owned(),
        entity_id: id(item, "entity_id")?,
        project_id: optional_id(item, "project_id")?,
        task_id: optional_id(item, "task_id")?,
        payload: serde_json::from_str(text(item, "payload")?).map_err(|_| corrupt("payload", item))?,
    })
}

/// The event store on a DynamoDB table.
#[derive(Clone)]
pub struct DynamoEventStore {
    client: Client,
    table: String,
    ttl: chrono::Duration,
}

impl DynamoEventStore {
    /// A store on `table`; raw events expire `ttl` after they happened (DynamoDB deletes them within days after).
    pub fn new(client: Client, table: &str, ttl: chrono::Duration) -> DynamoEventStore {
        DynamoEventStore { client, table: table.to_owned(), ttl }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand capacity, the three GSIs) and turns on TTL, or leaves them as they are when
    /// present. Returns whether the table was created.
    pub async fn bootstrap(&self) -> Result<bool, EventStoreError> {
        let created = match self.client.describe_table().table_name(&self.table).send().await {
            Ok(_) => false,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                self.create_table().await?;
                true
            }
            Err(e) => return Err(sdk_error(e)),
        };
        self.wait_until_active().await?;
        let ttl = self.client.describe_time_to_live().table_name(&self.table).send().await.map_err(sdk_error)?;
        let status = ttl.time_to_live_description().and_then(|d| d.time_to_live_status());
        if !matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(build_error)?;
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(spec)
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok(created)
    }

    async fn create_table(&self) -> Result<(), EventStoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build_error)
        };
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
            .attribute_definitions(attr("PK")?)
            .attribute_definitions(attr("SK")?);
        for gsi in ["GSI1", "GSI2", "GSI3"] {
            let (pk, sk) = (format!("{gsi}PK"), format!("{gsi}SK"));
            request =
                request.attribute_definitions(attr(&pk)?).attribute_definitions(attr(&sk)?).global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(gsi)
                        .key_schema(key(&pk, KeyType::Hash)?)
                        .key_schema(key(&sk, KeyType::Range)?)
                        .projection(Projection::builder().projection_type(ProjectionType::All).build())
                        .build()
                        .map_err(build_error)?,
                );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // Another bootstrap got there first.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// A new table takes a few seconds to become usable in AWS (at once on moto); TTL can only be set on an active
    /// table.
    async fn wait_until_active(&self) -> Result<(), EventStoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let described = self.client.describe_table().table_name(&self.table).send().await.map_err(sdk_error)?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(EventStoreError::Unavailable {
                    store: STORE,
                    detail: format!("table {} did not become active within two minutes", self.table),
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    fn event_item(&self, e: &ActivityEvent) -> Result<Item, EventStoreError> {
        let micros = e.occurred_at.timestamp_micros();
        let payload = serde_json::to_string(&e.payload).map_err(|err| EventStoreError::Corrupt(err.to_string()))?;
        let mut item = Item::from([
            ("PK".to_owned(), s(org_pk(e.org_id))),
            ("SK".to_owned(), s(event_sk(micros, e.id))),
            ("id".to_owned(), s(e.id.to_string())),
            ("org_id".to_owned(), s(e.org_id.to_string())),
            ("occurred_at".to_owned(), n(micros)),
            ("event_type".to_owned(), s(e.event_type.clone())),
            ("entity_type".to_owned(), s(e.entity_type.clone())),
            ("entity_id".to_owned(), s(e.entity_id.to_string())),
            ("payload".to_owned(), s(payload)),
            (TTL_ATTRIBUTE.to_owned(), n((e.occurred_at + self.ttl).timestamp())),
        ]);
        let index_key = index_sk(micros, e.id);
        for (attr, gsi, prefix, value) in [
            ("project_id", "GSI1", "PROJECT", e.project_id),
            ("task_id", "GSI2", "TASK", e.task_id),
            ("actor_id", "GSI3", "USER", e.actor_id),
        ] {
            if let Some(v) = value {
                item.insert(attr.to_owned(), s(v.to_string()));
                item.insert(format!("{gsi}PK"), s(format!("{prefix}#{v}")));
                item.insert(format!("{gsi}SK"), s(index_key.clone()));
            }
        }
        Ok(item)
    }

    fn counter_update(&self, org_id: Uuid, c: &CounterDelta) -> Result<Update, EventStoreError> {
        Update::builder()
            .table_name(&self.table)
            .key("PK", s(day_pk(org_id, c.date)))
            .key("SK", s(format!("COUNTER#{}#{}", counter_scope(c.project_id), c.name)))
            // `value` and `name` are DynamoDB reserved words, hence the placeholders.
            .update_expression("ADD #value :delta SET #name = :name, #day = :day, #project = :project")
            .expression_attribute_names("#value", "value")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#project", "project")
            .expression_attribute_values(":delta", n(c.delta))
            .expression_attribute_values(":name", s(c.name.clone()))
            .expression_attribute_values(":day", s(c.date.format("%Y-%m-%d").to_string()))
            .expression_attribute_values(":project", s(counter_scope(c.project_id)))
            .build()
            .map_err(build_error)
    }

    async fn counters_of_day(
        client: Client,
        table: String,
        org_id: Uuid,
        project_id: Option<Uuid>,
        date: NaiveDate,
    ) -> Result<Vec<DailyCounter>, EventStoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = client
                .query()
                .table_name(&table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(day_pk(org_id, date)))
                .expression_attribute_values(":prefix", s(format!("COUNTER#{}#", counter_scope(project_id))))
                // Strongly consistent: an analytics report computed right after an event's invalidation (see
                // api::analytics_cache) must see that event's counter increments, or it is cached without them.
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items() {
                found.push(DailyCounter {
                    date,
                    project_id,
                    name: text(item, "name")?.to_owned(),
                    value: number(item, "value")?,
                });
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(found),
            }
        }
    }
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn record(&self, event: &ActivityEvent, counters: &[CounterDelta]) -> Result<Recorded, EventStoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.event_item(event)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_error)?;
        let mut request =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().put(put).build());
        for c in counters.iter().filter(|c| c.delta != 0) {
            request = request
                .transact_items(TransactWriteItem::builder().update(self.counter_update(event.org_id, c)?).build());
        }
        match request.send().await {
            Ok(_) => Ok(Recorded::Inserted),
            Err(e) => {
                // The put is the first item: its condition failing means the event is there already, and DynamoDB
                // cancelled the counter updates with it.
                let replay = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                        c.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    }
                    _ => false,
                };
                if replay {
                    Ok(Recorded::AlreadyRecorded)
                } else {
                    Err(sdk_error(e))
                }
            }
        }
    }

    async fn feed(&self, org_id: Uuid, query: &FeedQuery) -> Result<FeedPage, EventStoreError> {
        let after = query.validate()?;
        let keys = FeedKeys::of(org_id, query.feed);
        let low = query.since.map_or_else(|| format!("{}0", keys.sk_prefix), |t| keys.sk_at(t.timestamp_micros()));
        let high = query.until.map_or_else(|| format!("{}~", keys.sk_prefix), |t| keys.sk_at(t.timestamp_micros()));
        let mut filters = Vec::new();
        let mut values = Item::from([
            (":pk".to_owned(), s(keys.pk.clone())),
            (":low".to_owned(), s(low)),
            (":high".to_owned(), s(high)),
        ]);
        let mut names =
            HashMap::from([("#pk".to_owned(), keys.pk_attr.to_owned()), ("#sk".to_owned(), keys.sk_attr.to_owned())]);
        if keys.index.is_some() {
            filters.push("#org = :org".to_owned());
            names.insert("#org".into(), "org_id".into());
            values.insert(":org".into(), s(org_id.to_string()));
        }
        if !query.event_types.is_empty() {
            let placeholders: Vec<String> = (0..query.event_types.len()).map(|i| format!(":type{i}")).collect();
            for (p, t) in placeholders.iter().zip(&query.event_types) {
                values.insert(p.clone(), s(t.clone()));
            }
            filters.push(format!("#type IN ({})", placeholders.join(", ")));
            names.insert("#type".into(), "event_type".into());
        }
        if let Some(actor) = query.actor_id {
            filters.push("#actor = :actor".to_owned());
            names.insert("#actor".into(), "actor_id".into());
            values.insert(":actor".into(), s(actor.to_string()));
        }
        let filtered = query.actor_id.is_some() || !query.event_types.is_empty();
        let limit = query.limit as usize;
        let mut events: Vec<ActivityEvent> = Vec::new();
        let mut start = after.map(|p| keys.start_key(org_id, p));
        for _ in 0..MAX_REQUESTS_PER_PAGE {
            let wanted = limit - events.len();
            // One more than needed tells whether another page follows; a filtered read evaluates more items so
            // that few requests find enough matches.
            let read = if filtered { FILTERED_READ.max(wanted as i32 + 1) } else { wanted as i32 + 1 };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(keys.index.map(str::to_owned))
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(read)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            let items = out.items();
            for (i, item) in items.iter().enumerate() {
                events.push(event_of(item)?);
                if events.len() == limit {
                    let more = i + 1 < items.len() || out.last_evaluated_key().is_some();
                    let last = events.last().expect("a full page");
                    let next_cursor = more.then(|| Position::of(last.occurred_at, last.id).encode());
                    return Ok(FeedPage { events, next_cursor });
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(FeedPage { events, next_cursor: None }),
            }
        }
        // The request bound cut the page short: resume where the last read stopped.
        let resume =
            start.as_ref().and_then(|k| k.get("SK")).and_then(|v| v.as_s().ok()).and_then(|sk| position_of_sk(sk));
        Ok(FeedPage { events, next_cursor: resume.map(|p| p.encode()) })
    }

    async fn counters(
        &self,
        org_id: Uuid,
        project_id: Option<Uuid>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounter>, EventStoreError> {
        check_days(from, to)?;
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut found = Vec::new();
        for chunk in days.chunks(COUNTER_READS_IN_FLIGHT) {
            let mut reads = tokio::task::JoinSet::new();
            for (i, date) in chunk.iter().enumerate() {
                let (client, table, date) = (self.client.clone(), self.table.clone(), *date);
                reads.spawn(async move { (i, Self::counters_of_day(client, table, org_id, project_id, date).await) });
            }
            let mut per_day: Vec<(usize, Vec<DailyCounter>)> = Vec::new();
            while let Some(done) = reads.join_next().await {
                let (i, counters) =
                    done.map_err(|e| EventStoreError::Unavailable { store: STORE, detail: e.to_string() })?;
                per_day.push((i, counters?));
            }
            per_day.sort_by_key(|(i, _)| *i);
            for (_, mut counters) in per_day {
                counters.sort_by(|a, b| a.name.cmp(&b.name));
                found.extend(counters);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time_as_text() {
        let id = Uuid::now_v7();
        assert!(event_sk(999, id) < event_sk(1_000, id));
        assert_eq!(position_of_sk(&event_sk(1_234, id)), Some(Position { micros: 1_234, id }));
        assert_eq!(day_pk(id, NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()), format!("ORG#{id}#DAY#2026-03-07"));
        let keys = FeedKeys::of(id, Feed::Org);
        assert!(keys.sk_at(5) < event_sk(5, id) && event_sk(5, id) < keys.sk_at(6));
    }
}
