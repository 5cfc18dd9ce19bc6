//! DynamoDB adapter: idempotency records for [`DedupStore`] (ARCHITECTURE "Invariants", exactly
//! once), and the execution records of commit statuses ([`ExecutionRecords`]) in the same table.
//!
//! One item per key: `pk`, `status` (`IN_PROGRESS` / `COMPLETE`), `value`, `lease_until`
//! (an in-progress claim older than this may be taken over) and `expires_at` (the table's TTL).
//! An execution record is `pk` = `execution#<id>`, `record` (its JSON), `commit_key` (found
//! through the table's index `by-commit`: [`COMMIT_INDEX`]) and `expires_at`. The
//! last status claimed for one context of an execution is `pk` = `status#<id>#<context>`,
//! `attempt`, `final`, `lease_until`, `owner` and `expires_at` (docs/statuses.md "Final and monotonic").
//! An execution Herald stopped also holds `stop_reason`. Concurrency groups: [`DynamoDbGroups`].
//! The redelivery sweep's ledger ([`RedeliveryLedger`], on [`DynamoDbDedup`]): a delivery
//! `git-webhook` answered 200 is a completed record `delivery#<provider>:<id>` (3 days); a hook's
//! cursor is `redelivery-cursor#<entry>#<hook>` with `cursor` (30 days); a guid's redeliveries
//! are `redelivery#<provider>:<host>:<guid>` with `attempts` and, once given up, `gave_up` (3 days).

use super::classify;
use crate::ports::{
    AwsError, BoxFuture, Claim, ClaimAnswer, ConcurrencyGroups, DedupStore, ExecutionRecord, ExecutionRecords,
    GroupMember, GroupMembers, GroupPlan, HeldStatus, RedeliveryLedger, Settle, StatusClaim, MAX_GROUP_MEMBERS,
    PROCESSED_KEPT_SECS,
};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

/// How long an in-progress claim holds before another invocation may take it over.
pub const LEASE_SECS: i64 = 60;
/// How long records are kept (redeliveries older than this start again).
pub const RECORD_TTL_SECS: i64 = crate::ports::RECORD_KEPT_SECS;

/// The condition under which a claim is taken: no record, an expired one, or an in-progress one
/// whose lease ended.
const CLAIM_CONDITION: &str =
    "attribute_not_exists(pk) OR expires_at < :now OR (#s = :in_progress AND lease_until < :now)";
/// `BatchWriteItem`'s limit.
const WRITES_PER_BATCH: usize = 25;
/// Tries of one batch's unprocessed items (DynamoDB hands back what it throttled).
const BATCH_TRIES: usize = 3;

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETE: &str = "COMPLETE";

#[derive(Clone, Debug)]
pub struct DynamoDbDedup {
    client: Client,
    table: String,
}

impl DynamoDbDedup {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// One `BatchWriteItem`, its unprocessed items tried again (at most [`BATCH_TRIES`] in all).
    async fn write_batch(&self, mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>) -> Result<(), AwsError> {
        for _ in 0..BATCH_TRIES {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| classify("BatchWriteItem", e))?;
            requests = out.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(AwsError::Transient(format!("BatchWriteItem: {} writes left unprocessed", requests.len())))
    }

    async fn read(&self, key: &str, now: i64) -> Result<Option<Claim>, AwsError> {
        let item = read_item(&self.client, &self.table, AttributeValue::S(key.to_owned()), now).await?;
        Ok(item.map(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            match (text("status").as_deref(), text("value")) {
                (Some(COMPLETE), Some(value)) => Claim::Completed(value),
                _ => Claim::InProgress { lease_until: number(&item, "lease_until").unwrap_or(now + LEASE_SECS) },
            }
        }))
    }
}

/// An item as DynamoDB answers it.
type Item = std::collections::HashMap<String, AttributeValue>;

/// The item `pk` of `table`, read consistently; `None` when there is none or it is past its
/// `expires_at` (expired items linger until DynamoDB deletes them).
async fn read_item(client: &Client, table: &str, pk: AttributeValue, now: i64) -> Result<Option<Item>, AwsError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", pk)
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("GetItem", e))?;
    Ok(out.item.filter(|item| !expired(item, now)))
}

