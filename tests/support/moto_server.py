"""moto's server, with one addition for Herald's tests and demo: a recorded execution's outcome.

moto records every pipeline execution as `Succeeded` with no source revisions and has no
`ListActionExecutions`, so a failed run, the commit it ran and the action that broke cannot be
shown. Here a start may carry extra variables, removed before moto stores the execution:
`MOTO_EXECUTION_STATUS` (e.g. `Failed`), `MOTO_COMMIT_ID` and `MOTO_COMMIT_MESSAGE` (reported as
the execution's artifact revision, as a Git source would), `MOTO_FAILED_ACTION` (`Stage/Action`)
and `MOTO_FAILURE` (its error message), answered by a minimal `ListActionExecutions`.

moto has no `GetPipelineState`, `RetryStageExecution`, `StopPipelineExecution` or
`PutApprovalResult`: here they answer from the recorded executions, as CodePipeline documents
them. `MOTO_WAITING_APPROVAL` (`Stage/Action`) leaves an approval waiting in the execution, with
the token `token-<execution id>` (once answered, the state shows the action's status and the answer's
summary, as CodePipeline does); `MOTO_NOT_RETRYABLE` (any value) makes a retry refused with
`StageNotRetryableException`. Their effects show in the execution's status (`InProgress` after
a retry, `Stopping` after a stop) and in the state (an answered approval no longer waits). A stop
of an execution not `InProgress` is refused as CodePipeline refuses it
(`PipelineExecutionNotStoppableException`; `DuplicatedStopRequestException` when already
`Stopping`), and a stop's reason shows in `ListPipelineExecutions` as `stopTrigger`.

moto's `TransactWriteItems` deep-copies a table once per item of the transaction, all before it
writes anything, so a transaction's time grows with the table (measured: 50 items took 34 ms on
an empty table and 1372 ms on one of 1,500 items), where DynamoDB's does not. Here each table is
copied once per transaction: the same copy, the same rollback.

moto's server answers requests on many threads and its DynamoDB item writes take no lock, so two
concurrent conditional `UpdateItem`s of one item can both read the old item (seen: two starts of
one concurrency group each answered the same earlier member, leaving two running), where DynamoDB
applies each write to an item atomically. Here every DynamoDB read and write of items holds one
lock: each is atomic, as DynamoDB's are.

Usage: moto_server.py -H 127.0.0.1 -p PORT (the arguments of moto_server).
"""
import copy
import json
import threading

from moto.codepipeline import models
from moto.core.exceptions import JsonRESTError
from moto.codepipeline.responses import CodePipelineResponse
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.server import main

_init = models.PipelineExecution.__init__
_to_dict = models.PipelineExecution.to_dict

CONTROL = ("MOTO_EXECUTION_STATUS", "MOTO_COMMIT_ID", "MOTO_COMMIT_MESSAGE", "MOTO_FAILED_ACTION", "MOTO_FAILURE",
           "MOTO_WAITING_APPROVAL", "MOTO_NOT_RETRYABLE")


def _patched_init(self, pipeline_name, pipeline_version, variables):
    _init(self, pipeline_name, pipeline_version, variables)
    control = {v["name"]: v["value"] for v in self.variables if v["name"] in CONTROL}
    self.variables = [v for v in self.variables if v["name"] not in CONTROL]
    self.status = control.get("MOTO_EXECUTION_STATUS", self.status)
    self.revision = None
    if "MOTO_COMMIT_ID" in control:
        summary = json.dumps({"ProviderType": "GitHub", "CommitMessage": control.get("MOTO_COMMIT_MESSAGE", "")})
        self.revision = {
            "name": "SourceArtifact",
            "revisionId": control["MOTO_COMMIT_ID"],
            "revisionSummary": summary,
            "revisionUrl": f"https://github.com/acme/api/commit/{control['MOTO_COMMIT_ID']}",
        }
    self.actions = []
    self.waiting = control.get("MOTO_WAITING_APPROVAL")
    self.not_retryable = "MOTO_NOT_RETRYABLE" in control
    if self.waiting:
        self.status = "InProgress"
    self.failed_stage = control.get("MOTO_FAILED_ACTION", "").partition("/")[0] or None
    if "MOTO_FAILED_ACTION" in control:
        stage, _, action = control["MOTO_FAILED_ACTION"].partition("/")
        build = f"{pipeline_name}-build:{self.pipeline_execution_id}"
        self.actions.append({
            "pipelineExecutionId": self.pipeline_execution_id,
            "actionExecutionId": f"{self.pipeline_execution_id}-1",
            "stageName": stage,
            "actionName": action,
            "status": "Failed",
            "startTime": self.start_time.timestamp(),
            "lastUpdateTime": self.start_time.timestamp(),
            "output": {"executionResult": {
                "externalExecutionId": build,
                "externalExecutionSummary": "Build terminated with state: FAILED",
                "externalExecutionUrl": f"https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/{build}/view/new",
                "errorDetails": {"code": "JobFailed", "message": control.get("MOTO_FAILURE", "failed")},
            }},
        })


def _patched_to_dict(self):
    out = _to_dict(self)
    if getattr(self, "revision", None):
        out["artifactRevisions"] = [self.revision]
    return out


def _list_action_executions(self):
    execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
    execution = self.codepipeline_backend.get_pipeline_execution(self._get_param("pipelineName"), execution_id)
    return json.dumps({"actionExecutionDetails": getattr(execution, "actions", [])})


class _ControlError(JsonRESTError):
    code = 400

    def __init__(self, kind, message):
        super().__init__(kind, message)


def _execution(self, name, execution_id):
    return self.codepipeline_backend.get_pipeline_execution(name, execution_id)


