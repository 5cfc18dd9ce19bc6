//! Concurrency groups (docs/configuration.md "One build per pull request"): each start of a trigger with
//! `concurrency` is recorded in its group (one conditional write, [`ConcurrencyGroups::join`]);
//! with `cancel_in_progress` the group's earlier executions are then stopped, and a pull request
//! closed or merged stops its group's executions. A stop of an execution that already ended is
//! not a failure; a stop that failed is put back in the group, so the next start or close stops it.

use crate::metrics;
use crate::ports::{
    AwsError, ConcurrencyGroups, ExecutionRecords, GroupMember, GroupPlan, PipelineControl, StopAnswer, StopRequest,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// What became of one stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub trigger: String,
    pub pipeline: String,
    pub execution_id: String,
    /// `superseded by abc1234 (herald)`, `closed (herald)`.
    pub reason: String,
    pub result: Result<StopAnswer, AwsError>,
}

impl Stop {
    /// Whether the execution is stopping now (because of this stop or an earlier one).
    pub fn stopped(&self) -> bool {
        matches!(self.result, Ok(StopAnswer::Stopping | StopAnswer::AlreadyStopping))
    }

    /// The answer's and the decision event's entry: `{"trigger","pipeline","execution_id"}`.
    pub fn entry(&self) -> Value {
        json!({ "trigger": self.trigger, "pipeline": self.pipeline, "execution_id": self.execution_id })
    }
}

/// The entries of the stops that stopped, and of those that failed (with Herald's words: AWS's
/// text stays in the log).
pub fn entries(stops: &[Stop]) -> (Vec<Value>, Vec<Value>) {
    let stopped = stops.iter().filter(|s| s.stopped()).map(Stop::entry).collect();
    let failed = stops
        .iter()
        .filter_map(|s| {
            let e = s.result.as_ref().err()?;
            let mut entry = s.entry();
            entry["error"] = json!("CodePipeline did not take the stop; the group's next start or close stops it");
            entry["retryable"] = json!(e.is_transient());
            Some(entry)
        })
        .collect();
    (stopped, failed)
}

/// How the error of a start its group could not record begins.
pub const GROUP_NOT_RECORDED: &str = "could not record the start in its concurrency group";

/// The ports a group's stops need.
pub struct Groups {
    groups: Arc<dyn ConcurrencyGroups>,
    control: Arc<dyn PipelineControl>,
    /// The execution records, when statuses are posted: a stopped execution's notes why, and its
    /// final status says so.
    records: Option<Arc<dyn ExecutionRecords>>,
}

/// The reason a start gives the executions it supersedes (CodePipeline keeps 200 characters).
pub fn superseded_reason(commit: &str) -> String {
    format!("superseded by {} (herald)", short(commit))
}

/// The reason a pull request closed or merged gives its group's executions.
pub const CLOSED_REASON: &str = "closed (herald)";

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

impl Groups {
    pub fn new(
        groups: Arc<dyn ConcurrencyGroups>,
        control: Arc<dyn PipelineControl>,
        records: Option<Arc<dyn ExecutionRecords>>,
    ) -> Self {
        Self { groups, control, records }
    }

    /// Records a new start in its group, before its start is acknowledged: a failure fails the
    /// start (retryable: its token makes the retry find the same execution). Answers the members
    /// to stop: with `cancel_in_progress`, every earlier one; otherwise none.
    pub async fn join(&self, group: &GroupPlan, member: &GroupMember, now: i64) -> Result<Vec<GroupMember>, AwsError> {
        let earlier = self.groups.join(group, member, group.cancel_in_progress, now).await.map_err(|e| {
            let text = format!("{GROUP_NOT_RECORDED} {:?}: {e}", group.name);
            match e {
                AwsError::Transient(_) => AwsError::Transient(text),
                AwsError::Permanent(_) => AwsError::Permanent(text),
            }
        })?;
        if !group.cancel_in_progress {
            return Ok(Vec::new());
        }
        Ok(earlier.into_iter().filter(|m| m.execution_id != member.execution_id).collect())
    }

    /// Stops the members a new start of `group` superseded.
    pub async fn supersede(&self, group: &GroupPlan, members: Vec<GroupMember>, now: i64) -> Vec<Stop> {
        if members.is_empty() {
            return Vec::new();
        }
        self.stop_all(group, members, &superseded_reason(&group.commit), now).await
    }