/// The number attribute `name` of `item`.
fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// Whether `item` is past its `expires_at`: expired items linger until DynamoDB deletes them,
/// days later, and count as absent.
fn expired(item: &Item, now: i64) -> bool {
    number(item, "expires_at").is_some_and(|at| at < now)
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DedupStore for DynamoDbDedup {
    fn claim<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<Claim, AwsError>> {
        Box::pin(async move {
            // Two tries: a record that expires between our write and read is claimed on the second.
            for _ in 0..2 {
                let put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", AttributeValue::S(key.to_owned()))
                    .item("status", AttributeValue::S(IN_PROGRESS.into()))
                    .item("lease_until", n(now + LEASE_SECS))
                    .item("expires_at", n(now + RECORD_TTL_SECS))
                    .condition_expression(CLAIM_CONDITION)
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
                    .expression_attribute_values(":now", n(now))
                    .send()
                    .await;
                match put {
                    Ok(_) => return Ok(Claim::Claimed),
                    Err(e)
                        if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) =>
                    {
                        if let Some(claim) = self.read(key, now).await? {
                            return Ok(claim);
                        }
                    }
                    Err(e) => return Err(classify("PutItem", e)),
                }
            }
            Ok(Claim::InProgress { lease_until: now + LEASE_SECS })
        })
    }

    fn complete<'a>(&'a self, key: &'a str, value: &'a str, now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        self.complete_for(key, value, now, RECORD_TTL_SECS)
    }

    fn complete_for<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        now: i64,
        keep_secs: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(key.to_owned()))
                .item("status", AttributeValue::S(COMPLETE.into()))
                .item("value", AttributeValue::S(value.to_owned()))
                .item("expires_at", n(now + keep_secs))
                .send()
                .await
                .map_err(|e| classify("PutItem", e))?;
            Ok(())
        })
    }

    fn claim_all<'a>(&'a self, keys: &'a [String], owner: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move {
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
            use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
            let mut items = Vec::with_capacity(keys.len());
            for key in keys.iter().take(crate::ports::MAX_CLAIMS_AT_ONCE) {
                let put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", AttributeValue::S(key.clone()))
                    .item("status", AttributeValue::S(IN_PROGRESS.into()))
                    .item("lease_until", n(now + LEASE_SECS))
                    .item("expires_at", n(now + RECORD_TTL_SECS))
                    .item("owner", AttributeValue::S(owner.to_owned()))
                    // Or held by this attempt: the SDK's retry of a transaction that landed (an
                    // emulator may ignore the ClientRequestToken that covers it on DynamoDB).
                    .condition_expression(format!("{CLAIM_CONDITION} OR (#s = :in_progress AND #o = :owner)"))
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_names("#o", "owner")
                    .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
                    .build()
                    .map_err(|e| AwsError::Permanent(format!("TransactWriteItems: {e}")))?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            if keys.len() > items.len() {
                return Ok(false);
            }
            // The SDK's retry of a transaction that landed then succeeds without a change, instead
            // of finding its own claims taken (DynamoDB keeps a token 10 minutes).
            let token = crate::token::deterministic(&[&keys.join("\u{0}"), &now.to_string()]);
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(&token[..36])
                .send()
                .await;
            match sent {
                Ok(_) => Ok(true),
                // A key taken, or another transaction on one right now (its cancellation reason
                // `TransactionConflict`): none was claimed.
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    ) =>
                {
                    Ok(false)
                }
                Err(e) => Err(classify("TransactWriteItems", e)),
            }
        })
    }

    fn settle_all<'a>(&'a self, settles: &'a [Settle], now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
            let mut requests = Vec::with_capacity(settles.len());
            for settle in settles {
                let request = match settle {
                    Settle::Complete { key, value, keep_secs } => WriteRequest::builder().put_request(
                        PutRequest::builder()
                            .item("pk", AttributeValue::S(key.clone()))
                            .item("status", AttributeValue::S(COMPLETE.into()))
                            .item("value", AttributeValue::S(value.clone()))
                            .item("expires_at", n(now + keep_secs))
                            .build()
                            .map_err(|e| AwsError::Permanent(format!("BatchWriteItem: {e}")))?,
                    ),
                    Settle::Release { key } => WriteRequest::builder().delete_request(
                        DeleteRequest::builder()
                            .key("pk", AttributeValue::S(key.clone()))
                            .build()
                            .map_err(|e| AwsError::Permanent(format!("BatchWriteItem: {e}")))?,
                    ),
                };
                requests.push(request.build());
            }
            let batches = requests.chunks(WRITES_PER_BATCH).map(|chunk| self.write_batch(chunk.to_vec()));
            futures_util::future::try_join_all(batches).await?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(key.to_owned()))
                .condition_expression("#s = :in_progress")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
                .send()
                .await
                .map_err(|e| classify("DeleteItem", e))?;
            Ok(())
        })
    }
}

