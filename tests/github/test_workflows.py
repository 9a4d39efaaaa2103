"""The GitHub workflows hold no pipeline logic: checkout, OIDC credentials, one `dagger call`.

`workflow_problems` states every rule once; the real workflows must have none, and mutated
copies prove each rule can fail. zizmor and check-jsonschema run as real subprocesses.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.conftest import REPO_ROOT, WORKFLOWS_DIR
from tests.support.template import load_template
from yoto_smart_stream_ci import environments

CHECKOUT = "actions/checkout"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
DAGGER = "dagger/dagger-for-github"
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")
SECRET_FLAGS = {"--aws-access-key-id", "--aws-secret-access-key", "--aws-session-token"}
PR_NUMBER = "${{ github.event.pull_request.number }}"
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"
BASE_PERMISSIONS = {"contents": "read", "id-token": "write"}
YOTO_CLIENT_ID_VAR = "${{ vars.YOTO_CLIENT_ID }}"
ALARM_EMAIL_VAR = "${{ vars.ALARM_EMAIL }}"
STEP_SUMMARY = "$GITHUB_STEP_SUMMARY"
# The dagger action exposes the call's stdout as `output`; environment-url prints the URL alone.
URL_STEP_ID = "url"
DEPLOYMENT_URL = "${{ steps.url.outputs.output }}"
BOOTSTRAP = REPO_ROOT / "infrastructure" / "bootstrap" / "template.yaml"


@dataclass(frozen=True)
class Expected:
    """What one workflow must do: its trigger, the `dagger call` it runs, and for which env."""

    triggers: dict[str, Any]
    function: str
    env: str | None  # None: the function takes no --env (cleanup-stale)
    scope_env: str  # an env of the deploy scope whose role the job assumes
    concurrency_group: str
    cancel_in_progress: bool
    writes_comment: bool
    github_environment: str | None = None
    fork_guard: bool = False
    # Further `dagger call`s after the first, one step each, in order.
    then: tuple[str, ...] = ()
    # The preview role's trust and guard policies key on the session name.
    session_name: str | None = None


EXPECTED: dict[str, Expected] = {
    "production.yml": Expected(
        triggers={"push": {"branches": ["main"]}},
        function="deploy",
        env="prod",
        scope_env="prod",
        concurrency_group="deploy-prod",
        cancel_in_progress=False,
        writes_comment=False,
        github_environment="production",
        then=("environment-url",),
    ),
    "develop.yml": Expected(
        triggers={"push": {"branches": ["develop"]}},
        function="deploy",
        env="dev",
        scope_env="dev",
        concurrency_group="deploy-dev",
        cancel_in_progress=False,
        writes_comment=False,
        github_environment="dev",
        then=("environment-url", "integration-test"),
    ),
    "pr.yml": Expected(
        triggers={"pull_request": {"types": ["opened", "synchronize", "reopened"]}},
        function="deploy",
        env=f"pr-{PR_NUMBER}",
        scope_env="pr-1",
        concurrency_group=f"preview-pr-{PR_NUMBER}",
        cancel_in_progress=False,
        writes_comment=True,
        github_environment=f"pr-{PR_NUMBER}",
        fork_guard=True,
        then=("environment-url",),
        session_name=f"pr-{PR_NUMBER}",
    ),
    "pr-cleanup.yml": Expected(
        triggers={"pull_request": {"types": ["closed"]}},
        function="teardown",
        env=f"pr-{PR_NUMBER}",
        scope_env="pr-1",
        concurrency_group=f"preview-pr-{PR_NUMBER}",
        cancel_in_progress=False,
        writes_comment=True,
        fork_guard=True,
        session_name=f"pr-{PR_NUMBER}",
    ),
    "stale-cleanup.yml": Expected(
        triggers={"schedule": [{"cron": "23 4 * * *"}], "workflow_dispatch": None},
        function="cleanup-stale",
        env=None,
        scope_env="pr-1",
        concurrency_group="stale-cleanup",
        cancel_in_progress=False,
        writes_comment=True,
        session_name="stale-cleanup",
    ),
}


def engine_version() -> str:
    return json.loads((REPO_ROOT / "dagger.json").read_text())["engineVersion"]


def role_variable(scope_env: str) -> str:
    return f"${{{{ vars.AWS_{environments.deploy_scope(scope_env).upper()}_ROLE_ARN }}}}"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def _flags(args: str) -> tuple[str, dict[str, list[str]], list[str]]:
    """The function name, each --flag's values, and any stray words."""
    # An expression such as ${{ github.sha }} is one word once GitHub has substituted it.
    expressions: list[str] = []

    def hide(match: re.Match[str]) -> str:
        expressions.append(match.group(0))
        return f"\0{len(expressions) - 1}\0"

    hidden = re.sub(r"\$\{\{.*?\}\}", hide, args)
    words = [
        re.sub(r"\0(\d+)\0", lambda m: expressions[int(m.group(1))], w) for w in shlex.split(hidden)
    ]
    function, rest = words[0], []
    for word in words[1:]:
        # `--flag=value` is `--flag value`; the form keeps an empty variable from swallowing
        # the next flag as its value.
        rest += word.split("=", 1) if word.startswith("--") and "=" in word else [word]
    flags: dict[str, list[str]] = {}
    stray: list[str] = []
    index = 0
    while index < len(rest):
        word = rest[index]
        if not word.startswith("--"):
            stray.append(word)
            index += 1
        elif index + 1 < len(rest) and not rest[index + 1].startswith("--"):
            flags.setdefault(word, []).append(rest[index + 1])
            index += 2
        else:
            flags.setdefault(word, []).append("")
            index += 1
    return function, flags, stray


