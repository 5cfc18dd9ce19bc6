"""moto's server, with one addition for Herald's tests and demo: a recorded execution's outcome.

moto records every pipeline execution as `Succeeded` with no source revisions, so a failed run
and the commit it ran cannot be shown. Here a start may carry three extra variables, removed
before moto stores the execution: `MOTO_EXECUTION_STATUS` (e.g. `Failed`), `MOTO_COMMIT_ID` and
`MOTO_COMMIT_MESSAGE` (reported as the execution's artifact revision, as a Git source would).

Usage: moto_server.py -H 127.0.0.1 -p PORT (the arguments of moto_server).
"""
import json

from moto.codepipeline import models
from moto.server import main

_init = models.PipelineExecution.__init__
_to_dict = models.PipelineExecution.to_dict

CONTROL = ("MOTO_EXECUTION_STATUS", "MOTO_COMMIT_ID", "MOTO_COMMIT_MESSAGE")


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


def _patched_to_dict(self):
    out = _to_dict(self)
    if getattr(self, "revision", None):
        out["artifactRevisions"] = [self.revision]
    return out


models.PipelineExecution.__init__ = _patched_init
models.PipelineExecution.to_dict = _patched_to_dict

if __name__ == "__main__":
    main()
