"""The AWS-facing commands, end to end: what ``python -m yoto_smart_stream_ci`` runs.

Each command receives its typed request from ``contract`` (validated once, when it was parsed)
and the secrets from the environment. The Dagger functions run exactly these inside a container
(with, without credentials, a moto service bound as the endpoint); the host tests run them
against a moto server on 127.0.0.1.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from yoto_smart_stream_ci import (
    contract,
    costs,
    deploy,
    emulator,
    environments,
    github_actions,
    images,
    mqtt_health,
    release,
    sam,
    smoke,
    stack_lock,
    stale,
    teardown,
)
from yoto_smart_stream_ci.aws import AwsTarget, announce
from yoto_smart_stream_ci.shared import ADMIN_PASSWORD_VAR, GITHUB_TOKEN_VAR

if TYPE_CHECKING:
    from yoto_smart_stream.core.storage.tokens import TokenStore


@dataclass(frozen=True)
class Secrets:
    """What reaches the core only as environment variables, never as request fields."""

    admin_password: str | None = None
    github_token: str | None = None

    @classmethod
    def from_environ(cls) -> Secrets:
        return cls(
            admin_password=os.environ.get(ADMIN_PASSWORD_VAR) or None,
            github_token=os.environ.get(GITHUB_TOKEN_VAR) or None,
        )


@dataclass
class DeployOutcome:
    ok: bool
    summary: str
    rolled_back: bool = False


ONE_CALL_ACCOUNT_NOTE = (
    "Note: this emulated AWS account lives for this call only. To keep one across calls, run "
    "`dagger call emulator up --ports 5000:5000` and add `--emulator tcp://localhost:5000` to "
    "every call (deploy, smoke-test, plan, preview, teardown)."
)


def run(target: AwsTarget, request: contract.Request, secrets: Secrets) -> bool:
    """Run one parsed request; ``True`` when it succeeded."""
    if isinstance(request, contract.AwsFacing) and request.emulator_ends_with_call:
        print(ONE_CALL_ACCOUNT_NOTE, flush=True)
    match request:
        case contract.DeployRequest():
            return run_deploy(target, request, secrets).ok
        case contract.PlanRequest():
            run_plan(target, request)
            return True
        case contract.SmokeRequest():
            return run_smoke(target, request, secrets.admin_password).ok
        case contract.IntegrationTestRequest():
            return run_integration_test(target, request, secrets.admin_password).ok
        case contract.EnvironmentUrlRequest():
            print(environment_url(target, request.env), flush=True)
            return True
        case contract.TeardownRequest():
            return run_teardown(
                target,
                request.env,
                force=request.force,
                github_token=secrets.github_token,
                github_repository=request.github_repository,
            ).ok
        case contract.CleanupStaleRequest():
            return run_cleanup_stale(
                target,
                max_age_hours=request.max_age_hours,
                github_token=secrets.github_token,
                github_repository=request.github_repository,
            ).ok
        case contract.ReleasesRequest():
            run_releases(target, request)
            return True
        case contract.RollbackRequest():
            return run_rollback(target, request)
        case contract.EcrLoginRequest():
            print(images.ecr_login(target, request.env, Path(request.password_file)), flush=True)
            return True
        case contract.PreviewRequest():
            run_preview(target, request)
            return True
        case contract.RegisterImageRequest():
            uri = images.register_oci_image(
                target, request.env, request.commit, Path(request.oci_tarball)
            )
            print(uri, flush=True)
            return True
    raise contract.RequestError(f"The {request.command} command does not talk to AWS.")


def _image_tarball(request: contract.StackChange) -> Path | None:
    """The emulator's image as an OCI tarball; ``None`` for a published image."""
    if request.image_uri:
        return None
    if not request.oci_tarball:
        # The host's emulator deploy without a tarball: build the image as the engine would.
        built = Path(tempfile.mkdtemp(prefix="mqtt-image-")) / "mqtt-image.tar"
        return images.build_oci_tarball(Path.cwd(), built)
    return Path(request.oci_tarball)


def _image_uri(
    target: AwsTarget, request: contract.StackChange, tarball: Path | None, *, register: bool
) -> str:
    """The pinned image the stack runs: the published one, or the emulator's registration."""
    if tarball is None:
        return request.image_uri
    if register:
        return images.register_oci_image(target, request.env, request.commit, tarball)
    return images.planned_image_uri(target, request.env, tarball)


