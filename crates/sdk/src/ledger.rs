//! The ledger in DynamoDB (`LEDGER_TABLE`): one item per (notice, resource).
//!
//! | attribute | meaning |
//! |---|---|
//! | `notice` (partition key) | the Health `eventArn` (`#account` in the organization view), `eks:<event id>` |
//! | `resource` (sort key) | the resource's canonical id (`service:prod/web`, `task:<id>`, `pod:c/ns/name`) |
//! | `state` | `claimed`, `acted`, `done`, `skipped`, `failed`, `deferred`, `verified`, `unreplaced` |
//! | `lease_ms` | a claim's lease end, epoch milliseconds (the claim condition compares it) |
//! | `expires` | epoch seconds: DynamoDB's TTL deletes the item then (deadline + `LEDGER_RETENTION`) |
//! | the rest | [`remediator_core::ledger::Entry`], as serde_dynamo writes it |
//!
//! The functions need `BatchGetItem`, `GetItem`, `UpdateItem` and `PutItem` on the table;
//! `remediator status` also Queries and Scans it with the operator's credentials.

use std::collections::HashMap;

use crate::has_code;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    PointInTimeRecoverySpecification, ScalarAttributeType, SseSpecification,
    TimeToLiveSpecification,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use futures::stream::{self, StreamExt};
use remediator_core::ledger::{
    claim_entry, ClaimRequest, Claimed, Entry, Ledger, LedgerError, State,
};

/// BatchGetItem reads at most 100 keys per call.
const MAX_READ: usize = 100;
/// Conditional PutItems (records) in flight at once.
const RECORDS_IN_FLIGHT: usize = 16;
/// Unprocessed keys/items are sent again this many times before the call counts as failed.
const UNPROCESSED_ROUNDS: u32 = 5;