def _expressions(value: Any) -> list[str]:
    return re.findall(r"\$\{\{(.*?)\}\}", json.dumps(value))


def workflow_problems(document: dict[str, Any], expected: Expected, version: str) -> list[str]:
    problems: list[str] = []
    if document.get("on") != expected.triggers:
        problems.append(f"triggers are {document.get('on')!r}, expected {expected.triggers!r}")
    if "pull_request_target" in json.dumps(document.get("on")):
        problems.append("pull_request_target runs with secrets next to untrusted code")
    if document.get("permissions") != {}:
        problems.append("workflow-level permissions must be {} (each job asks for its own)")
    concurrency = document.get("concurrency") or {}
    if concurrency.get("group") != expected.concurrency_group:
        problems.append(f"concurrency group is {concurrency.get('group')!r}")
    if concurrency.get("cancel-in-progress") is not expected.cancel_in_progress:
        problems.append(f"cancel-in-progress must be {expected.cancel_in_progress}")

    jobs = document.get("jobs") or {}
    if len(jobs) != 1:
        problems.append(f"expected exactly one job, found {sorted(jobs)}")
    for name, job in jobs.items():
        problems += [f"job {name}: {p}" for p in _job_problems(job, expected, version)]
    return problems


def _job_problems(job: dict[str, Any], expected: Expected, version: str) -> list[str]:
    problems: list[str] = []
    if "uses" in job:
        problems.append("a reusable workflow would run logic outside dagger")
    permissions = dict(BASE_PERMISSIONS)
    if expected.writes_comment:
        permissions["pull-requests"] = "write"
    if job.get("permissions") != permissions:
        problems.append(f"permissions are {job.get('permissions')!r}, expected {permissions!r}")
    environment = job.get("environment")
    if expected.github_environment is None:
        if environment is not None:
            problems.append(f"GitHub environment {environment!r}: the role's OIDC subject changes")
    elif environment != {"name": expected.github_environment, "url": DEPLOYMENT_URL}:
        problems.append(
            f"GitHub environment is {environment!r}, expected {expected.github_environment!r} "
            "with the deployment's URL"
        )
    if expected.fork_guard and job.get("if") != FORK_GUARD:
        problems.append("fork PRs are not skipped")
    if job.get("continue-on-error"):
        problems.append("continue-on-error would hide a failed deploy")

    steps = job.get("steps") or []
    actions = [PINNED.match(str(step.get("uses", ""))) for step in steps]
    if any(match is None for match in actions):
        problems.append("every step must be an action pinned to a full commit SHA")
        return problems
    calls = (expected.function, *expected.then)
    if [m["action"] for m in actions if m] != [CHECKOUT, AWS_CREDENTIALS] + [DAGGER] * len(calls):
        problems.append(
            f"steps must be exactly: checkout, configure-aws-credentials, dagger x {len(calls)}"
        )
        return problems
    checkout, credentials, *daggers = steps
    for step in steps:
        if "run" in step or step.get("if") or step.get("continue-on-error"):
            problems.append(f"step {step.get('name')!r} runs a shell or can be skipped")
    ids = [step.get("id") for step in steps]
    url_step = URL_STEP_ID if expected.github_environment else None
    if ids != [None, None, *(url_step if c == "environment-url" else None for c in calls)]:
        problems.append(f"step ids are {ids!r}; only the environment-url step has one (url)")
    if (checkout.get("with") or {}).get("persist-credentials") is not False:
        problems.append("checkout must not leave the GITHUB_TOKEN in .git/config")

    creds = credentials.get("with") or {}
    if creds.get("role-to-assume") != role_variable(expected.scope_env):
        problems.append(f"assumes {creds.get('role-to-assume')!r}")
    if creds.get("aws-region") != "${{ vars.AWS_REGION }}":
        problems.append("aws-region must come from the AWS_REGION variable")
    if {"aws-access-key-id", "aws-secret-access-key"} & set(creds):
        problems.append("static AWS keys are passed")
    if creds.get("role-session-name") != expected.session_name:
        problems.append(
            f"role-session-name is {creds.get('role-session-name')!r}, "
            f"expected {expected.session_name!r}"
        )

    for index, (call, step) in enumerate(zip(calls, daggers, strict=True)):
        problems += _dagger_problems(step, expected, version, call, first=index == 0)
    return problems