def _smoke(target: AwsTarget, env: str, local: mqtt_health.LocalDocker) -> smoke.SmokeReport:
    """The deployed env's smoke test: signed in as the smoke principal, then the MQTT handler."""
    credential = deploy.read_smoke_credential(target, env)
    with deploy.serving_api(target, env) as url:
        report = smoke.run_smoke(url, username=environments.SMOKE_PRINCIPAL, password=credential)
    if report.ok:
        report.check("mqtt handler", lambda: mqtt_health.check_handler(target, env, local))
    return report


def _image_line(target: AwsTarget, env: str, deployed_image: str, rolled_back: bool) -> str:
    """What the env's task definition really runs now (after a rollback: the restored image)."""
    try:
        running = mqtt_health.image_running(target, env) or deployed_image
    except smoke.SmokeFailure as error:
        return f"  image       : {deployed_image} (deployed; what runs could not be read: {error})"
    if running == deployed_image:
        return f"  image       : {running}"
    verb = "rolled back from" if rolled_back else "not"
    return f"  image       : {running} (running; {verb} {deployed_image})"


def _template_parameters(request: contract.StackChange, image_uri: str) -> dict[str, str]:
    """The stack parameters of a request: `plan` must show exactly what `deploy` would apply."""
    return environments.template_parameters(
        request.env,
        mqtt_image_uri=image_uri,
        yoto_client_id=request.yoto_client_id,
        git_commit=request.commit,
        cloudfront=request.cloudfront,
        alarm_email=request.alarm_email,
    )


def run_deploy(
    target: AwsTarget,
    request: contract.DeployRequest,
    secrets: Secrets,
    *,
    network_template: Path = sam.NETWORK_TEMPLATE,
) -> DeployOutcome:
    """Deploy; a PR's comment says what happened, also when a step before the smoke test fails."""
    from yoto_smart_stream_ci import github_comments

    timer = deploy.Timer(dict(request.gate_seconds))
    try:
        return _deploy(target, request, secrets, timer, network_template)
    except github_comments.GitHubCommentError:
        raise  # the comment itself failed: there is nothing to write it with
    except Exception as error:
        if secrets.github_token and environments.env_kind(request.env) is environments.EnvKind.PR:
            _comment_failed(request, secrets.github_token, timer.running or "deploy", error)
        raise


def _comment_failed(
    request: contract.DeployRequest, github_token: str, step: str, error: Exception
) -> None:
    from yoto_smart_stream_ci import github_comments

    number = environments.pr_number(request.env)
    if number is None:
        return
    body = github_comments.render_failed_comment(
        env=request.env, commit=request.commit, step=step, error=str(error)
    )
    try:
        github_comments.upsert_pr_comment(
            _github_api(), github_token, request.github_repository, number, body
        )
    except github_comments.GitHubCommentError as comment_error:
        print(f"The PR comment was not updated with this failure: {comment_error}", flush=True)


