"""Deploying the packaged SAM template to the moto emulator, honestly.

moto's CloudFormation neither expands ``AWS::Serverless-2016-10-31`` nor creates every resource
type: unknown types are skipped while the stack still reports CREATE_COMPLETE, and Outputs that
reference a skipped resource make the API answer HTTP 500. So in emulator mode the pipeline

1. expands the transform itself with ``samtranslator`` (the library CloudFormation uses),
2. removes the resource types moto has no model for, replacing references to them with
   visible ``emulator-skipped:<LogicalId>`` markers and dropping Outputs that need them,
3. creates or updates the stack, then
4. checks each resource against its own service API and reports three lists: verified,
   claimed-but-missing (a failure), and not creatable in the emulator (never claimed).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from yoto_smart_stream_ci import cloudformation, stack_lock
from yoto_smart_stream_ci.aws import AwsTarget

SKIPPED_MARKER = "emulator-skipped:"
STACK_WAIT = {"Delay": 1, "MaxAttempts": 120}


@dataclass
class StrippedTemplate:
    template: dict[str, Any]
    removed: dict[str, str]  # logical id -> resource type
    dropped_outputs: list[str]


@dataclass
class ResourceReport:
    verified: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    missing: dict[str, str] = field(default_factory=dict)  # claimed by the stack, not there
    not_creatable: dict[str, str] = field(default_factory=dict)  # logical id -> type
    unchecked: dict[str, str] = field(default_factory=dict)  # no existence probe for type

    def lines(self) -> list[str]:
        out = [f"  verified in the emulator ({len(self.verified)}):"]
        out += [f"    {lid}: {pid}" for lid, pid in sorted(self.verified.items())]
        if self.unchecked:
            out.append(f"  reported by the stack, no probe for its type ({len(self.unchecked)}):")
            out += [f"    {lid}: {t}" for lid, t in sorted(self.unchecked.items())]
        out.append(
            f"  NOT created - the emulator cannot create these types ({len(self.not_creatable)}):"
        )
        out += [f"    {lid}: {t}" for lid, t in sorted(self.not_creatable.items())]
        if self.missing:
            out.append(f"  MISSING although the stack reports them ({len(self.missing)}):")
            out += [f"    {lid}: {t}" for lid, t in sorted(self.missing.items())]
        return out


def supported_resource_types() -> frozenset[str]:
    """The resource types moto's CloudFormation can model (others are skipped silently)."""
    from moto.cloudformation.parsing import get_model_map

    return frozenset(get_model_map())


def expand_transform(
    template: dict[str, Any], parameters: dict[str, str], target: AwsTarget
) -> dict[str, Any]:
    """Run the SAM transform exactly as CloudFormation would, in the target's region."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader

    loader = ManagedPolicyLoader(target.client("iam"))
    return cloudformation.sam_transform(
        template, parameters, region=target.region, managed_policies=loader.load
    )


def _references(value: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, GetAtt, Sub, DependsOn strings)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text)))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= _references(inner[1])
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _replace_references(value: Any, removed: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in removed:
            return f"{SKIPPED_MARKER}{value['Ref']}"
        if set(value) == {"Fn::GetAtt"}:
            ref = value["Fn::GetAtt"]
            parts = ref if isinstance(ref, list) else str(ref).split(".", 1)
            if parts[0] in removed:
                return f"{SKIPPED_MARKER}{'.'.join(str(p) for p in parts)}"
        if set(value) == {"Fn::Sub"}:
            inner = value["Fn::Sub"]
            text = inner[0] if isinstance(inner, list) else inner

            def swap(match: re.Match[str]) -> str:
                name = match.group(1)
                return f"{SKIPPED_MARKER}{name}" if name.split(".")[0] in removed else match[0]

            text = re.sub(r"\$\{([^}!]+)\}", swap, str(text))
            if isinstance(inner, list):
                return {"Fn::Sub": [text, _replace_references(inner[1], removed)]}
            return {"Fn::Sub": text}
        return {k: _replace_references(v, removed) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_references(v, removed) for v in value]
    return value


POLICY_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")


def resolve_policies(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Resolve ``Fn::If`` and parameter ``Ref``s in DeletionPolicy/UpdateReplacePolicy
    (AWS::LanguageExtensions does this in CloudFormation; samtranslator leaves them, and moto
    would read what is left as Delete). A policy that resolves to ``AWS::NoValue`` goes."""
    conditions = cloudformation.evaluate_conditions(template, parameters)
    for resource in template.get("Resources", {}).values():
        for policy in POLICY_ATTRIBUTES:
            if policy not in resource:
                continue
            value = cloudformation.resolve(resource[policy], template, parameters, conditions)
            if value is cloudformation.NO_VALUE:
                del resource[policy]
            else:
                resource[policy] = value
    return template