def _dagger_problems(
    step: dict[str, Any], expected: Expected, version: str, call: str, *, first: bool
) -> list[str]:
    problems: list[str] = []
    inputs = step.get("with") or {}
    if set(inputs) != {"version", "verb", "args"} or inputs.get("verb") != "call":
        problems.append(f"dagger step must only set version, verb: call and args: {inputs!r}")
    if inputs.get("version") != version:
        problems.append(f"Dagger CLI {inputs.get('version')!r} != engineVersion {version!r}")
    function, flags, stray = _flags(str(inputs.get("args", "")))
    if function != call or stray:
        problems.append(f"runs `dagger call {function}` with stray words {stray}")
    if flags.get("--env", [None]) != [expected.env]:
        problems.append(f"--env is {flags.get('--env')!r}, expected {expected.env!r}")
    if flags.get("--region") != ["${{ vars.AWS_REGION }}"]:
        problems.append("--region must be the AWS_REGION variable")
    for flag in SECRET_FLAGS:
        if flags.get(flag) != [f"env://{flag.removeprefix('--').replace('-', '_').upper()}"]:
            problems.append(f"{flag} must read the credential from the environment (env://)")
    github_flags = {"--github-token", "--github-repository"}
    if expected.writes_comment and first:
        if flags.get("--github-token") != ["env://GITHUB_TOKEN"]:
            problems.append("--github-token must be env://GITHUB_TOKEN")
        if flags.get("--github-repository") != ["${{ github.repository }}"]:
            problems.append("--github-repository must be the workflow's own repository")
        if step.get("env") != {"GITHUB_TOKEN": "${{ github.token }}"}:
            problems.append("the token must reach dagger only as the GITHUB_TOKEN variable")
    elif github_flags & set(flags) or step.get("env"):
        problems.append("a job that writes no comment gets no GitHub token")
    # The Yoto OAuth client id is public (device-code flow), so it is a variable, not a secret.
    deploy = call == "deploy"
    if deploy and flags.get("--yoto-client-id") != [YOTO_CLIENT_ID_VAR]:
        problems.append("deploy must pass --yoto-client-id from the YOTO_CLIENT_ID variable")
    # The deploy returns its Markdown summary; --output saves it as the step's summary.
    if deploy and flags.get("--output") != [STEP_SUMMARY]:
        problems.append("deploy must save its summary with --output $GITHUB_STEP_SUMMARY")
    if not deploy and "--output" in flags:
        problems.append(f"{call} has no summary to save")
    # Only prod has alarms; the address is a repository variable (README setup steps).
    wants_email = deploy and expected.env == "prod"
    if wants_email and flags.get("--alarm-email") != [ALARM_EMAIL_VAR]:
        problems.append("the prod deploy must pass --alarm-email from the ALARM_EMAIL variable")
    # The variable may be unset: `--alarm-email <empty>` would take the next flag as its value.
    if wants_email and f"--alarm-email={ALARM_EMAIL_VAR}" not in str(inputs.get("args")):
        problems.append("pass the optional ALARM_EMAIL as --alarm-email=<value>, one word")
    if not wants_email and "--alarm-email" in flags:
        problems.append(f"{call} --env {expected.env} has no alarms to send e-mail for")
    preview_deploy = deploy and str(expected.env).startswith("pr-")
    if preview_deploy and "--no-cloudfront" not in flags:
        problems.append("previews deploy without CloudFront (the preview role has none)")
    # No secret or token ever appears in the command line, where logs would show it.
    for expression in _expressions(inputs):
        if "secrets." in expression or "token" in expression:
            problems.append(f"${{{{{expression}}}}} is placed on the command line")
    return problems


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted(WORKFLOWS_DIR.glob("*.y*ml"))}


