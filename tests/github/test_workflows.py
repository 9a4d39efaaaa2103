"""The GitHub workflows hold no pipeline logic: checkout, OIDC credentials, one `dagger call`.

`workflow_problems` states every rule once; the real workflows must have none, and mutated
copies prove each rule can fail. zizmor and check-jsonschema run as real subprocesses.
"""

from __future__ import annotations

import copy
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
    ),
    "develop.yml": Expected(
        triggers={"push": {"branches": ["develop"]}},
        function="deploy",
        env="dev",
        scope_env="dev",
        concurrency_group="deploy-dev",
        cancel_in_progress=False,
        writes_comment=False,
    ),
    "pr.yml": Expected(
        triggers={"pull_request": {"types": ["opened", "synchronize", "reopened"]}},
        function="deploy",
        env=f"pr-{PR_NUMBER}",
        scope_env="pr-1",
        concurrency_group=f"preview-pr-{PR_NUMBER}",
        cancel_in_progress=False,
        writes_comment=True,
        fork_guard=True,
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
    function, rest = words[0], words[1:]
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
    if job.get("environment") != expected.github_environment:
        problems.append(f"GitHub environment is {job.get('environment')!r}")
    if expected.fork_guard and job.get("if") != FORK_GUARD:
        problems.append("fork PRs are not skipped")
    if job.get("continue-on-error"):
        problems.append("continue-on-error would hide a failed deploy")

    steps = job.get("steps") or []
    actions = [PINNED.match(str(step.get("uses", ""))) for step in steps]
    if any(match is None for match in actions):
        problems.append("every step must be an action pinned to a full commit SHA")
        return problems
    if [m["action"] for m in actions if m] != [CHECKOUT, AWS_CREDENTIALS, DAGGER]:
        problems.append("steps must be exactly: checkout, configure-aws-credentials, dagger")
        return problems
    checkout, credentials, dagger = steps
    for step in steps:
        if "run" in step or step.get("if") or step.get("continue-on-error"):
            problems.append(f"step {step.get('name')!r} runs a shell or can be skipped")
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

    problems += _dagger_problems(dagger, expected, version)
    return problems


def _dagger_problems(step: dict[str, Any], expected: Expected, version: str) -> list[str]:
    problems: list[str] = []
    inputs = step.get("with") or {}
    if set(inputs) != {"version", "verb", "args"} or inputs.get("verb") != "call":
        problems.append(f"dagger step must only set version, verb: call and args: {inputs!r}")
    if inputs.get("version") != version:
        problems.append(f"Dagger CLI {inputs.get('version')!r} != engineVersion {version!r}")
    function, flags, stray = _flags(str(inputs.get("args", "")))
    if function != expected.function or stray:
        problems.append(f"runs `dagger call {function}` with stray words {stray}")
    if flags.get("--env", [None]) != [expected.env]:
        problems.append(f"--env is {flags.get('--env')!r}, expected {expected.env!r}")
    if flags.get("--region") != ["${{ vars.AWS_REGION }}"]:
        problems.append("--region must be the AWS_REGION variable")
    for flag in SECRET_FLAGS:
        if flags.get(flag) != [f"env://{flag.removeprefix('--').replace('-', '_').upper()}"]:
            problems.append(f"{flag} must read the credential from the environment (env://)")
    github_flags = {"--github-token", "--github-repository"}
    if expected.writes_comment:
        if flags.get("--github-token") != ["env://GITHUB_TOKEN"]:
            problems.append("--github-token must be env://GITHUB_TOKEN")
        if flags.get("--github-repository") != ["${{ github.repository }}"]:
            problems.append("--github-repository must be the workflow's own repository")
        if step.get("env") != {"GITHUB_TOKEN": "${{ github.token }}"}:
            problems.append("the token must reach dagger only as the GITHUB_TOKEN variable")
    elif github_flags & set(flags) or step.get("env"):
        problems.append("a job that writes no comment gets no GitHub token")
    # The Yoto OAuth client id is public (device-code flow), so it is a variable, not a secret.
    if expected.function == "deploy" and flags.get("--yoto-client-id") != [YOTO_CLIENT_ID_VAR]:
        problems.append("deploy must pass --yoto-client-id from the YOTO_CLIENT_ID variable")
    preview_deploy = expected.function == "deploy" and str(expected.env).startswith("pr-")
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
            assert job["steps"][-1]["with"]["version"] == version


def test_each_branch_deploys_its_own_environment(documents: dict[str, Any]) -> None:
    pushes = {
        doc["on"]["push"]["branches"][0]: _flags(doc["jobs"]["deploy"]["steps"][-1]["with"]["args"])
        for doc in documents.values()
        if "push" in doc["on"]
    }
    assert {branch: flags["--env"] for branch, (_, flags, _) in pushes.items()} == {
        "main": ["prod"],
        "develop": ["dev"],
    }


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
            step = next(iter(doc["jobs"].values()))["steps"][-1]
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