/// How long a hook's redelivery cursor is kept: a sweep turned off for longer starts again
/// from its first-sweep window.
pub const CURSOR_TTL_SECS: i64 = 30 * 24 * 3600;

impl DynamoDbDedup {
    /// A conditional `UpdateItem` of `key`: `Ok(Some(item))` with the attributes it updated,
    /// `Ok(None)` when `condition` did not hold. `#c` names `cursor` (a reserved word).
    async fn update_if(
        &self,
        key: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Item>, AwsError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if update.contains("#c") {
            request = request.expression_attribute_names("#c", "cursor");
        }
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(None)
            }
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }
}

impl RedeliveryLedger for DynamoDbDedup {
    fn cursor<'a>(&'a self, hook: &'a str, now: i64) -> BoxFuture<'a, Result<Option<u64>, AwsError>> {
        Box::pin(async move {
            let pk = AttributeValue::S(format!("redelivery-cursor#{hook}"));
            let item = read_item(&self.client, &self.table, pk, now).await?;
            Ok(item.and_then(|item| number(&item, "cursor")).map(|c| c as u64))
        })
    }

    fn set_cursor<'a>(&'a self, hook: &'a str, id: u64, now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let id = i64::try_from(id).map_err(|_| AwsError::Permanent(format!("delivery id {id} is too large")))?;
            // Never back: another sweep may have moved it further meanwhile.
            self.update_if(
                &format!("redelivery-cursor#{hook}"),
                "SET #c = :id, expires_at = :exp",
                "attribute_not_exists(#c) OR #c < :id OR expires_at < :now",
                vec![(":id", n(id)), (":exp", n(now + CURSOR_TTL_SECS)), (":now", n(now))],
            )
            .await
            .map(drop)
        })
    }

    fn processed<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move { Ok(matches!(self.read(key, now).await?, Some(Claim::Completed(_)))) })
    }

    fn walk<'a>(&'a self, hook: &'a str, now: i64) -> BoxFuture<'a, Result<Option<String>, AwsError>> {
        Box::pin(async move {
            let pk = AttributeValue::S(format!("redelivery-walk#{hook}"));
            let item = read_item(&self.client, &self.table, pk, now).await?;
            Ok(item.and_then(|item| item.get("walk").and_then(|v| v.as_s().ok()).cloned()))
        })
    }

    fn set_walk<'a>(&'a self, hook: &'a str, walk: Option<&'a str>, now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let key = format!("redelivery-walk#{hook}");
            // One sweep per hook at a time (the schedule's): the last word is the walk's.
            let always = "attribute_not_exists(pk) OR attribute_exists(pk)";
            match walk {
                Some(walk) => self
                    .update_if(
                        &key,
                        "SET walk = :w, expires_at = :exp",
                        always,
                        vec![(":w", AttributeValue::S(walk.to_owned())), (":exp", n(now + CURSOR_TTL_SECS))],
                    )
                    .await
                    .map(drop),
                None => self.update_if(&key, "REMOVE walk", always, Vec::new()).await.map(drop),
            }
        })
    }

    fn count_attempt<'a>(&'a self, key: &'a str, max: u32, now: i64) -> BoxFuture<'a, Result<Option<u32>, AwsError>> {
        Box::pin(async move {
            let updated = self
                .update_if(
                    key,
                    "ADD attempts :one SET expires_at = :exp",
                    "attribute_not_exists(attempts) OR attempts < :max",
                    vec![(":one", n(1)), (":max", n(i64::from(max))), (":exp", n(now + PROCESSED_KEPT_SECS))],
                )
                .await?;
            Ok(updated.map(|item| number(&item, "attempts").unwrap_or(1) as u32))
        })
    }

    fn uncount_attempt<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.update_if(key, "ADD attempts :minus", "attempts > :zero", vec![(":minus", n(-1)), (":zero", n(0))])
                .await
                .map(drop)
        })
    }

    fn give_up<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move {
            let updated = self
                .update_if(
                    key,
                    "SET gave_up = :now, expires_at = :exp",
                    "attribute_not_exists(gave_up)",
                    vec![(":now", n(now)), (":exp", n(now + PROCESSED_KEPT_SECS))],
                )
                .await?;
            Ok(updated.is_some())
        })
    }
}