def _deploy(
    target: AwsTarget,
    request: contract.DeployRequest,
    secrets: Secrets,
    timer: deploy.Timer,
    network_template: Path,
) -> DeployOutcome:
    env = request.env
    announce(target)
    started = time.monotonic()
    with timer.step("stack lock"):
        stack_lock.acquire(target, env, wait_seconds=request.lock_wait_seconds)
    local = mqtt_health.local_docker(target, request)
    with timer.step("image"):
        tarball = _image_tarball(request)
        image_uri = _image_uri(target, request, tarball, register=True)
        if tarball is not None and request.docker_load:
            held = mqtt_health.hold_image(local, tarball, image_uri)
            if held:
                print(f"MQTT image: {held}", flush=True)
    parameters = _template_parameters(request, image_uri)
    with tempfile.TemporaryDirectory(prefix=f"deploy-{env}-") as tmp:
        workdir = Path(tmp)
        with timer.step("network"):
            print(deploy.ensure_network_stack(target, network_template), flush=True)
        with timer.step("secrets"):
            deploy.ensure_secrets(target, env, secrets.admin_password)
        with timer.step("sam package"):
            packaged = deploy.package(target, env, Path(request.build_dir), workdir)
        with timer.step("stack deploy"):
            release.record_deploy(target, env, commit=request.commit)
            deployed = deploy.deploy_stack(target, env, packaged, parameters)
        dashboard = "no dashboard directory given"
        if request.dashboard_dir:
            with timer.step("dashboard sync"):
                dashboard = deploy.sync_dashboard(target, env, Path(request.dashboard_dir))
        with timer.step("smoke test"):
            report = _smoke(target, env, local)
        print(report.render(), flush=True)

        rolled_back = False
        rollback_note = ""
        if report.ok:
            release.record_last_good(
                target,
                env,
                packaged,
                parameters,
                commit=request.commit,
                image_uri=image_uri,
            )
        elif release.rolls_back(env):
            with timer.step("rollback"):
                rollback_note = _roll_back(target, env, workdir, local)
            rolled_back = True

    monitoring = environments.cloudwatch_dashboard_url(env, target.region)
    lines = [
        f"Deploy summary ({'EMULATED AWS ACCOUNT' if target.emulated else 'AWS'}):",
        f"  environment : {env}",
        f"  stack       : {deployed.stack} ({deployed.status})",
        *_url_lines(target, request, deployed),
        _image_line(target, env, image_uri, rolled_back),
        f"  dashboard   : {dashboard}",
        f"  CloudWatch  : {monitoring}",
        f"  cost        : {costs.describe(env)}",
        f"  smoke test  : {'passed' if report.ok else 'FAILED'}",
    ]
    if deployed.resource_report is not None:
        lines.append("  resources   :")
        lines += [f"  {line}" for line in deployed.resource_report.lines()]
        if deployed.dropped_outputs:
            lines.append(
                "  outputs not available in the emulator: " + ", ".join(deployed.dropped_outputs)
            )
    if rollback_note:
        lines.append(f"  rollback    : {rollback_note}")
    lines.append("  durations   : " + ", ".join(f"{k} {v:.1f}s" for k, v in timer.steps.items()))
    lines.append(f"  total       : {time.monotonic() - started:.1f}s")
    summary = "\n".join(lines)
    print(summary, flush=True)
    _publish_to_github(env, deployed, monitoring, report.ok, summary)

    if secrets.github_token and environments.env_kind(env) is environments.EnvKind.PR:
        _comment_deployed(
            request, secrets.github_token, deployed, report.ok, report.render(), monitoring
        )
    return DeployOutcome(ok=report.ok, summary=summary, rolled_back=rolled_back)


def _publish_to_github(
    env: str, deployed: deploy.DeployedStack, monitoring: str, ok: bool, summary: str
) -> None:
    """The step outputs (``url`` is the GitHub deployment's URL) and the step summary."""
    url = deployed.outputs.get("DashboardUrl", "")
    github_actions.write_outputs(
        {"url": url, "api-url": deployed.outputs.get("ApiUrl", ""), "monitoring-url": monitoring}
    )
    verdict = "deployed, smoke test passed" if ok else "deployed, smoke test FAILED"
    rows = [
        ("Open", url or "(not created in the emulator)"),
        ("API", deployed.outputs.get("ApiUrl", "(not created in the emulator)")),
        ("CloudWatch", f"[dashboard {environments.cloudwatch_dashboard_name(env)}]({monitoring})"),
        ("Estimated cost", costs.describe(env)),
    ]
    fence = "`" * 3
    github_actions.write_summary(
        "\n".join(
            [
                f"### `{env}` {verdict}",
                "",
                "| | |",
                "|---|---|",
                *(f"| {name} | {value} |" for name, value in rows),
                "",
                "<details><summary>Deploy summary</summary>",
                "",
                fence,
                summary.replace(fence, "'" * 3),
                fence,
                "",
                "</details>",
            ]
        )
    )