def strip_unsupported(template: dict[str, Any], supported: Iterable[str]) -> StrippedTemplate:
    """Remove what the emulator cannot create, and every dangling reference to it."""
    allowed = set(supported)
    resources: dict[str, Any] = template.get("Resources", {})
    removed = {lid: r["Type"] for lid, r in resources.items() if r["Type"] not in allowed}
    removed_ids = set(removed)
    kept: dict[str, Any] = {}
    for lid, resource in resources.items():
        if lid in removed_ids:
            continue
        resource = _replace_references(resource, removed_ids)
        depends = resource.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends is not None:
            depends = [d for d in depends if d not in removed_ids]
            if depends:
                resource["DependsOn"] = depends
            else:
                resource.pop("DependsOn")
        kept[lid] = resource
    outputs: dict[str, Any] = {}
    dropped: list[str] = []
    for name, output in template.get("Outputs", {}).items():
        if _references(output) & removed_ids:
            dropped.append(name)
        else:
            outputs[name] = output
    stripped = {k: v for k, v in template.items() if k not in ("Resources", "Outputs")}
    stripped["Resources"] = kept
    if outputs:
        stripped["Outputs"] = outputs
    return StrippedTemplate(template=stripped, removed=removed, dropped_outputs=sorted(dropped))


def stack_exists(cfn: Any, stack: str) -> bool:
    return stack_lock.stack_status(cfn, stack) not in (None, "DELETE_COMPLETE")


def apply_stack(
    target: AwsTarget,
    stack: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    tags: dict[str, str],
) -> str:
    """Create or update ``stack`` and wait; return the final status."""
    cfn = target.client("cloudformation")
    declared = set(template.get("Parameters", {}))
    args: dict[str, Any] = {
        "StackName": stack,
        "TemplateBody": json.dumps(template),
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if k in declared
        ],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    since = _latest_event_time(cfn, stack)
    if stack_exists(cfn, stack):
        try:
            cfn.update_stack(**args)
        except cfn.exceptions.ClientError as error:
            # A redeploy of the same release into a long-lived account changes nothing.
            if "No updates are to be performed" not in str(error):
                raise
            print(f"  {stack}: no changes to apply", flush=True)
            return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    else:
        cfn.create_stack(**args)
    return watch_stack(cfn, stack, since)


TERMINAL_SUFFIXES = ("_COMPLETE", "_FAILED")


def _latest_event_time(cfn: Any, stack: str) -> Any:
    if not stack_exists(cfn, stack):
        return None
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return max((e["Timestamp"] for e in events), default=None)


def watch_stack(cfn: Any, stack: str, since: Any = None, poll_seconds: float = 1.0) -> str:
    """Print the stack's events as they happen (as `sam deploy` does) until it settles."""
    seen: set[str] = set()
    deadline = time.monotonic() + STACK_WAIT["Delay"] * STACK_WAIT["MaxAttempts"]
    while True:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        for event in sorted(events, key=lambda e: e["Timestamp"]):
            if event["EventId"] in seen or (since is not None and event["Timestamp"] <= since):
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            print(
                f"  {event['Timestamp']:%H:%M:%S} {event['ResourceStatus']:<20} "
                f"{event['ResourceType']:<36} {event['LogicalResourceId']}"
                + (f" ({reason})" if reason else ""),
                flush=True,
            )
        status = str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
        if status.endswith(TERMINAL_SUFFIXES) and not status.endswith("_IN_PROGRESS"):
            if "ROLLBACK" in status or status.endswith("_FAILED"):
                raise RuntimeError(f"Stack {stack} ended in {status}.")
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"Stack {stack} did not settle in time (last status {status}).")
        time.sleep(poll_seconds)