/// How long an execution record is kept: longer than any execution runs.
pub const EXECUTION_RECORD_TTL_SECS: i64 = 30 * 24 * 3600;

/// The table's global secondary index on `commit_key`: the executions of one commit.
pub const COMMIT_INDEX: &str = "by-commit";
/// The most records of one commit read (one page of the index): far more than the triggers one
/// commit starts.
pub const MAX_RECORDS_PER_COMMIT: i32 = 100;

/// Execution records for commit statuses.
#[derive(Clone, Debug)]
pub struct DynamoDbRecords {
    client: Client,
    table: String,
}

impl DynamoDbRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn execution_key(execution_id: &str) -> AttributeValue {
    AttributeValue::S(format!("execution#{execution_id}"))
}

fn status_key(claim: &StatusClaim) -> AttributeValue {
    AttributeValue::S(format!("status#{}#{}", claim.execution_id, claim.context))
}

/// The condition under which a claim is granted: [`HeldStatus::admits`] and no lease under way,
/// in DynamoDB's words (an expired item counts as absent, as everywhere in this table).
fn claim_condition(claim: &StatusClaim) -> &'static str {
    if claim.state.is_final() {
        "attribute_not_exists(pk) OR expires_at < :now OR (attempt <= :attempt AND lease_until <= :now)"
    } else {
        "attribute_not_exists(pk) OR expires_at < :now OR ((attempt < :attempt OR (attempt = :attempt AND #final = :no)) AND lease_until <= :now)"
    }
}

impl DynamoDbRecords {
    /// What the table holds for `claim`'s context (`None`: nothing, or expired).
    async fn held(&self, claim: &StatusClaim, now: i64) -> Result<Option<HeldStatus>, AwsError> {
        let item = read_item(&self.client, &self.table, status_key(claim), now).await?;
        Ok(item.and_then(|item| {
            Some(HeldStatus {
                attempt: u32::try_from(number(&item, "attempt")?).ok()?,
                is_final: item.get("final").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
                lease_until: number(&item, "lease_until").unwrap_or(0),
            })
        }))
    }
}

