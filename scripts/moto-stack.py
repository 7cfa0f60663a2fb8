#!/usr/bin/env python3
"""Deploys a CloudFormation template (SAM already translated: check-template.py
--translate) into moto's server, as `sam deploy` would into an account, and prints what an
operator and the functions would see, as JSON on stdout:

  {"status": "CREATE_COMPLETE", "reason": ..., "outputs": {key: value},
   "resources": {logical id: {"type": ..., "physical": ...}},
   "stages": [API Gateway stage names of the stack's REST APIs],
   "region": ..., "account": ...}

Used by cli/tests/deployed_stack.rs. Needs boto3 (moto's own environment has it).

Workarounds for moto, and only these:
- Lambda code: the translated template points every function at
  s3://placeholder-bucket/code.zip; a dummy zip is uploaded there first (CloudFormation
  needs the object to exist).
- REST API Body: moto ignores a RestApi's OpenAPI `Body` (so it has no methods and the
  Deployment fails: "The REST API doesn't contain any methods"); one placeholder MOCK
  method is added on the API's root, and the Deployments depend on it.
- --disable-mappings: moto runs a queue's Lambda event source mapping itself on every
  SendMessage (with a stub or Docker Lambda that is not ours) and deletes or re-shows
  the messages; the tests stand in for Lambda, so the stack's mappings are disabled
  after creation (their existence and settings are checked first).

Usage: moto-stack.py ENDPOINT TEMPLATE_JSON STACK_NAME [--disable-mappings] [KEY=VALUE ...]
"""

import io
import json
import sys
import time
import zipfile

import boto3


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def dummy_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    return buf.getvalue()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, template_path, stack = args[:3]
    params = [dict(zip(("ParameterKey", "ParameterValue"), a.split("=", 1))) for a in args[3:]]
    with open(template_path) as f:
        template = json.load(f)
    resources = template["Resources"]
    for name, r in list(resources.items()):
        if r["Type"] == "AWS::ApiGateway::RestApi" and "Body" in r.get("Properties", {}):
            placeholder = f"{name}MotoPlaceholderMethod"
            resources[placeholder] = {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": name},
                    "ResourceId": {"Fn::GetAtt": [name, "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "MOCK", "IntegrationHttpMethod": "GET", "Uri": ""},
                },
            }
            for d in resources.values():
                if d["Type"] == "AWS::ApiGateway::Deployment" and d["Properties"].get("RestApiId") == {"Ref": name}:
                    deps = d.get("DependsOn", [])
                    d["DependsOn"] = ([deps] if isinstance(deps, str) else deps) + [placeholder]
    body = json.dumps(template)

    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="placeholder-bucket")
    s3.put_object(Bucket="placeholder-bucket", Key="code.zip", Body=dummy_zip())

    cfn = client("cloudformation", endpoint)
    cfn.create_stack(
        StackName=stack,
        TemplateBody=body,
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.time() + 120
    while True:
        desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not desc["StackStatus"].endswith("IN_PROGRESS") or time.time() > deadline:
            break
        time.sleep(0.2)

    resources = {
        r["LogicalResourceId"]: {"type": r["ResourceType"], "physical": r.get("PhysicalResourceId")}
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        # moto lists the resource types it does not implement without a logical id.
        if r.get("LogicalResourceId")
    }
    apigw = client("apigateway", endpoint)
    stages = []
    for r in resources.values():
        if r["type"] == "AWS::ApiGateway::RestApi" and r["physical"]:
            stages += [s["stageName"] for s in apigw.get_stages(restApiId=r["physical"])["item"]]

    mappings = {}
    lam = client("lambda", endpoint)
    for name, r in resources.items():
        if r["type"] == "AWS::Lambda::EventSourceMapping" and r["physical"]:
            m = lam.get_event_source_mapping(UUID=r["physical"])
            mappings[name] = {
                "function": m["FunctionArn"].rsplit(":", 1)[-1],
                "queue": m["EventSourceArn"].rsplit(":", 1)[-1],
            }
            if "--disable-mappings" in sys.argv:
                lam.update_event_source_mapping(UUID=r["physical"], Enabled=False)

    print(
        json.dumps(
            {
                "status": desc["StackStatus"],
                "reason": desc.get("StackStatusReason"),
                "outputs": {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])},
                "resources": resources,
                "stages": stages,
                "mappings": mappings,
                "region": "us-east-1",
                "account": client("sts", endpoint).get_caller_identity()["Account"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
