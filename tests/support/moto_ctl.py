"""Sets up and reads the moto AWS emulator for Herald's integration tests and demo.

Usage: moto_ctl.py ENDPOINT COMMAND [ARGS...]; prints JSON. Uses boto3, which moto installs.
"""
import json
import sys

import boto3

REGION = "us-east-1"
ROLE = "herald-demo-pipeline-role"


def client(endpoint, service):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def role_arn(endpoint):
    iam = client(endpoint, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def create_pipeline(endpoint, name, *variables):
    """A V2 pipeline with an S3 source and the given pipeline variables declared. An argument
    `source=BUCKET:KEY[:override]` sets the source action's bucket and key (and
    AllowOverrideForS3ObjectKey: true); by default it reads herald-demo-src/src.zip."""
    cp = client(endpoint, "codepipeline")
    source = {"S3Bucket": "herald-demo-src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"}
    for spec in [v for v in variables if v.startswith("source=")]:
        bucket, key, *override = spec[len("source="):].split(":")
        source.update({"S3Bucket": bucket, "S3ObjectKey": key})
        if override == ["override"]:
            source["AllowOverrideForS3ObjectKey"] = "true"
    variables = [v for v in variables if not v.startswith("source=")]
    pipeline = {
        "name": name,
        "roleArn": role_arn(endpoint),
        "artifactStore": {"type": "S3", "location": "herald-demo-artifacts"},
        "pipelineType": "V2",
        "variables": [{"name": v, "defaultValue": "-"} for v in variables],
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": source,
                        "outputArtifacts": [{"name": "src"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Build",
                        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                        "configuration": {"ProjectName": "herald-demo"},
                        "inputArtifacts": [{"name": "src"}],
                    }
                ],
            },
        ],
    }
    cp.create_pipeline(pipeline=pipeline)
    return {"pipeline": name}


def create_sourced_pipeline(endpoint, name, sources, *options):
    """A V2 pipeline whose Source stage holds the actions of `sources` (JSON: a list of
    {"name", "provider", "configuration"}; owner ThirdParty for GitHub v1, AWS otherwise), then a
    build. Option `trigger` adds a V2 trigger of its own (a push filter on the first action)."""
    actions = []
    for i, source in enumerate(json.loads(sources)):
        owner = "ThirdParty" if source["provider"] == "GitHub" else "AWS"
        actions.append({
            "name": source["name"],
            "actionTypeId": {"category": "Source", "owner": owner, "provider": source["provider"], "version": "1"},
            "configuration": source["configuration"],
            "outputArtifacts": [{"name": f"src{i}"}],
        })
    pipeline = {
        "name": name,
        "roleArn": role_arn(endpoint),
        "artifactStore": {"type": "S3", "location": "herald-demo-artifacts"},
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": actions},
            {"name": "Build", "actions": [{
                "name": "Build",
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {"ProjectName": "herald-demo"},
                "inputArtifacts": [{"name": "src0"}],
            }]},
        ],
    }
    if "trigger" in options:
        pipeline["triggers"] = [{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": actions[0]["name"], "push": [{"branches": {"includes": ["main"]}}]},
        }]
    client(endpoint, "codepipeline").create_pipeline(pipeline=pipeline)
    return {"pipeline": name}


def create_topic(endpoint, name):
    return {"topic_arn": client(endpoint, "sns").create_topic(Name=name)["TopicArn"]}


def create_stack(endpoint, name, *parameters):
    """A CloudFormation stack with Herald's AdditionalAlertTopicArns and S3SourceBuckets
    parameters and its DedupTableName output (KEY=VALUE arguments set parameters; DedupTableName
    sets the output) and one placeholder resource. The parameters
    are Strings here: moto answers a CommaDelimitedList's value as a Python list's repr
    ("['arn']"), where DescribeStacks answers the comma-separated text it was given."""
    template = {
        "Parameters": {"AdditionalAlertTopicArns": {"Type": "String", "Default": ""},
                       "S3SourceBuckets": {"Type": "String", "Default": ""},
                       "DedupTableName": {"Type": "String", "Default": ""}},
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"DedupTableName": {"Value": {"Ref": "DedupTableName"}}},
    }
    values = [dict(zip(["ParameterKey", "ParameterValue"], p.split("=", 1))) for p in parameters]
    client(endpoint, "cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template), Parameters=values)
    return {"stack": name}


def executions(endpoint, name):
    """Executions of a pipeline, oldest first, with their variables."""
    cp = client(endpoint, "codepipeline")
    out = []
    for summary in reversed(cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]):
        ex = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=summary["pipelineExecutionId"])
        variables = {v["name"]: v["resolvedValue"] for v in ex["pipelineExecution"].get("variables", [])}
        out.append({"id": summary["pipelineExecutionId"], "variables": variables, "status": summary["status"],
                    "stop_reason": summary.get("stopTrigger", {}).get("reason")})
    return out


def start_execution(endpoint, name, status, commit=None, message=None, failed_action=None, failure=None):
    """An execution moto records with STATUS, the commit it ran and, for a failure, the action
    that broke (`Stage/Action`) and its error (needs tests/support/moto_server.py)."""
    variables = [{"name": "MOTO_EXECUTION_STATUS", "value": status}]
    if commit:
        variables.append({"name": "MOTO_COMMIT_ID", "value": commit})
        variables.append({"name": "MOTO_COMMIT_MESSAGE", "value": message or ""})
    if failed_action:
        variables.append({"name": "MOTO_FAILED_ACTION", "value": failed_action})
        variables.append({"name": "MOTO_FAILURE", "value": failure or "failed"})
    cp = client(endpoint, "codepipeline")
    execution_id = cp.start_pipeline_execution(name=name, variables=variables)["pipelineExecutionId"]
    return {"execution_id": execution_id}