/// The ledger table through the AWS SDK.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    /// The conditional `UpdateItem` of a claim.
    fn claim_update(
        &self,
        request: &ClaimRequest,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let claim = claim_entry(request, None);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&request.notice, &request.resource)))
            // `claimable` in core, as a condition: no item, an unsettled one, a claim whose lease
            // has ended, or this invocation's own claim (Lambda retries keep the request id).
            .condition_expression(
                "attribute_not_exists(#notice) OR #state IN (:skipped, :failed, :deferred) \
                 OR (#state = :claimed AND (#owner = :owner OR attribute_not_exists(lease_ms) \
                 OR lease_ms <= :now_ms))",
            )
            .expression_attribute_names("#notice", "notice")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":claimed", s(State::Claimed.as_str()))
            .expression_attribute_values(":skipped", s(State::Skipped.as_str()))
            .expression_attribute_values(":failed", s(State::Failed.as_str()))
            .expression_attribute_values(":deferred", s(State::Deferred.as_str()))
            .expression_attribute_values(
                ":now_ms",
                AttributeValue::N(request.now.timestamp_millis().to_string()),
            )
            .expression_attribute_values(
                ":lease_ms",
                AttributeValue::N(request.lease_until.timestamp_millis().to_string()),
            )
            .expression_attribute_values(":lease_until", s(&request.lease_until.to_rfc3339()))
            .expression_attribute_values(":owner", s(&request.owner))
            .expression_attribute_values(":target", s(&request.target))
            .expression_attribute_values(":now", s(&request.now.to_rfc3339()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(request.expires_at.timestamp().to_string()),
            )
            .expression_attribute_values(":expires_at", s(&request.expires_at.to_rfc3339()))
            .expression_attribute_values(":reason", s(&claim.reason))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let mut sets = vec![
            "#state = :claimed",
            "lease_ms = :lease_ms",
            "lease_until = :lease_until",
            "#owner = :owner",
            "target = :target",
            "updated_at = :now",
            "expires = :expires",
            "expires_at = :expires_at",
            "reason = :reason",
            "first_seen = if_not_exists(first_seen, :now)",
            "attempts = if_not_exists(attempts, :zero) + :one",
        ];
        if let Some(status) = &request.notice_status {
            update = update.expression_attribute_values(":status", s(status));
            sets.push("notice_status = :status");
        }
        if let Some(deadline) = request.deadline {
            update = update.expression_attribute_values(":deadline", s(&deadline.to_rfc3339()));
            sets.push("deadline = :deadline");
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            // The item that refuses the claim comes back with the refusal: no second read.
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
    }

    /// The entry whose item refused a claim: returned with the refusal (`ALL_OLD`), or read
    /// where an endpoint does not return it (older DynamoDB-compatible stores). `None`: the item
    /// is gone (TTL) by the time it is read.
    async fn refused_by(
        &self,
        e: aws_sdk_dynamodb::error::SdkError<UpdateItemError>,
        request: &ClaimRequest,
    ) -> Result<Option<Entry>, LedgerError> {
        let refused = match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
            _ => None,
        };
        if let Some(item) = refused {
            return self.entry("UpdateItem", item).map(Some);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&request.notice, &request.resource)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        out.item.map(|item| self.entry("GetItem", item)).transpose()
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(
        &self,
        operation: &'static str,
        e: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> LedgerError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug,
    {
        let fix = if has_code(&e, &["ResourceNotFoundException"]) {
            "create the table (`remediator ledger init`, or deploy the template) or set LEDGER_TABLE to its name"
        } else if has_code(
            &e,
            &["AccessDeniedException", "UnrecognizedClientException"],
        ) {
            "allow the function's role dynamodb:BatchGetItem, GetItem, UpdateItem and PutItem on the table"
        } else if has_code(
            &e,
            &[
                "ProvisionedThroughputExceededException",
                "ThrottlingException",
                "RequestLimitExceeded",
            ],
        ) {
            "throttled after the SDK's retries: the next delivery tries again (on-demand billing avoids most of it)"
        } else {
            "the next delivery tries again; nothing was acted on without the ledger"
        };
        LedgerError {
            table: self.table.clone(),
            operation,
            message: DisplayErrorContext(&e).to_string(),
            fix,
        }
    }

    fn decode_error(&self, operation: &'static str, e: impl std::fmt::Display) -> LedgerError {
        LedgerError {
            table: self.table.clone(),
            operation,
            message: format!("an item is not a ledger entry: {e}"),
            fix: "the table holds items this remediator did not write: point LEDGER_TABLE at the ledger's own table",
        }
    }

    fn key(notice: &str, resource: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("notice".to_owned(), AttributeValue::S(notice.to_owned())),
            (
                "resource".to_owned(),
                AttributeValue::S(resource.to_owned()),
            ),
        ])
    }

    fn item(&self, entry: &Entry) -> Result<HashMap<String, AttributeValue>, LedgerError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(entry).map_err(|e| self.decode_error("encode", e))?;
        item.insert(
            "expires".to_owned(),
            AttributeValue::N(entry.expires_at.timestamp().to_string()),
        );
        if let Some(until) = entry.lease_until {
            item.insert(
                "lease_ms".to_owned(),
                AttributeValue::N(until.timestamp_millis().to_string()),
            );
        }
        Ok(item)
    }

    fn entry(
        &self,
        operation: &'static str,
        item: HashMap<String, AttributeValue>,
    ) -> Result<Entry, LedgerError> {
        serde_dynamo::from_item(item).map_err(|e| self.decode_error(operation, e))
    }

    /// One outcome's entry, in place of this invocation's claim.
    async fn record_one(&self, entry: &Entry) -> Result<(), LedgerError> {
        let owner = entry.owner.clone().unwrap_or_default();
        let put = self
            .put_of(entry)?
            .condition_expression("attribute_not_exists(#notice) OR #owner = :owner")
            .expression_attribute_names("#notice", "notice")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner))
            .send()
            .await;
        self.stands(
            put,
            entry,
            "not recorded: another invocation took the claim over; its record stands",
        )
    }

    /// A `PutItem` of the entry's item; the caller adds its condition.
    fn put_of(
        &self,
        entry: &Entry,
    ) -> Result<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder, LedgerError>
    {
        Ok(self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(entry)?)))
    }

    /// A conditional PutItem's answer: a refused condition means another record stands (said
    /// with `why`), which is no error.
    fn stands(
        &self,
        put: Result<
            aws_sdk_dynamodb::operation::put_item::PutItemOutput,
            aws_sdk_dynamodb::error::SdkError<
                aws_sdk_dynamodb::operation::put_item::PutItemError,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
        entry: &Entry,
        why: &'static str,
    ) -> Result<(), LedgerError> {
        match put {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => {
                tracing::info!(notice = %entry.notice, resource = %entry.resource, "{why}");
                Ok(())
            }
            Err(e) => Err(self.error("PutItem", e)),
        }
    }

    /// What a follow-up check saw, over an entry still `acted` or `done` only.
    async fn follow_one(&self, entry: &Entry) -> Result<(), LedgerError> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let put = self
            .put_of(entry)?
            .condition_expression("#state IN (:acted, :done)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":acted", s(State::Acted.as_str()))
            .expression_attribute_values(":done", s(State::Done.as_str()))
            .send()
            .await;
        self.stands(
            put,
            entry,
            "check not recorded: another check settled it first; its record stands",
        )
    }

    /// Creates the table as the templates define it (on-demand, encrypted, point-in-time
    /// recovery, TTL on `expires`). Idempotent: an existing table only gets its settings checked.
    pub async fn create_table(&self) -> Result<bool, LedgerError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| self.decode_error("CreateTable", e);
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("notice").map_err(invalid)?)
            .attribute_definitions(attribute("resource").map_err(invalid)?)
            .key_schema(key("notice", KeyType::Hash).map_err(invalid)?)
            .key_schema(key("resource", KeyType::Range).map_err(invalid)?)
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .send()
            .await;
        let created = match created {
            Ok(_) => true,
            Err(e) if has_code(&e, &["ResourceInUseException"]) => false,
            Err(e) => return Err(self.error("CreateTable", e)),
        };
        // DynamoDB refuses TTL and backup settings until the table is ACTIVE.
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(std::time::Duration::from_secs(300))
            .await
            .map_err(|e| LedgerError {
                table: self.table.clone(),
                operation: "DescribeTable",
                message: format!(
                    "the table did not become ACTIVE: {}",
                    DisplayErrorContext(&e)
                ),
                fix: "run `remediator ledger init` again once the table is ACTIVE",
            })?;
        let ttl = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires")
                    .enabled(true)
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await;
        if let Err(e) = ttl {
            // Refused when TTL is already on: fine if it is on `expires`, else items never expire.
            if !has_code(&e, &["ValidationException"]) {
                return Err(self.error("UpdateTimeToLive", e));
            }
            let on = self
                .client
                .describe_time_to_live()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.error("DescribeTimeToLive", e))?
                .time_to_live_description
                .and_then(|d| d.attribute_name);
            if on.as_deref() != Some("expires") {
                return Err(LedgerError {
                    table: self.table.clone(),
                    operation: "UpdateTimeToLive",
                    message: format!("TTL is on {on:?}, not `expires`"),
                    fix: "turn TTL off on the table and run `remediator ledger init` again, or use another table",
                });
            }
        }
        self.client
            .update_continuous_backups()
            .table_name(&self.table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(|e| self.error("UpdateContinuousBackups", e))?;
        Ok(created)
    }
}