def _url_lines(
    target: AwsTarget, request: contract.DeployRequest, deployed: deploy.DeployedStack
) -> list[str]:
    """The URLs a person opens: the stack's own, or in the emulator, where its preview serves."""
    if not target.emulated:
        return [
            f"  ApiUrl      : {deployed.outputs.get('ApiUrl', '(missing)')}",
            f"  DashboardUrl: {deployed.outputs.get('DashboardUrl', '(missing)')}",
        ]
    env = request.env
    if request.emulator_ends_with_call:
        how = "keep the account with `dagger call emulator up --ports 5000:5000` to preview it"
        return [f"  preview     : (this account ends with the call; {how})"]
    return [
        f"  preview     : http://127.0.0.1:8080/{env}/ once started with",
        f"                dagger call preview --env {env} --emulator tcp://localhost:5000 up --ports 8080:8080",
        f"                (host: python -m yoto_smart_stream_ci preview --env {env} --emulator {target.endpoint_url} --port 8080)",
        "  ApiUrl      : (API Gateway and CloudFront are not created by the emulator; the preview serves the same artifact)",
    ]


def _roll_back(target: AwsTarget, env: str, workdir: Path, local: mqtt_health.LocalDocker) -> str:
    previous = release.last_good(target, env)
    if previous is None:
        return "no last good release recorded for this env; nothing to roll back to"
    template = release.fetch_template(target, previous, workdir)
    deploy.deploy_stack(target, env, template, previous.parameters)
    again = _smoke(target, env, local)
    print(again.render(), flush=True)
    verdict = "passes" if again.ok else "ALSO FAILS"
    return (
        f"rolled back to the last good release (commit {previous.commit or 'unknown'}, "
        f"image {previous.image_uri}); its smoke test {verdict}"
    )


def _github_api() -> str:
    # GitHub Actions sets GITHUB_API_URL (GitHub Enterprise has its own); tests use a fake.
    from yoto_smart_stream_ci import github_comments

    return os.environ.get("GITHUB_API_URL", github_comments.GITHUB_API)


def _comment_deployed(
    request: contract.DeployRequest,
    github_token: str,
    deployed: deploy.DeployedStack,
    ok: bool,
    smoke_summary: str,
    monitoring_url: str,
) -> None:
    from yoto_smart_stream_ci import github_comments

    number = environments.pr_number(request.env)
    if number is None:
        return
    body = github_comments.render_deployed_comment(
        env=request.env,
        api_url=deployed.outputs.get("ApiUrl", ""),
        dashboard_url=deployed.outputs.get("DashboardUrl", ""),
        commit=request.commit,
        smoke_passed=ok,
        smoke_summary=smoke_summary,
        monitoring_url=monitoring_url,
    )
    github_comments.upsert_pr_comment(
        _github_api(), github_token, request.github_repository, number, body
    )


def run_smoke(
    target: AwsTarget, request: contract.SmokeRequest, admin_password: str | None
) -> smoke.SmokeReport:
    if request.url is not None:
        # Any URL: a person's account (the admin's password given as a secret) signs in.
        report = smoke.run_smoke(request.url, username="admin", password=admin_password)
    else:
        announce(target)
        report = _smoke(target, str(request.env), mqtt_health.local_docker(target, request))
    print(report.render(), flush=True)
    return report


def run_integration_test(
    target: AwsTarget, request: contract.IntegrationTestRequest, admin_password: str | None
) -> smoke.SmokeReport:
    from yoto_smart_stream_ci import integration

    announce(target)
    password = admin_password or deploy.read_admin_password(target, request.env)
    with deploy.serving_api(target, request.env) as url:
        report = integration.run_integration(
            url,
            admin_username="admin",
            admin_password=password,
            tokens=_token_store(target, request.env),
        )
    print(report.render(), flush=True)
    return report


def _token_store(target: AwsTarget, env: str) -> TokenStore:
    """The app's own token store on the env's table: it owns the Yoto token item's keys."""
    from yoto_smart_stream.core.storage.tokens import TokenStore

    # The suite only loads and stores tokens; refreshing is the deployed API's job.
    return TokenStore(target.session().resource("dynamodb").Table(environments.table_name(env)))


def environment_url(target: AwsTarget, env: str) -> str:
    """The env's DashboardUrl output: what GitHub shows as the deployment's URL."""
    stack = environments.stack_name(env)
    if not emulator.stack_exists(target.client("cloudformation"), stack):
        raise deploy.DeployError(f"{env} is not deployed in this account.")
    url = emulator.stack_outputs(target, stack).get("DashboardUrl")
    if not url:
        raise deploy.DeployError(
            f"{env} has no DashboardUrl output"
            + (" (the emulator cannot create the HTTP API)." if target.emulated else ".")
        )
    return url