def _get_pipeline_state(self):
    name = self._get_param("name")
    pipeline = self.codepipeline_backend.get_pipeline(name)[0]
    executions = list(self.codepipeline_backend.pipelines[name].executions.values())
    latest = executions[-1] if executions else None
    states = []
    for stage in pipeline["stages"]:
        state = {"stageName": stage["name"], "actionStates": []}
        if latest is not None:
            status = "Succeeded"
            if latest.failed_stage == stage["name"] and latest.status == "Failed":
                status = "Failed"
            waiting_stage, _, waiting_action = (latest.waiting or "").partition("/")
            if waiting_stage == stage["name"]:
                status = "InProgress"
                state["actionStates"].append({"actionName": waiting_action, "latestExecution": {
                    "status": "InProgress", "token": f"token-{latest.pipeline_execution_id}"}})
            answered = getattr(latest, "answered", None)
            if answered and answered[0] == stage["name"]:
                # As CodePipeline shows an answered approval: its action's status and summary.
                result = answered[2]
                state["actionStates"].append({"actionName": answered[1], "latestExecution": {
                    "status": "Succeeded" if result.get("status") == "Approved" else "Failed",
                    "summary": result.get("summary", "")}})
            state["latestExecution"] = {"pipelineExecutionId": latest.pipeline_execution_id, "status": status}
        states.append(state)
    return json.dumps({"pipelineName": name, "pipelineVersion": 1, "stageStates": states})


def _retry_stage_execution(self):
    params = {k: self._get_param(k) for k in ("pipelineName", "stageName", "pipelineExecutionId", "retryMode")}
    execution = _execution(self, params["pipelineName"], params["pipelineExecutionId"])
    if execution.not_retryable:
        raise _ControlError("StageNotRetryableException", "the stage has no failed actions to retry")
    execution.status = "InProgress"
    return json.dumps({"pipelineExecutionId": execution.pipeline_execution_id})


def _stop_pipeline_execution(self):
    params = {k: self._get_param(k) for k in ("pipelineName", "pipelineExecutionId", "abandon", "reason")}
    execution = _execution(self, params["pipelineName"], params["pipelineExecutionId"])
    if execution.status == "Stopping":
        raise _ControlError("DuplicatedStopRequestException", "the execution is already being stopped")
    if execution.status != "InProgress":
        raise _ControlError("PipelineExecutionNotStoppableException", f"the execution is {execution.status}")
    execution.status = "Stopping"
    execution.stop_reason = params["reason"]
    execution.abandoned = bool(params["abandon"])
    return json.dumps({"pipelineExecutionId": execution.pipeline_execution_id})


_to_summary_dict = models.PipelineExecution.to_summary_dict


def _patched_to_summary_dict(self):
    out = _to_summary_dict(self)
    if getattr(self, "stop_reason", None) is not None:
        # As ListPipelineExecutions shows a stopped execution (PipelineExecutionSummary.stopTrigger).
        out["stopTrigger"] = {"reason": self.stop_reason}
    return out


def _put_approval_result(self):
    params = {k: self._get_param(k) for k in ("pipelineName", "stageName", "actionName", "result", "token")}
    executions = self.codepipeline_backend.pipelines[params["pipelineName"]].executions.values()
    waiting = [e for e in executions if e.waiting and params["token"] == f"token-{e.pipeline_execution_id}"]
    if not waiting or waiting[0].waiting != f"{params['stageName']}/{params['actionName']}":
        raise _ControlError("InvalidApprovalTokenException", "the approval token does not match a waiting approval")
    stage, _, action = waiting[0].waiting.partition("/")
    waiting[0].waiting = None
    waiting[0].answered = (stage, action, params["result"])
    return json.dumps({"approvedAt": 0})


class _TableCopiedOnce:
    """`copy` for moto's DynamoDB backend: inside a transaction, a table is deep-copied once."""

    def __init__(self):
        self.transaction = threading.local()

    def deepcopy(self, obj, memo=None):
        copies = getattr(self.transaction, "copies", None)
        if copies is None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in copies:
            copies[id(obj)] = copy.deepcopy(obj, memo)
        return copies[id(obj)]


_table_copies = _TableCopiedOnce()
_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _patched_transact_write_items(self, transact_items):
    _table_copies.transaction.copies = {}
    try:
        return _transact_write_items(self, transact_items)
    finally:
        _table_copies.transaction.copies = None


# DynamoDB applies each item write atomically; moto's threaded server does not (see above).
_item_lock = threading.RLock()


def _atomic(method):
    def locked(*args, **kwargs):
        with _item_lock:
            return method(*args, **kwargs)

    return locked


dynamodb_models.copy = _table_copies
dynamodb_models.DynamoDBBackend.transact_write_items = _patched_transact_write_items
for _name in ["put_item", "get_item", "update_item", "delete_item", "transact_write_items", "transact_get_items"]:
    setattr(dynamodb_models.DynamoDBBackend, _name, _atomic(getattr(dynamodb_models.DynamoDBBackend, _name)))

models.PipelineExecution.__init__ = _patched_init
models.PipelineExecution.to_summary_dict = _patched_to_summary_dict
CodePipelineResponse.get_pipeline_state = _get_pipeline_state
CodePipelineResponse.retry_stage_execution = _retry_stage_execution
CodePipelineResponse.stop_pipeline_execution = _stop_pipeline_execution
CodePipelineResponse.put_approval_result = _put_approval_result
CodePipelineResponse.list_action_executions = _list_action_executions
models.PipelineExecution.to_dict = _patched_to_dict

if __name__ == "__main__":
    main()