def _probe(target: AwsTarget) -> dict[str, Callable[[str], bool]]:
    """Existence checks per resource type, each asking the resource's own service."""

    def ok(call: Callable[[], Any]) -> bool:
        try:
            call()
        except Exception:  # noqa: BLE001 - any service error means "not there"
            return False
        return True

    def ecs_cluster(pid: str) -> bool:
        found = target.client("ecs").describe_clusters(clusters=[pid])["clusters"]
        return any(c["status"] == "ACTIVE" for c in found)

    def ecs_service(pid: str) -> bool:
        ecs = target.client("ecs")
        for cluster in ecs.list_clusters()["clusterArns"]:
            services = ecs.describe_services(cluster=cluster, services=[pid])["services"]
            if any(s["status"] == "ACTIVE" for s in services):
                return True
        return False

    return {
        "AWS::DynamoDB::Table": lambda p: ok(
            lambda: target.client("dynamodb").describe_table(TableName=p)
        ),
        "AWS::S3::Bucket": lambda p: ok(lambda: target.client("s3").head_bucket(Bucket=p)),
        "AWS::Lambda::Function": lambda p: ok(
            lambda: target.client("lambda").get_function(FunctionName=p)
        ),
        "AWS::IAM::Role": lambda p: ok(lambda: target.client("iam").get_role(RoleName=p)),
        "AWS::ECS::Cluster": ecs_cluster,
        "AWS::ECS::Service": ecs_service,
        "AWS::ECS::TaskDefinition": lambda p: ok(
            lambda: target.client("ecs").describe_task_definition(taskDefinition=p)
        ),
        "AWS::Logs::LogGroup": lambda p: any(
            g["logGroupName"] == p
            for g in target.client("logs").describe_log_groups(logGroupNamePrefix=p)["logGroups"]
        ),
        "AWS::SSM::Parameter": lambda p: ok(lambda: target.client("ssm").get_parameter(Name=p)),
        "AWS::ECR::Repository": lambda p: ok(
            lambda: target.client("ecr").describe_repositories(repositoryNames=[p])
        ),
        "AWS::CloudWatch::Dashboard": lambda p: ok(
            lambda: target.client("cloudwatch").get_dashboard(DashboardName=p)
        ),
    }


def verify_resources(target: AwsTarget, stack: str, removed: dict[str, str]) -> ResourceReport:
    """Ask each service whether what the stack claims really exists."""
    cfn = target.client("cloudformation")
    probes = _probe(target)
    report = ResourceReport(not_creatable=dict(removed))
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            lid = resource["LogicalResourceId"]
            if not lid:
                # moto lists one nameless, typeless summary for some stacks; it is no resource.
                continue
            rtype = resource["ResourceType"]
            pid = resource.get("PhysicalResourceId", "")
            probe = probes.get(rtype)
            if probe is None:
                report.unchecked[lid] = rtype
            elif pid and probe(pid):
                report.verified[lid] = pid
            else:
                report.missing[lid] = rtype
    return report


def stack_outputs(target: AwsTarget, stack: str) -> dict[str, str]:
    described = target.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def physical_ids(target: AwsTarget, stack: str) -> dict[str, tuple[str, str]]:
    """logical id -> (type, physical id) for every resource the stack lists."""
    cfn = target.client("cloudformation")
    out: dict[str, tuple[str, str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            out[r["LogicalResourceId"]] = (r["ResourceType"], r.get("PhysicalResourceId", ""))
    return out


def http_api_stage(expanded: dict[str, Any], parameters: dict[str, str]) -> str:
    """The HTTP API stage name the expanded template declares (the path prefix of ApiUrl)."""
    for resource in expanded.get("Resources", {}).values():
        if resource["Type"] == "AWS::ApiGatewayV2::Stage":
            name = resource["Properties"].get("StageName", "$default")
            if isinstance(name, dict) and "Ref" in name:
                return parameters.get(str(name["Ref"]), "$default")
            return str(name)
    return "$default"