def run_preview(target: AwsTarget, request: contract.PreviewRequest) -> None:
    """Serve the env's deployed artifact (the very zip its function points at) until stopped."""
    from yoto_smart_stream_ci import emulated_account

    if not target.emulated:
        raise contract.RequestError(
            f"preview serves an environment of an emulated account; {request.env} in a real "
            "account is already served at its ApiUrl."
        )
    announce(target)
    public_url = f"http://127.0.0.1:{request.port}/{request.env}"
    overrides = {
        # Cards point their tracks at PUBLIC_URL/audio/{id}: that must be the preview itself.
        "PUBLIC_URL": public_url,
        # The browser must reach presigned S3 URLs, and inside a Dagger service the account is
        # `moto:5000`, which only the engine's network knows. The preview front relays
        # /_aws/... to the account, so one URL works for the browser and for the app alike.
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{request.port}{deploy.AWS_RELAY_PREFIX}",
    }
    if request.yoto_api_base_url:
        overrides["YOTO_API_BASE_URL"] = request.yoto_api_base_url
    if request.yoto_auth_base_url:
        overrides["YOTO_AUTH_BASE_URL"] = request.yoto_auth_base_url
    with deploy.serving_api(
        target, request.env, host=request.host, port=request.port, overrides=overrides
    ) as url:
        print(f"Preview of {request.env} (emulated account): {url}/", flush=True)
        print(
            "Sign in as the bootstrap admin: `admin` and the password you deployed with "
            f"(--admin-password), or read {environments.admin_password_parameter(request.env)} "
            "from the emulated SSM. Stop with Ctrl-C.",
            flush=True,
        )
        emulated_account.wait_for_stop()


def run_plan(target: AwsTarget, request: contract.PlanRequest) -> str:
    env = request.env
    announce(target)
    image_uri = _image_uri(target, request, _image_tarball(request), register=False)
    parameters = _template_parameters(request, image_uri)
    with tempfile.TemporaryDirectory(prefix=f"plan-{env}-") as tmp:
        packaged = deploy.package(target, env, Path(request.build_dir), Path(tmp))
        text = deploy.describe_changes(target, env, packaged, parameters)
    print(text, flush=True)
    return text


def run_teardown(
    target: AwsTarget,
    env: str,
    *,
    force: bool = False,
    github_token: str | None = None,
    github_repository: str = "",
    reason: str = "the pull request was closed",
) -> teardown.TeardownReport:
    teardown.check_allowed(env, force=force)
    announce(target)
    report = teardown.teardown(target, env, force=force)
    print(report.render(), flush=True)
    number = environments.pr_number(env)
    if github_token and number is not None and report.stack_existed:
        from yoto_smart_stream_ci import github_comments

        try:
            github_comments.upsert_pr_comment(
                _github_api(),
                github_token,
                github_repository,
                number,
                github_comments.render_torn_down_comment(env=env, reason=reason),
            )
        except github_comments.GitHubCommentError as error:
            report.comment_error = str(error)
            print(f"{env} is torn down, but its PR comment was not updated: {error}", flush=True)
    return report


@dataclass
class StaleCleanup:
    reports: list[teardown.TeardownReport]
    # One sentence per environment that was not checked; any of them makes the run fail.
    skipped: list[str]

    @property
    def ok(self) -> bool:
        return not self.skipped and all(r.ok for r in self.reports)