impl ExecutionRecords for DynamoDbRecords {
    fn put<'a>(&'a self, record: &'a ExecutionRecord, now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let json = serde_json::to_string(record).map_err(|e| AwsError::Permanent(e.to_string()))?;
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", execution_key(&record.execution_id))
                .item("record", AttributeValue::S(json))
                .item("commit_key", AttributeValue::S(record.commit_key()))
                .item("expires_at", n(now + EXECUTION_RECORD_TTL_SECS))
                .send()
                .await
                .map_err(|e| classify("PutItem", e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, execution_id: &'a str, now: i64) -> BoxFuture<'a, Result<Option<ExecutionRecord>, AwsError>> {
        Box::pin(async move {
            let Some(item) = read_item(&self.client, &self.table, execution_key(execution_id), now).await? else {
                return Ok(None);
            };
            let record = item.get("record").and_then(|v| v.as_s().ok());
            let stop_reason = item.get("stop_reason").and_then(|v| v.as_s().ok()).cloned();
            Ok(record
                .and_then(|json| serde_json::from_str::<ExecutionRecord>(json).ok())
                .map(|record| ExecutionRecord { stop_reason, ..record }))
        })
    }

    fn by_commit<'a>(&'a self, commit_key: &'a str, now: i64) -> BoxFuture<'a, Result<Vec<ExecutionRecord>, AwsError>> {
        Box::pin(async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(COMMIT_INDEX)
                .key_condition_expression("commit_key = :k")
                .expression_attribute_values(":k", AttributeValue::S(commit_key.to_owned()))
                .limit(MAX_RECORDS_PER_COMMIT)
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            Ok(out
                .items()
                .iter()
                .filter(|item| !expired(item, now))
                .filter_map(|item| item.get("record")?.as_s().ok().and_then(|json| serde_json::from_str(json).ok()))
                .collect())
        })
    }

    fn claim_status<'a>(&'a self, claim: &'a StatusClaim, now: i64) -> BoxFuture<'a, Result<ClaimAnswer, AwsError>> {
        Box::pin(async move {
            let held = HeldStatus::of(claim, now);
            let condition = claim_condition(claim);
            // Two tries: a lease that ends between our write and read is taken on the second.
            for _ in 0..2 {
                let mut put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", status_key(claim))
                    .item("attempt", n(i64::from(held.attempt)))
                    .item("final", AttributeValue::Bool(held.is_final))
                    .item("lease_until", n(held.lease_until))
                    .item("owner", AttributeValue::S(claim.owner.clone()))
                    .item("expires_at", n(now + EXECUTION_RECORD_TTL_SECS))
                    .condition_expression(condition)
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":attempt", n(i64::from(claim.attempt)));
                if !claim.state.is_final() {
                    put = put
                        .expression_attribute_names("#final", "final")
                        .expression_attribute_values(":no", AttributeValue::Bool(false));
                }
                match put.send().await {
                    Ok(_) => return Ok(ClaimAnswer::Granted),
                    Err(e)
                        if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) =>
                    {
                        let current = self.held(claim, now).await?;
                        if !HeldStatus::admits(current.as_ref(), claim) {
                            return Ok(ClaimAnswer::Stale);
                        }
                        if let Some(h) = current.filter(|h| h.lease_until > now) {
                            return Ok(ClaimAnswer::Busy { lease_until: h.lease_until });
                        }
                    }
                    Err(e) => return Err(classify("PutItem", e)),
                }
            }
            Ok(ClaimAnswer::Busy { lease_until: now + 1 })
        })
    }

    fn note_stop<'a>(&'a self, execution_id: &'a str, reason: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", execution_key(execution_id))
                .update_expression("SET stop_reason = :reason")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
                .send()
                .await;
            match update {
                Ok(_) => Ok(()),
                // Not recorded (a trigger without status): nothing reads the note.
                Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                    Ok(())
                }
                Err(e) => Err(classify("UpdateItem", e)),
            }
        })
    }

    fn release_status<'a>(&'a self, claim: &'a StatusClaim) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", status_key(claim))
                .update_expression("SET lease_until = :zero")
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S(claim.owner.clone()))
                .expression_attribute_values(":zero", n(0))
                .send()
                .await;
            match update {
                Ok(_) => Ok(()),
                // Our lease ran out and another post took the context: its lease is not ours to end.
                Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                    Ok(())
                }
                Err(e) => Err(classify("UpdateItem", e)),
            }
        })
    }
}

/// Concurrency groups (docs/configuration.md "One build per pull request"), in the same table: `pk` =
/// `group#<SHA-256 of trigger and rendered group>`, `trigger`, `group`, `members` (a list of
/// maps: execution_id, pipeline, commit, started_at), `latest` (the newest member's execution
/// id), `version` (one more per write) and `expires_at`.
#[derive(Clone, Debug)]
pub struct DynamoDbGroups {
    client: Client,
    table: String,
}

