"""moto's server, with one addition for Herald's tests and demo: a recorded execution's outcome.

moto records every pipeline execution as `Succeeded` with no source revisions and has no
`ListActionExecutions`, so a failed run, the commit it ran and the action that broke cannot be
shown. Here a start may carry extra variables, removed before moto stores the execution:
`MOTO_EXECUTION_STATUS` (e.g. `Failed`), `MOTO_COMMIT_ID` and `MOTO_COMMIT_MESSAGE` (reported as
the execution's artifact revision, as a Git source would), `MOTO_FAILED_ACTION` (`Stage/Action`)
and `MOTO_FAILURE` (its error message), answered by a minimal `ListActionExecutions`.

Usage: moto_server.py -H 127.0.0.1 -p PORT (the arguments of moto_server).
"""
import json

from moto.codepipeline import models
from moto.codepipeline.responses import CodePipelineResponse
from moto.server import main

_init = models.PipelineExecution.__init__
_to_dict = models.PipelineExecution.to_dict

CONTROL = ("MOTO_EXECUTION_STATUS", "MOTO_COMMIT_ID", "MOTO_COMMIT_MESSAGE", "MOTO_FAILED_ACTION", "MOTO_FAILURE")


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


models.PipelineExecution.__init__ = _patched_init
CodePipelineResponse.list_action_executions = _list_action_executions
models.PipelineExecution.to_dict = _patched_to_dict

if __name__ == "__main__":
    main()