def run_cleanup_stale(
    target: AwsTarget,
    *,
    max_age_hours: float,
    github_token: str | None = None,
    github_repository: str = "",
    now: datetime | None = None,
) -> StaleCleanup:
    announce(target)
    cfn = target.client("cloudformation")
    summaries = [
        s for page in cfn.get_paginator("list_stacks").paginate() for s in page["StackSummaries"]
    ]
    lookup = (
        stale.github_pr_state(github_token, github_repository, api_base=_github_api())
        if github_token
        else None
    )
    stacks = stale.with_deploy_records(
        stale.pr_stacks(summaries), lambda env: release.last_deploy(target, env)
    )
    scan = stale.stale_envs(
        stacks,
        now=now or datetime.now(UTC),
        max_age=timedelta(hours=max_age_hours),
        pr_is_open=lookup,
    )
    for sentence in scan.busy + scan.unchecked:
        print(sentence, flush=True)
    candidates = scan.stale
    if not candidates:
        print(f"No stale pr-* environments (limit {max_age_hours:g} h).", flush=True)
    reports = []
    for candidate in candidates:
        # Listing and tearing down are minutes apart: a deploy may have started since.
        status = stack_lock.stack_status(cfn, environments.stack_name(candidate.env))
        if status is not None and stack_lock.in_progress(status):
            print(f"Skipped {candidate.env}: its stack is {status} (a deploy is in flight).")
            continue
        print(f"Tearing down {candidate.env}: {candidate.reason}", flush=True)
        reports.append(
            run_teardown(
                target,
                candidate.env,
                github_token=github_token,
                github_repository=github_repository,
                reason=f"it was stale: {candidate.reason}",
            )
        )
    if scan.unchecked:
        print(
            f"{len(scan.unchecked)} environment(s) were not checked; exiting non-zero.",
            flush=True,
        )
    return StaleCleanup(reports, scan.unchecked)


def _running_commit(target: AwsTarget, env: str) -> str | None:
    """The GitCommit parameter the env's stack runs now; ``None`` without a stack."""
    cfn = target.client("cloudformation")
    if stack_lock.stack_status(cfn, environments.stack_name(env)) is None:
        return None
    stack = cfn.describe_stacks(StackName=environments.stack_name(env))["Stacks"][0]
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return values.get("GitCommit")


def run_releases(target: AwsTarget, request: contract.ReleasesRequest) -> list[release.Release]:
    announce(target)
    found = release.releases(target, request.env)
    good = release.last_good(target, request.env)
    running = _running_commit(target, request.env)
    if not found:
        print(f"No releases of {request.env} are recorded (none passed its smoke test).")
        return found
    print(f"Releases of {request.env}, newest first (id, commit, recorded, image):", flush=True)
    for item in found:
        marks = []
        if good is not None and item.template_key == good.template_key:
            marks.append("last good")
        if running is not None and item.commit == running:
            marks.append("running")
        when = datetime.fromtimestamp(item.recorded_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = f"  [{', '.join(marks)}]" if marks else ""
        print(f"  {item.id}  {item.commit or 'unknown'}  {when}  {item.image_uri}{note}")
    return found


def run_rollback(target: AwsTarget, request: contract.RollbackRequest) -> bool:
    """Redeploy a recorded release (``--to``, or the newest one not running) and smoke-test it."""
    env = request.env
    announce(target)
    stack_lock.acquire(target, env, wait_seconds=request.lock_wait_seconds)
    found = release.releases(target, env)
    if request.to:
        chosen = next((r for r in found if r.id == request.to), None)
        if chosen is None:
            raise contract.RequestError(
                f"{env} has no recorded release {request.to}; `releases --env {env}` lists them."
            )
    else:
        running = _running_commit(target, env)
        chosen = next((r for r in found if r.commit != running), None)
        if chosen is None:
            raise contract.RequestError(
                f"{env} has no recorded release other than the one it runs; nothing to roll "
                "back to."
            )
    print(f"Rolling {env} back to release {chosen.id} (commit {chosen.commit}).", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"rollback-{env}-") as tmp:
        template = release.fetch_template(target, chosen, Path(tmp))
        deployed = deploy.deploy_stack(target, env, template, chosen.parameters)
    report = _smoke(target, env, mqtt_health.local_docker(target, request))
    print(report.render(), flush=True)
    if report.ok:
        release.mark_last_good(target, chosen)
    print(
        "\n".join(
            [
                f"Rollback summary ({'EMULATED AWS ACCOUNT' if target.emulated else 'AWS'}):",
                f"  environment : {env}",
                f"  stack       : {deployed.stack} ({deployed.status})",
                f"  release     : {chosen.id} (commit {chosen.commit})",
                _image_line(target, env, chosen.image_uri, rolled_back=False),
                f"  smoke test  : {'passed' if report.ok else 'FAILED'}",
            ]
        ),
        flush=True,
    )
    return report.ok