impl DynamoDbGroups {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn group_key(group: &GroupPlan) -> AttributeValue {
    AttributeValue::S(format!("group#{}", crate::token::deterministic(&["group", &group.trigger, &group.key_name()])))
}

fn member_value(member: &GroupMember) -> AttributeValue {
    AttributeValue::M(
        [
            ("execution_id".to_owned(), AttributeValue::S(member.execution_id.clone())),
            ("pipeline".to_owned(), AttributeValue::S(member.pipeline.clone())),
            ("commit".to_owned(), AttributeValue::S(member.commit.clone())),
            ("started_at".to_owned(), n(member.started_at)),
            ("pull_request".to_owned(), member.pull_request.map_or(AttributeValue::Null(true), |p| n(p as i64))),
        ]
        .into(),
    )
}

fn members_of(item: &Item) -> Vec<GroupMember> {
    let Some(AttributeValue::L(list)) = item.get("members") else { return Vec::new() };
    list.iter()
        .filter_map(|v| {
            let m = v.as_m().ok()?;
            let text = |name: &str| m.get(name).and_then(|v| v.as_s().ok()).cloned();
            Some(GroupMember {
                execution_id: text("execution_id")?,
                pipeline: text("pipeline")?,
                commit: text("commit").unwrap_or_default(),
                started_at: number(m, "started_at").unwrap_or(0),
                pull_request: number(m, "pull_request").and_then(|p| u64::try_from(p).ok()),
            })
        })
        .collect()
}

fn unexpired(item: Option<Item>, now: i64) -> Option<Item> {
    item.filter(|item| !expired(item, now))
}

impl ConcurrencyGroups for DynamoDbGroups {
    fn join<'a>(
        &'a self,
        group: &'a GroupPlan,
        member: &'a GroupMember,
        replace: bool,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<GroupMember>, AwsError>> {
        Box::pin(async move {
            let members = if replace { ":me" } else { "list_append(if_not_exists(members, :none), :me)" };
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", group_key(group))
                .update_expression(format!(
                    "SET members = {members}, latest = :id, version = if_not_exists(version, :zero) + :one, expires_at = :expires, #trigger = :trigger, #group = :group"
                ))
                // The same execution again (a retried join whose answer was lost) changes nothing.
                .condition_expression("attribute_not_exists(latest) OR latest <> :id")
                .expression_attribute_names("#trigger", "trigger")
                .expression_attribute_names("#group", "group")
                .expression_attribute_values(":me", AttributeValue::L(vec![member_value(member)]))
                .expression_attribute_values(":id", AttributeValue::S(member.execution_id.clone()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":expires", n(now + EXECUTION_RECORD_TTL_SECS))
                .expression_attribute_values(":trigger", AttributeValue::S(group.trigger.clone()))
                .expression_attribute_values(":group", AttributeValue::S(group.name.clone()));
            let update = if replace {
                update
            } else {
                update.expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            };
            let old = match update.return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld).send().await {
                Ok(out) => unexpired(out.attributes, now),
                Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                    return Ok(Vec::new())
                }
                Err(e) => return Err(classify("UpdateItem", e)),
            };
            let earlier = old.as_ref().map(members_of).unwrap_or_default();
            if !replace && earlier.len() >= MAX_GROUP_MEMBERS {
                // Forget the oldest: the list holds at most MAX_GROUP_MEMBERS.
                let over = earlier.len() + 1 - MAX_GROUP_MEMBERS;
                let removed = (0..over).map(|i| format!("members[{i}]")).collect::<Vec<_>>().join(", ");
                let trimmed = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", group_key(group))
                    .update_expression(format!("REMOVE {removed}"))
                    .send()
                    .await;
                if let Err(e) = trimmed {
                    tracing::warn!(group = %group.name, error = %classify("UpdateItem", e), "could not forget the group's oldest executions");
                }
            }
            Ok(earlier)
        })
    }