def test_exactly_the_five_delivery_workflows_exist(documents: dict[str, Any]) -> None:
    assert set(documents) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflow_only_checks_out_assumes_a_role_and_calls_dagger(
    name: str, documents: dict[str, Any]
) -> None:
    assert workflow_problems(documents[name], EXPECTED[name], engine_version()) == []


def test_the_cli_version_is_read_from_dagger_json() -> None:
    version = engine_version()
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version)
    for path in WORKFLOWS_DIR.glob("*.yml"):
        for job in load(path)["jobs"].values():
            for step in job["steps"][2:]:
                assert step["with"]["version"] == version


def test_each_branch_deploys_its_own_environment(documents: dict[str, Any]) -> None:
    pushes = {
        doc["on"]["push"]["branches"][0]: _flags(doc["jobs"]["deploy"]["steps"][2]["with"]["args"])
        for doc in documents.values()
        if "push" in doc["on"]
    }
    assert {branch: flags["--env"] for branch, (_, flags, _) in pushes.items()} == {
        "main": ["prod"],
        "develop": ["dev"],
    }


def _oidc_subject(document: dict[str, Any], job: dict[str, Any], pr_number: int = 1) -> str:
    """The `sub` claim of the job's OIDC token, customised to [repo, context, ref] (bootstrap
    README step 2): the context is the GitHub environment when the job names one. A
    pull_request job runs on refs/pull/<pr_number>/merge."""
    environment = job.get("environment")
    if environment is not None:
        name = environment["name"] if isinstance(environment, dict) else environment
        context = f"environment:{name.replace(PR_NUMBER, str(pr_number))}"
    elif "pull_request" in document["on"]:
        context = "pull_request"
    else:
        context = (
            f"ref:refs/heads/{(document['on'].get('push') or {}).get('branches', ['main'])[0]}"
        )
    if "pull_request" in document["on"]:
        ref = f"refs/pull/{pr_number}/merge"
    else:
        ref = f"refs/heads/{(document['on'].get('push') or {}).get('branches', ['main'])[0]}"
    return f"repo:OWNER/NAME:{context}:ref:{ref}"


def _trusted_subjects(scope_env: str) -> list[str]:
    """The subject patterns the role's trust policy allows (test_bootstrap evaluates the whole
    trust policy, session names and refusals included)."""
    role = load_template(BOOTSTRAP)["Resources"][
        f"{environments.deploy_scope(scope_env).capitalize()}DeployRole"
    ]
    found: list[str] = []
    for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
        for name, operator in statement["Condition"].items():
            if name not in {"StringEquals", "StringLike"}:
                continue  # StringNotLike lists refused subjects
            subjects = operator.get("token.actions.githubusercontent.com:sub", [])
            for subject in subjects if isinstance(subjects, list) else [subjects]:
                text = subject["Fn::Sub"] if isinstance(subject, dict) else subject
                found.append(text.replace("${GitHubRepository}", "OWNER/NAME"))
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_job_can_assume_its_role(name: str, documents: dict[str, Any]) -> None:
    """A GitHub environment changes the OIDC subject, so each job's environment (or none) must
    be one its role's trust policy expects."""
    document = documents[name]
    for job in document["jobs"].values():
        subject = _oidc_subject(document, job)
        trusted = _trusted_subjects(EXPECTED[name].scope_env)
        assert any(fnmatch.fnmatchcase(subject, pattern) for pattern in trusted), (
            subject,
            trusted,
        )