/// Runs the puts `RECORDS_IN_FLIGHT` at a time; the first error, if any. (Collected first, so
/// the stream holds plain futures rather than a borrowing closure.)
async fn bounded<F>(puts: Vec<F>) -> Result<(), LedgerError>
where
    F: std::future::Future<Output = Result<(), LedgerError>>,
{
    let results: Vec<Result<(), LedgerError>> = stream::iter(puts)
        .buffer_unordered(RECORDS_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect()
}

impl Ledger for DynamoLedger {
    async fn read(
        &self,
        notice: &str,
        resources: &[String],
    ) -> Result<HashMap<String, Entry>, LedgerError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&String> = resources.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(MAX_READ) {
            let mut keys = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|r| Self::key(notice, r)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| self.decode_error("BatchGetItem", e))?;
            for round in 0..=UNPROCESSED_ROUNDS {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys.clone())
                    .send()
                    .await
                    .map_err(|e| self.error("BatchGetItem", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let entry = self.entry("BatchGetItem", item.clone())?;
                    found.insert(entry.resource.clone(), entry);
                }
                match out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    Some(rest) if !rest.keys().is_empty() && round < UNPROCESSED_ROUNDS => {
                        keys = rest.clone();
                        tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
                    }
                    Some(rest) if !rest.keys().is_empty() => {
                        return Err(LedgerError {
                            table: self.table.clone(),
                            operation: "BatchGetItem",
                            message: format!("{} key(s) still unprocessed", rest.keys().len()),
                            fix: "throttled after the SDK's retries: the next delivery tries again",
                        })
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Claimed, LedgerError> {
        let update = self.claim_update(request);
        // Twice at most: when the item that refused the claim is gone by the time it is read
        // (TTL), the claim is tried once more.
        for _ in 0..2 {
            match update.clone().send().await {
                Ok(_) => return Ok(Claimed::Won),
                Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => {
                    if let Some(entry) = self.refused_by(e, request).await? {
                        return Ok(Claimed::Lost(Box::new(entry)));
                    }
                }
                Err(e) => return Err(self.error("UpdateItem", e)),
            }
        }
        Err(LedgerError {
            table: self.table.clone(),
            operation: "UpdateItem",
            message: "the claim was refused by an item that then disappeared, twice".to_owned(),
            fix: "the next delivery tries again",
        })
    }

    /// Each outcome replaces its claim only while the claim is still this invocation's: a run
    /// whose lease ran out and was taken over must not overwrite the new holder's work.
    async fn record(&self, entries: &[Entry]) -> Result<(), LedgerError> {
        bounded(entries.iter().map(|entry| self.record_one(entry)).collect()).await
    }

    async fn follow(&self, entries: &[Entry]) -> Result<(), LedgerError> {
        bounded(entries.iter().map(|entry| self.follow_one(entry)).collect()).await
    }

    async fn notice(&self, notice: &str) -> Result<Vec<Entry>, LedgerError> {
        let items: Vec<HashMap<String, AttributeValue>> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#notice = :notice")
            .expression_attribute_names("#notice", "notice")
            .expression_attribute_values(":notice", AttributeValue::S(notice.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("Query", e))?;
        items
            .into_iter()
            .map(|item| self.entry("Query", item))
            .collect()
    }

    async fn all(&self) -> Result<Vec<Entry>, LedgerError> {
        let items: Vec<HashMap<String, AttributeValue>> = self
            .client
            .scan()
            .table_name(&self.table)
            // The shared API budget's items (`crate::budget`) are not ledger entries.
            .filter_expression("NOT begins_with(#notice, :budget)")
            .expression_attribute_names("#notice", "notice")
            .expression_attribute_values(":budget", AttributeValue::S(crate::budget::PREFIX.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("Scan", e))?;
        let mut entries = items
            .into_iter()
            .map(|item| self.entry("Scan", item))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by(|a, b| (&a.notice, &a.resource).cmp(&(&b.notice, &b.resource)));
        Ok(entries)
    }
}