    fn keep<'a>(
        &'a self,
        group: &'a GroupPlan,
        members: &'a [GroupMember],
        now: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", group_key(group))
                .update_expression(
                    "SET members = list_append(if_not_exists(members, :none), :them), version = if_not_exists(version, :zero) + :one, expires_at = :expires",
                )
                .expression_attribute_values(":them", AttributeValue::L(members.iter().map(member_value).collect()))
                .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":expires", n(now + EXECUTION_RECORD_TTL_SECS))
                .send()
                .await
                .map_err(|e| classify("UpdateItem", e))?;
            Ok(())
        })
    }

    fn members<'a>(&'a self, group: &'a GroupPlan, now: i64) -> BoxFuture<'a, Result<GroupMembers, AwsError>> {
        Box::pin(async move {
            let Some(item) = read_item(&self.client, &self.table, group_key(group), now).await? else {
                return Ok(GroupMembers::default());
            };
            let version = number(&item, "version").unwrap_or(0);
            Ok(GroupMembers { members: members_of(&item), version })
        })
    }

    fn forget<'a>(&'a self, group: &'a GroupPlan, version: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", group_key(group))
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(version))
                .send()
                .await;
            match deleted {
                Ok(_) => Ok(()),
                // A start joined since: the group lives on.
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(
                            aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
                                _
                            )
                        )
                    ) =>
                {
                    Ok(())
                }
                Err(e) => Err(classify("DeleteItem", e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{mock, RuleMode};

    #[tokio::test]
    async fn claims_fresh_keys_with_a_conditional_write() {
        let put = mock!(Client::put_item)
            .match_requests(|r| {
                r.condition_expression().is_some_and(|c| c.contains("attribute_not_exists(pk)"))
                    && r.item()
                        .and_then(|i| i.get("expires_at"))
                        .is_some_and(|v| v.as_n().ok() == Some(&(100 + RECORD_TTL_SECS).to_string()))
                    && r.item()
                        .and_then(|i| i.get("lease_until"))
                        .is_some_and(|v| v.as_n().ok() == Some(&(100 + LEASE_SECS).to_string()))
            })
            .then_output(|| PutItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[&put]);
        assert_eq!(DynamoDbDedup::new(client, "t").claim("k", 100).await, Ok(Claim::Claimed));
    }

    #[tokio::test]
    async fn a_taken_key_reports_its_state() {
        let taken = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
        let done = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("pk", AttributeValue::S("k".into()))
                .item("status", AttributeValue::S(COMPLETE.into()))
                .item("value", AttributeValue::S("exec-1".into()))
                .build()
        });
        let taken_again = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
        let busy = mock!(Client::get_item)
            .then_output(|| GetItemOutput::builder().item("status", AttributeValue::S(IN_PROGRESS.into())).build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[&taken, &done, &taken_again, &busy]);
        let store = DynamoDbDedup::new(client, "t");
        assert_eq!(store.claim("k", 1).await, Ok(Claim::Completed("exec-1".into())));
        assert_eq!(store.claim("k", 1).await, Ok(Claim::InProgress { lease_until: 1 + LEASE_SECS }));
    }

    #[tokio::test]
    async fn an_expired_record_counts_as_absent() {
        // DynamoDB deletes expired items lazily (days later): the write's condition and the read
        // both treat a passed `expires_at` as no record.
        let taken = mock!(Client::put_item)
            .match_requests(|r| r.condition_expression().is_some_and(|c| c.contains("expires_at < :now")))
            .then_error(|| {
                PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
            });
        let stale = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("pk", AttributeValue::S("k".into()))
                .item("status", AttributeValue::S(COMPLETE.into()))
                .item("value", AttributeValue::S("exec-old".into()))
                .item("expires_at", AttributeValue::N("50".into()))
                .build()
        });
        let claimed = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[&taken, &stale, &claimed]);
        assert_eq!(DynamoDbDedup::new(client, "t").claim("k", 100).await, Ok(Claim::Claimed));
    }

    fn claim(state: crate::ports::StatusState, attempt: u32) -> StatusClaim {
        StatusClaim { execution_id: "e-1".into(), context: "herald/app".into(), attempt, state, owner: "me".into() }
    }

    #[tokio::test]
    async fn a_status_claim_is_one_conditional_write_that_never_goes_back() {
        use crate::ports::StatusState;
        let granted = mock!(Client::put_item)
            .match_requests(|r| {
                r.condition_expression()
                    .is_some_and(|c| c.contains("#final = :no") && c.contains("lease_until <= :now"))
                    && r.item().and_then(|i| i.get("pk")).and_then(|v| v.as_s().ok()).map(String::as_str)
                        == Some("status#e-1#herald/app")
            })
            .then_output(|| PutItemOutput::builder().build());
        let refused = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
        let ended = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("attempt", AttributeValue::N("1".into()))
                .item("final", AttributeValue::Bool(true))
                .item("lease_until", AttributeValue::N("0".into()))
                .build()
        });
        let refused_again = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
        let posting = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("attempt", AttributeValue::N("1".into()))
                .item("final", AttributeValue::Bool(false))
                .item("lease_until", AttributeValue::N("130".into()))
                .build()
        });
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::Sequential,
            &[&granted, &refused, &ended, &refused_again, &posting]
        );
        let records = DynamoDbRecords::new(client, "t");
        assert_eq!(records.claim_status(&claim(StatusState::Pending, 1), 100).await, Ok(ClaimAnswer::Granted));
        // After the attempt's end, a late `pending` of it is stale.
        assert_eq!(records.claim_status(&claim(StatusState::Pending, 1), 100).await, Ok(ClaimAnswer::Stale));
        // While another instance posts, a final waits.
        assert_eq!(
            records.claim_status(&claim(StatusState::Success, 1), 100).await,
            Ok(ClaimAnswer::Busy { lease_until: 130 })
        );
    }
}