    /// Stops the members of `group` that the closed (or merged) pull request started, and
    /// forgets them: another pull request's executions in the same group (a template without
    /// `{pr_number}`) keep running. A member recorded without its pull request (before 0.3.0)
    /// counts as this one's, as it did then.
    pub async fn close(&self, group: &GroupPlan, now: i64) -> Result<Vec<Stop>, AwsError> {
        let held = self.groups.members(group, now).await?;
        let (own, others): (Vec<GroupMember>, Vec<GroupMember>) =
            held.members.into_iter().partition(|m| m.pull_request.is_none() || m.pull_request == group.pull_request);
        if own.is_empty() {
            return Ok(Vec::new());
        }
        let stops = self.stop_all(group, own, CLOSED_REASON, now).await;
        // The failed ones were put back: that write moved the version, so the group stays.
        if stops.iter().all(|s| s.result.is_ok()) {
            match self.groups.forget(group, held.version).await {
                Ok(()) if !others.is_empty() => {
                    if let Err(e) = self.groups.keep(group, &others, now).await {
                        tracing::warn!(group = %group.name, error = %e, "could not keep the group's other pull requests' executions; their next start does not stop them");
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(group = %group.name, error = %e, "could not forget the closed pull request's executions; a reopened pull request's first start tries their stops again");
                }
            }
        }
        Ok(stops)
    }

    async fn stop_all(&self, group: &GroupPlan, members: Vec<GroupMember>, reason: &str, now: i64) -> Vec<Stop> {
        let stops = futures_util::future::join_all(members.iter().map(|m| self.stop_one(group, m, reason))).await;
        let failed: Vec<GroupMember> = members
            .into_iter()
            .zip(&stops)
            .filter(|(_, s)| s.result.as_ref().is_err_and(AwsError::is_transient))
            .map(|(m, _)| m)
            .collect();
        if !failed.is_empty() {
            if let Err(e) = self.groups.keep(group, &failed, now).await {
                tracing::error!(group = %group.name, executions = failed.len(), error = %e, "stops failed and could not be put back in the group; those executions keep running");
            }
        }
        stops
    }

    async fn stop_one(&self, group: &GroupPlan, member: &GroupMember, reason: &str) -> Stop {
        let request = StopRequest {
            pipeline: member.pipeline.clone(),
            execution_id: member.execution_id.clone(),
            reason: reason.to_owned(),
            abandon: group.abandon,
        };
        // The note first, in the same round trip: the stop's state change may reach the notifier
        // before the stop call returns.
        let why = reason.trim_end_matches(" (herald)");
        let note = async {
            if let Some(records) = &self.records {
                if let Err(e) = records.note_stop(&member.execution_id, why).await {
                    tracing::warn!(execution_id = %member.execution_id, error = %e, "could not note why the execution is stopped; its status says only that it stopped");
                }
            }
        };
        let ((), result) = futures_util::future::join(note, self.control.stop(&request)).await;
        let stop = Stop {
            trigger: group.trigger.clone(),
            pipeline: member.pipeline.clone(),
            execution_id: member.execution_id.clone(),
            reason: reason.to_owned(),
            result,
        };
        log(group, &stop);
        stop
    }
}

/// One line per stop.
fn log(group: &GroupPlan, stop: &Stop) {
    let (trigger, pipeline, execution_id, reason) = (&stop.trigger, &stop.pipeline, &stop.execution_id, &stop.reason);
    match &stop.result {
        Ok(StopAnswer::Stopping) => {
            metrics::count("ExecutionsStopped", 1, &[]);
            tracing::info!(group = %group.name, trigger, pipeline, execution_id, reason, abandon = group.abandon, "stopped");
        }
        Ok(StopAnswer::AlreadyStopping) => {
            tracing::info!(group = %group.name, trigger, pipeline, execution_id, reason, "already stopping")
        }
        Ok(StopAnswer::AlreadyEnded) => {
            tracing::info!(group = %group.name, trigger, pipeline, execution_id, reason, "already ended; nothing to stop")
        }
        Err(e) => {
            metrics::count("StopFailed", 1, &[]);
            tracing::error!(group = %group.name, trigger, pipeline, execution_id, reason, error = %e, "stop failed; kept in the group for its next start or close");
        }
    }
}

#[cfg(test)]
mod tests;