def _trusted(document: dict[str, Any], scope_env: str, **subject: Any) -> bool:
    job = document["jobs"]["deploy"]
    candidate = _oidc_subject(document, job, **subject)
    return any(fnmatch.fnmatchcase(candidate, p) for p in _trusted_subjects(scope_env))


def test_deploy_jobs_name_the_environments_their_roles_trust(documents: dict[str, Any]) -> None:
    develop, pr = documents["develop.yml"], documents["pr.yml"]
    assert _oidc_subject(develop, develop["jobs"]["deploy"]) == (
        "repo:OWNER/NAME:environment:dev:ref:refs/heads/develop"
    )
    assert _oidc_subject(pr, pr["jobs"]["deploy"], pr_number=42) == (
        "repo:OWNER/NAME:environment:pr-42:ref:refs/pull/42/merge"
    )
    assert _trusted(develop, "dev")
    assert _trusted(pr, "pr-1", pr_number=42)


@pytest.mark.parametrize(
    ("workflow", "scope_env", "environment"),
    [
        ("develop.yml", "dev", "production"),
        ("develop.yml", "dev", "develop"),
        ("develop.yml", "dev", None),  # the dev role trusts only the environment's subject
        ("pr.yml", "pr-1", "production"),
        ("pr.yml", "pr-1", "dev"),
        ("pr.yml", "pr-1", "preview"),
    ],
)
def test_another_environment_name_locks_the_job_out(
    documents: dict[str, Any], workflow: str, scope_env: str, environment: str | None
) -> None:
    broken = copy.deepcopy(documents[workflow])
    job = broken["jobs"]["deploy"]
    if environment is None:
        del job["environment"]
    else:
        job["environment"] = {"name": environment, "url": DEPLOYMENT_URL}
    assert not _trusted(broken, scope_env)


def test_a_pr_environment_is_not_bound_to_its_pull_request_number(
    documents: dict[str, Any],
) -> None:
    """What IAM cannot express: the number in `environment:pr-<N>` and in `refs/pull/<N>/merge`
    are both inside the one `sub` string, and IAM wildcards cannot compare two parts of it. A
    job on refs/pull/8 naming pr-7 is accepted (bootstrap README "What this does not stop")."""
    borrowed = copy.deepcopy(documents["pr.yml"])
    borrowed["jobs"]["deploy"]["environment"] = {"name": "pr-7", "url": DEPLOYMENT_URL}
    assert _oidc_subject(borrowed, borrowed["jobs"]["deploy"], pr_number=8).endswith(
        ":environment:pr-7:ref:refs/pull/8/merge"
    )
    assert _trusted(borrowed, "pr-1", pr_number=8)


def test_every_pinned_sha_names_its_release_tag() -> None:
    for path in WORKFLOWS_DIR.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (path.name, line)