def start_with(endpoint, name, *controls):
    """An execution moto records with the shim's controls, each `MOTO_NAME=value`
    (tests/support/moto_server.py), e.g. MOTO_WAITING_APPROVAL=Build/Build."""
    variables = [{"name": k, "value": v} for k, _, v in (c.partition("=") for c in controls)]
    cp = client(endpoint, "codepipeline")
    return {"execution_id": cp.start_pipeline_execution(name=name, variables=variables)["pipelineExecutionId"]}


def execution_status(endpoint, name, execution_id):
    cp = client(endpoint, "codepipeline")
    ex = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)["pipelineExecution"]
    return {"status": ex["status"]}


def pipeline_state(endpoint, name):
    """GetPipelineState's stages: each one's latest execution and its actions' latest runs."""
    cp = client(endpoint, "codepipeline")
    stages = cp.get_pipeline_state(name=name)["stageStates"]
    return {"stages": [{"stage": s["stageName"], "execution": s.get("latestExecution", {}),
                        "actions": [{"action": a.get("actionName"), **a.get("latestExecution", {})}
                                    for a in s.get("actionStates", [])]} for s in stages]}


def topic_to_queue(endpoint, topic, queue):
    """An SNS topic delivering raw messages to an SQS queue (what an `sqs` subscriber gets)."""
    sns = client(endpoint, "sns")
    sqs = client(endpoint, "sqs")
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return {"topic_arn": topic_arn, "queue_url": url}


def subscribe_http(endpoint, topic_arn, url):
    """An HTTP subscriber (it receives the `default` text, as an email reader would)."""
    client(endpoint, "sns").subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=url)
    return {"subscribed": url}


def create_table(endpoint, name):
    ddb = client(endpoint, "dynamodb")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "commit_key", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-commit",
                                 "KeySchema": [{"AttributeName": "commit_key", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    # As the template creates it: records expire through TTL attribute expires_at.
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    return {"table": name}


def create_secret(endpoint, name, value):
    sm = client(endpoint, "secretsmanager")
    return {"arn": sm.create_secret(Name=name, SecretString=value)["ARN"]}


def put_parameter(endpoint, name, value):
    client(endpoint, "ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    return {"parameter": name}


def bus_to_queue(endpoint, bus, queue):
    """An event bus whose every Herald event lands in an SQS queue."""
    events = client(endpoint, "events")
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name=bus)
    events.put_rule(Name=f"{bus}-all", EventBusName=bus, EventPattern=json.dumps({"source": ["herald"]}))
    events.put_targets(Rule=f"{bus}-all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return {"queue_url": url}


def rule_to_queue(endpoint, name, pattern, queue):
    """A rule on the default bus with PATTERN (JSON: a template's resolved EventPattern) whose
    matching events land in an SQS queue."""
    events = client(endpoint, "events")
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=pattern)
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    return {"queue_url": url}


def put_events(endpoint, entries):
    """Puts ENTRIES (JSON: a list of EventBridge events as S3 sends them) on the default bus."""
    put = [{"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]),
            "Resources": e.get("resources", [])} for e in json.loads(entries)]
    out = client(endpoint, "events").put_events(Entries=put)
    return {"failed": out["FailedEntryCount"]}


def receive(endpoint, queue_url, count):
    """Up to COUNT messages from a queue (bodies parsed as JSON where they are JSON)."""
    sqs = client(endpoint, "sqs")
    bodies = []
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for m in msgs:
            try:
                bodies.append(json.loads(m["Body"]))
            except ValueError:
                bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if len(bodies) >= int(count):
            break
    return bodies


def receive_raw(endpoint, queue_url, count):
    """Up to COUNT messages: body (JSON) and string message attributes, for raw SNS deliveries."""
    sqs = client(endpoint, "sqs")
    out = []
    for _ in range(10):
        msgs = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for m in msgs:
            attributes = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
            out.append({"body": json.loads(m["Body"]), "attributes": attributes})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if len(out) >= int(count):
            break
    return out


def create_bucket(endpoint, name):
    """A versioned bucket."""
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return {"bucket": name}


def put_object(endpoint, bucket, key, body):
    out = client(endpoint, "s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"version_id": out.get("VersionId"), "etag": out["ETag"].strip('"')}


COMMANDS = {
    "create-bucket": create_bucket,
    "put-object": put_object,
    "create-pipeline": create_pipeline,
    "create-sourced-pipeline": create_sourced_pipeline,
    "create-topic": create_topic,
    "create-stack": create_stack,
    "executions": executions,
    "create-table": create_table,
    "create-secret": create_secret,
    "put-parameter": put_parameter,
    "bus-to-queue": bus_to_queue,
    "receive": receive,
    "rule-to-queue": rule_to_queue,
    "put-events": put_events,
    "receive-raw": receive_raw,
    "start-execution": start_execution,
    "start-with": start_with,
    "execution-status": execution_status,
    "pipeline-state": pipeline_state,
    "topic-to-queue": topic_to_queue,
    "subscribe-http": subscribe_http,
}


def main(argv):
    if len(argv) < 3 or argv[2] not in COMMANDS:
        sys.exit(f"usage: moto_ctl.py ENDPOINT {{{'|'.join(COMMANDS)}}} ARGS...")
    print(json.dumps(COMMANDS[argv[2]](argv[1], *argv[3:])))


if __name__ == "__main__":
    main(sys.argv)