def test_the_same_action_is_pinned_to_the_same_sha_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS_DIR.glob("*.yml"):
        for match in re.finditer(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", path.read_text()):
            pins.setdefault(match[1], set()).add(match[2])
    assert set(pins) == {CHECKOUT, AWS_CREDENTIALS, DAGGER}
    assert all(len(shas) == 1 for shas in pins.values()), pins


def _walk(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) pair of a parsed document, keys included as values."""
    if isinstance(node, dict):
        pairs = [(path, key) for key in node]
        for key, value in node.items():
            pairs += _walk(value, (*path, key))
        return pairs
    if isinstance(node, list):
        return [pair for index, item in enumerate(node) for pair in _walk(item, (*path, index))]
    return [(path, node)]


def test_no_workflow_runs_a_shell_or_handles_a_secret(documents: dict[str, Any]) -> None:
    """Nothing can echo a secret: no shell step exists, no repository secret is referenced,
    and the job token appears once, as the dagger step's GITHUB_TOKEN variable."""
    for name, document in documents.items():
        pairs = _walk(document)
        assert all(value != "run" for _, value in pairs), f"{name} runs a shell"
        assert not [v for _, v in pairs if "secrets." in str(v)], f"{name} uses a secret"
        token_paths = [p for p, v in pairs if "github.token" in str(v)]
        assert all(p[-2:] == ("env", "GITHUB_TOKEN") for p in token_paths), (name, token_paths)
        assert len(token_paths) == int(EXPECTED[name].writes_comment), name


# ---------------------------------------------------------------- the rules can fail


def _mutations() -> list[tuple[str, str, Any]]:
    """(workflow, description, change) triples; each must produce at least one problem."""

    def set_in(path: list[Any], value: Any) -> Any:
        def apply(doc: dict[str, Any]) -> None:
            node = doc
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value

        return apply

    def dagger_args(transform: Any) -> Any:
        def apply(doc: dict[str, Any]) -> None:
            step = next(iter(doc["jobs"].values()))["steps"][2]
            step["with"]["args"] = transform(step["with"]["args"])

        return apply

    def dagger_args_of(index: int, transform: Any) -> Any:
        def apply(doc: dict[str, Any]) -> None:
            step = next(iter(doc["jobs"].values()))["steps"][index]
            step["with"]["args"] = transform(step["with"]["args"])

        return apply

    def add_step(step: dict[str, Any]) -> Any:
        def apply(doc: dict[str, Any]) -> None:
            next(iter(doc["jobs"].values()))["steps"].insert(1, step)

        return apply

    return [
        (
            "production.yml",
            "deploys dev from main",
            dagger_args(lambda a: a.replace("prod", "dev")),
        ),
        (
            "develop.yml",
            "deploys prod from develop",
            dagger_args(lambda a: a.replace("dev", "prod")),
        ),
        (
            "production.yml",
            "cancels a prod deploy",
            set_in(["concurrency", "cancel-in-progress"], True),
        ),
        (
            "pr.yml",
            "cancels a running deploy mid stack update",
            set_in(["concurrency", "cancel-in-progress"], True),
        ),
        (
            "pr-cleanup.yml",
            "cancels a running deploy to tear down",
            set_in(["concurrency", "cancel-in-progress"], True),
        ),
        (
            "stale-cleanup.yml",
            "joins one PR's group",
            set_in(["concurrency", "group"], "preview-pr-1"),
        ),
        ("pr.yml", "drops the fork guard", set_in(["jobs", "deploy", "if"], "always()")),
        ("pr.yml", "uses pull_request_target", set_in(["on"], {"pull_request_target": None})),
        (
            "develop.yml",
            "writes to the repo",
            set_in(["jobs", "deploy", "permissions", "contents"], "write"),
        ),
        (
            "develop.yml",
            "comments without need",
            set_in(["jobs", "deploy", "permissions", "pull-requests"], "write"),
        ),
        ("production.yml", "inherits default permissions", set_in(["permissions"], None)),
        (
            "production.yml",
            "skips the environment",
            set_in(["jobs", "deploy", "environment"], None),
        ),
        ("pr.yml", "builds outside dagger", add_step({"name": "build", "run": "sam build"})),
        ("pr.yml", "uses a moving tag", add_step({"uses": "actions/setup-python@v5"})),
        (
            "develop.yml",
            "pins an older CLI",
            set_in(["jobs", "deploy", "steps", 2, "with", "version"], "v0.21.10"),
        ),
        (
            "develop.yml",
            "passes static keys",
            set_in(
                ["jobs", "deploy", "steps", 1, "with", "aws-access-key-id"], "${{ secrets.KEY }}"
            ),
        ),
        (
            "pr.yml",
            "assumes the prod role",
            set_in(
                ["jobs", "deploy", "steps", 1, "with", "role-to-assume"],
                "${{ vars.AWS_PROD_ROLE_ARN }}",
            ),
        ),
        (
            "pr.yml",
            "puts the token on the command line",
            dagger_args(lambda a: a.replace("env://GITHUB_TOKEN", "${{ github.token }}")),
        ),
        (
            "production.yml",
            "puts a key on the command line",
            dagger_args(
                lambda a: a.replace(
                    "env://AWS_SECRET_ACCESS_KEY", "${{ secrets.AWS_SECRET_ACCESS_KEY }}"
                )
            ),
        ),
        (
            "pr-cleanup.yml",
            "deploys instead of tearing down",
            dagger_args(lambda a: a.replace("teardown", "deploy")),
        ),
        (
            "pr.yml",
            "keeps CloudFront on previews",
            dagger_args(lambda a: a.replace("--no-cloudfront", "")),
        ),
        ("stale-cleanup.yml", "stops running daily", set_in(["on"], {"workflow_dispatch": None})),
        (
            "production.yml",
            "gives GitHub no deployment URL",
            set_in(["jobs", "deploy", "environment"], "production"),
        ),
        (
            "production.yml",
            "takes the URL from the wrong step",
            set_in(["jobs", "deploy", "environment", "url"], "${{ steps.deploy.outputs.output }}"),
        ),
        (
            "production.yml",
            "drops the URL step's id",
            lambda doc: doc["jobs"]["deploy"]["steps"][3].pop("id"),
        ),
        (
            "develop.yml",
            "deploys dev in the production environment",
            set_in(
                ["jobs", "deploy", "environment"], {"name": "production", "url": DEPLOYMENT_URL}
            ),
        ),
        ("develop.yml", "skips the environment", set_in(["jobs", "deploy", "environment"], None)),
        (
            "pr.yml",
            "files every PR under one environment",
            set_in(["jobs", "deploy", "environment"], {"name": "pr-1", "url": DEPLOYMENT_URL}),
        ),
        (
            "pr.yml",
            "drops the URL step",
            lambda doc: doc["jobs"]["deploy"]["steps"].pop(3),
        ),
        (
            "pr-cleanup.yml",
            "records a deployment for the preview it removes",
            set_in(
                ["jobs", "teardown", "environment"],
                {"name": f"pr-{PR_NUMBER}", "url": DEPLOYMENT_URL},
            ),
        ),
        (
            "pr.yml",
            "writes no step summary",
            dagger_args(lambda a: a.replace('--output "$GITHUB_STEP_SUMMARY"', "")),
        ),
        (
            "production.yml",
            "notifies nobody",
            dagger_args_of(2, lambda a: a.replace("--alarm-email=${{ vars.ALARM_EMAIL }}", "")),
        ),
        (
            "production.yml",
            "lets an empty variable swallow the next flag",
            dagger_args_of(
                2,
                lambda a: a.replace(
                    "--alarm-email=${{ vars.ALARM_EMAIL }}", "--alarm-email ${{ vars.ALARM_EMAIL }}"
                ),
            ),
        ),
        (
            "develop.yml",
            "skips the integration suite",
            lambda doc: doc["jobs"]["deploy"]["steps"].pop(3),
        ),
        (
            "develop.yml",
            "runs the integration suite against prod",
            dagger_args_of(3, lambda a: a.replace("--env dev", "--env prod")),
        ),
        (
            "pr.yml",
            "names its session after another PR",
            set_in(["jobs", "deploy", "steps", 1, "with", "role-session-name"], "pr-7"),
        ),
        (
            "pr-cleanup.yml",
            "claims the stale-cleanup session",
            set_in(["jobs", "teardown", "steps", 1, "with", "role-session-name"], "stale-cleanup"),
        ),
        (
            "stale-cleanup.yml",
            "drops its session name",
            set_in(["jobs", "cleanup", "steps", 1, "with", "role-session-name"], None),
        ),
    ]


@pytest.mark.parametrize(
    ("name", "description", "change"), _mutations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_each_rule_catches_a_broken_workflow(
    name: str, description: str, change: Any, documents: dict[str, Any]
) -> None:
    broken = copy.deepcopy(documents[name])
    change(broken)
    assert workflow_problems(broken, EXPECTED[name], engine_version()), description


# ---------------------------------------------------------------- external linters


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_zizmor_reports_no_findings_offline() -> None:
    # --offline: the online audits (impostor commits, known-vulnerable actions) need the GitHub
    # API, which this machine cannot reach; the SHAs were checked by hand (see the workflows).
    result = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--persona",
            "pedantic",
            "--format",
            "plain",
            str(WORKFLOWS_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_would_catch_an_unpinned_action(tmp_path: Path) -> None:
    broken = (
        (WORKFLOWS_DIR / "develop.yml")
        .read_text()
        .replace(
            "actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2",
            "actions/checkout@v6",
        )
    )
    (tmp_path / "develop.yml").write_text(broken)
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona", "pedantic", str(tmp_path / "develop.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout


def test_workflows_match_github_workflow_schema() -> None:
    result = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *sorted(str(p) for p in WORKFLOWS_DIR.glob("*.yml")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
