"""bookingapp-infra: plan, cost, render, deploy, release, approve, roll back, destroy, add-service.

Exit codes: 0 done, 1 AWS or the emulator refused or failed (a failed or rolled-back
release included), 2 bad input (arguments, parameter files, unknown service). Every
error is one line on stderr. Each error class carries its own exit code (errors.InfraError,
errors.InputError), so main() catches the family once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bookingapp_infra import aws, cost, deploy, release, scaffold, stacks
from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.live import AwsLive
from bookingapp_infra.params import (
    ParamsError,
    ServiceParams,
    anonymous_docker_hub_tasks,
    check_images_pullable,
    load_all,
)

PROG = "bookingapp-infra"
DEPLOY_TIMEOUT = 3600.0  # a first deploy (NAT gateway, ALB, namespace) takes 10-20 minutes
RELEASE_TIMEOUT = 900.0  # rolling; traffic-shifting adds its bake times (see release_timeout)
APPROVAL_WAIT = 3600.0  # how long a release waits, by default, for someone to approve

Verbs = Any  # argparse's private _SubParsersAction
NO_SERVICE = "(no ECS service)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; errors become one line on stderr."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except InfraError as err:
        return fail(str(err), err.exit_code)
    except (BotoCoreError, ClientError) as err:
        return fail(aws.describe(err), InfraError.exit_code)
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 0
    except KeyboardInterrupt:
        return fail("interrupted; a CloudFormation operation may still be running", 130)
    return 0


def fail(message: str, code: int) -> int:
    """Print the message as the CLI's one-line error and return the exit code."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def parser() -> argparse.ArgumentParser:
    """Build the argument parser: the shared options, then one subcommand per verb."""
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    top.add_argument(
        "--prefix",
        default=os.environ.get("BOOKINGAPP_STACK_PREFIX", stacks.DEFAULT_PREFIX),
        help="stack name prefix (default: %(default)s, or $BOOKINGAPP_STACK_PREFIX)",
    )
    top.add_argument(
        "--services-dir", type=Path, default=None, help="parameter files (default: infra/services)"
    )
    verbs = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_plan,
        add_cost,
        add_render,
        add_deploy,
        add_release,
        add_approve,
        add_rollback,
        add_status,
        add_destroy,
        add_add_service,
    ):
        add(verbs)
    return top


def verb(verbs: Verbs, name: str, run: Callable[[argparse.Namespace], None], helps: str) -> Any:
    """Add one subcommand that runs `run`, and return it for its own options."""
    command = verbs.add_parser(name, help=helps, description=helps)
    command.set_defaults(run=run)
    return command


def add_service_target(command: argparse.ArgumentParser) -> None:
    """Add the SERVICE argument and the --cluster option the ECS verbs share."""
    command.add_argument("service", metavar="SERVICE")
    command.add_argument("--cluster", help="ECS cluster (default: the platform stack's)")


# ---------------------------------------------------------------- plan


def add_plan(verbs: Verbs) -> None:
    """plan: validate the parameter files and show what deploy would build."""
    verb(verbs, "plan", cmd_plan, "show the stacks and each service's parameters")


def cmd_plan(args: argparse.Namespace) -> None:
    """Print the stacks in deploy order and what each service will look like."""
    services = load(args)
    for stack in stacks.plan(services, args.prefix):
        print(f"{stack.name}  ({stack.template.name})")
    print()
    for p in services.values():
        route = f"{p.alb.path_pattern} (priority {p.alb.priority})" if p.alb else "internal only"
        scaling = (
            f"{p.autoscaling.min_capacity}-{p.autoscaling.max_capacity} tasks "
            f"at {p.autoscaling.cpu_target}% CPU"
            if p.autoscaling
            else f"{p.desired_count} task(s), fixed"
        )
        print(f"{p.name}: {p.image}")
        print(f"  {p.cpu} CPU units / {p.memory} MiB on {p.cpu_architecture}, {scaling}")
        print(f"  route {route}; {p.dns_name} (TTL {p.dns_ttl} s)")
        print(f"  deploys {strategy_words(p)}")


def strategy_words(p: ServiceParams) -> str:
    """Describe a service's deployment strategy in a few words."""
    d = p.deployment
    if not d.shifts_traffic:
        return f"rolling {d.minimum_healthy_percent}/{d.maximum_percent} %"
    pause = ", pausing for approval after test traffic" if d.approval else ""
    steps = ""
    if d.strategy != "blue_green":
        moves = ", ".join(
            f"{w:g} %" + (f" for {m} min" if m else "") for w, m in d.production_steps()
        )
        steps = f", production {moves}"
    return f"{STRATEGY_NAMES[d.strategy]}{steps}, bake {d.bake_time_minutes} min{pause}"


# How `plan` names each strategy.
STRATEGY_NAMES = {"blue_green": "blue/green", "linear": "linear", "canary": "canary"}


# ---------------------------------------------------------------- cost


def add_cost(verbs: Verbs) -> None:
    """cost: what deploy would build, priced per stack and in total (no AWS calls)."""
    command = verb(verbs, "cost", cmd_cost, "price what deploy would build, per hour and month")
    command.add_argument(
        "--region",
        default=cost.DEFAULT_REGION,
        help="whose prices (default: %(default)s; infra/prices.toml lists the others)",
    )


def cmd_cost(args: argparse.Namespace) -> None:
    """Print each stack's price per hour, desired and max, on X86_64 and ARM64, and totals."""
    services = load(args)
    table = cost.load_prices(args.region)
    extra = ["ElastiCache nodes (not in the price table)"] if stacks.managed_redis(services) else []
    for line in cost.report(cost.estimate(stacks.plan(services, args.prefix), table), table, extra):
        print(line)


# ---------------------------------------------------------------- render


# What `render` cannot know offline and `deploy` reads from AWS at deploy time.
RENDER_NOTE = (
    "For review. `bookingapp-infra deploy` also keeps a released Image and the traffic-shifting "
    "LiveColour it reads from AWS; feeding this to `aws cloudformation deploy` does not."
)


def add_render(verbs: Verbs) -> None:
    """render: print or write each stack's CloudFormation parameters."""
    command = verb(verbs, "render", cmd_render, "print (or write) each stack's parameters")
    command.add_argument("--out", type=Path, help="write <stack>.json files here instead")
    command.add_argument(
        "--create",
        action="store_true",
        help="parameters for stacks that do not exist yet (default: for updating them, which "
        "leaves the autoscaler's task count alone)",
    )


def cmd_render(args: argparse.Namespace) -> None:
    """Print or write each stack's template path and CloudFormation parameters."""
    documents = {
        stack.name: json.dumps(
            {
                "StackName": stack.name,
                "TemplateFile": str(stack.template),
                # An update with a fixed DesiredCount resets what the autoscaler chose
                # (docs/pitfalls.md #8): only --create asks for the file's count.
                "Parameters": stack.cfn_parameters(creating=args.create),
                "Note": RENDER_NOTE,
            },
            indent=2,
        )
        for stack in stacks.plan(load(args), args.prefix)
    }
    if args.out is None:
        print("\n".join(documents.values()))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        (args.out / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(documents)} parameter files to {args.out}")


# ---------------------------------------------------------------- deploy


def add_deploy(verbs: Verbs) -> None:
    """deploy: create or update every stack in order."""
    command = verb(verbs, "deploy", cmd_deploy, "create or update the stacks in order")
    command.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT, help="seconds per stack")
    https = command.add_mutually_exclusive_group()
    https.add_argument(
        "--certificate-arn",
        metavar="ARN",
        help="serve HTTPS with this ACM certificate (same region); kept by later deploys",
    )
    https.add_argument(
        "--no-https", action="store_true", help="back to plain HTTP (drop the certificate)"
    )


def cmd_deploy(args: argparse.Namespace) -> None:
    """Create or update the stacks in order, keeping what runs, and print the URL."""
    services = load(args)
    check_images_pullable(services)  # before any AWS call: nobody can pull a placeholder
    asked = chosen_certificate(args)
    anonymous = anonymous_docker_hub_tasks(services)
    if anonymous:
        print(
            f"note: {anonymous} tasks pull from Docker Hub anonymously through one NAT "
            "address, which Docker Hub limits to a few pulls an hour: set "
            "repository_credentials (docs/deploy.md, \"Private images and Docker Hub's rate "
            'limit")'
        )
    session = aws.make_session()
    cfn = session.client("cloudformation")
    platform = deploy.describe_stack(cfn, stacks.platform_name(args.prefix))
    had = (deploy.deployed_parameters(platform).get("CertificateArn") or "") if platform else ""
    certificate = had if asked is None else asked
    check_certificate_region(certificate, cfn.meta.region_name)
    plan = stacks.with_https(stacks.plan(services, args.prefix), certificate)
    if had and not certificate:
        # The apps' rules must leave the 443 listener before the platform can drop it.
        plan = deploy.services_before_platform(plan)
    deploy.ensure_service_linked_roles(session.client("iam"), print)
    deploy.deploy_all(cfn, plan, args.timeout, print, AwsLive(session, args.prefix))
    url = deploy.stack_outputs(cfn, stacks.platform_name(args.prefix))["AlbUrl"]
    print(f"ALB URL: {url}")


# An ACM certificate ARN (the template checks the same pattern).
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$")


def chosen_certificate(args: argparse.Namespace) -> str | None:
    """Return the certificate asked for: an ARN, "" for plain HTTP, None to keep what runs."""
    if args.no_https:
        return ""
    if args.certificate_arn is None:
        return None
    if not CERTIFICATE_ARN.match(args.certificate_arn):
        raise InputError(
            f"--certificate-arn {args.certificate_arn!r} is not an ACM certificate ARN "
            "(arn:aws:acm:<region>:<account>:certificate/<id>)"
        )
    return str(args.certificate_arn)


def check_certificate_region(certificate: str, region: str) -> None:
    """Refuse a certificate from another region: an ALB can only use its own region's."""
    match = CERTIFICATE_ARN.match(certificate)
    if match and match.group(1) != region:
        raise InputError(
            f"the certificate is in {match.group(1)} but the stacks are in {region}: request "
            f"or import it in ACM in {region}"
        )


# ---------------------------------------------------------------- release


def add_release(verbs: Verbs) -> None:
    """release: run a new image in one service and watch the deployment to its end."""
    command = verb(
        verbs, "release", cmd_release, "run a new image in one service; watch it to the end"
    )
    add_service_target(command)
    command.add_argument("--image", required=True, help="image reference, e.g. docker.io/me/x:1.2")
    command.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to watch (default: 900, plus the bake times and an hour for approval)",
    )
    command.add_argument("--poll", type=float, default=10.0, help=argparse.SUPPRESS)


def cmd_release(args: argparse.Namespace) -> None:
    """Roll one service onto a new image, leaving its desired count alone, and watch it."""
    p = known_service(args)
    release.check_image(args.image)  # before any AWS call, even the platform lookup
    session = aws.make_session()
    cluster = args.cluster or platform_output(session, args.prefix, "ClusterName")
    timeout = args.timeout if args.timeout is not None else release_timeout(p)
    release.release(session.client("ecs"), cluster, p.name, args.image, timeout, args.poll)


def release_timeout(p: ServiceParams) -> float:
    """Return how long a release of p is watched by default."""
    d = p.deployment
    if not d.shifts_traffic:
        return RELEASE_TIMEOUT
    return RELEASE_TIMEOUT + 60 * d.bake_minutes() + (APPROVAL_WAIT if d.approval else 0)


# ---------------------------------------------------------------- approve / rollback


def add_approve(verbs: Verbs) -> None:
    """approve: let a deployment paused after test traffic move production to green."""
    command = verb(
        verbs, "approve", cmd_approve, "continue a deployment paused for approval (to green)"
    )
    add_service_target(command)


def cmd_approve(args: argparse.Namespace) -> None:
    """Continue the service's deployment that waits for approval."""
    p = known_service(args)
    session = aws.make_session()
    release.approve(session.client("ecs"), cluster_of(args, session), p.name)


def add_rollback(verbs: Verbs) -> None:
    """rollback: send a deployment in progress back to the previous revision."""
    command = verb(
        verbs, "rollback", cmd_rollback, "roll back the deployment in progress (to blue)"
    )
    add_service_target(command)


def cmd_rollback(args: argparse.Namespace) -> None:
    """Roll back the service's deployment in progress, paused or not."""
    p = known_service(args)
    session = aws.make_session()
    release.rollback(session.client("ecs"), cluster_of(args, session), p.name)


# ---------------------------------------------------------------- status


def add_status(verbs: Verbs) -> None:
    """status: every stack, or one service's deployment in progress."""
    command = verb(
        verbs, "status", cmd_status, "show stacks and the URL, or one service's deployment"
    )
    command.add_argument(
        "service", metavar="SERVICE", nargs="?", help="show this service's deployment in progress"
    )
    command.add_argument("--cluster", help="ECS cluster (default: the platform stack's)")


def cmd_status(args: argparse.Namespace) -> None:
    """Print each stack's state, or one service's tasks and deployment in progress."""
    if args.service is not None:
        p = known_service(args)
        session = aws.make_session()
        ecs = session.client("ecs")
        cluster = cluster_of(args, session)
        summary = service_summary(ecs, cluster, p.name)
        print(f"{p.name}: {summary}")
        if summary != NO_SERVICE:
            for line in release.deployment_summary(ecs, cluster, p.name):
                print(line)
        return
    plan = stacks.plan(load(args), args.prefix)
    session = aws.make_session()
    cfn = session.client("cloudformation")
    states = {s.name: deploy.stack_status(cfn, s.name) for s in plan}
    platform = stacks.platform_name(args.prefix)
    outputs = deploy.stack_outputs(cfn, platform) if states[platform] else {}
    ecs = session.client("ecs")
    for stack in plan:
        line = f"{stack.name}: {states[stack.name] or 'not deployed'}"
        if stack.service is not None and states[stack.name] and "ClusterName" in outputs:
            line += "  " + service_summary(ecs, outputs["ClusterName"], stack.service.name)
        print(line)
    if "AlbUrl" in outputs:
        print(f"ALB URL: {outputs['AlbUrl']}")


def service_summary(ecs: Any, cluster: str, name: str) -> str:
    """Return one service's counts, rollout state and image, or why they are unknown."""
    try:
        svc = release.describe_service(ecs, cluster, name)
    except InfraError:
        return NO_SERVICE
    image = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]
    rollout = svc.get("deployments", [{}])[0].get("rolloutState", "?")
    return (
        f"running {svc['runningCount']}/{svc['desiredCount']}, "
        f"deployments {len(svc.get('deployments', []))} ({rollout}), image {image}"
    )


# ---------------------------------------------------------------- destroy


def add_destroy(verbs: Verbs) -> None:
    """destroy: delete every stack, or just one (a stack whose first creation failed)."""
    command = verb(verbs, "destroy", cmd_destroy, "delete every stack, services first")
    command.add_argument("--yes", action="store_true", help="confirm: this deletes everything")
    command.add_argument(
        "--stack",
        metavar="NAME",
        help="delete only this stack, e.g. one left in ROLLBACK_COMPLETE by a failed create",
    )
    command.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT, help="seconds per stack")


def cmd_destroy(args: argparse.Namespace) -> None:
    """Delete every stack, newest first, or the one stack named."""
    plan = stacks.plan(load(args), args.prefix)
    names = [s.name for s in plan]
    if args.stack is not None and args.stack not in names:
        raise InputError(f"unknown stack {args.stack!r} (known: {', '.join(names)})")
    if not args.yes:
        what = f"stack {args.stack}" if args.stack else "every bookingapp stack and its data"
        raise InputError(f"destroy deletes {what}; add --yes")
    cfn = aws.make_session().client("cloudformation")
    if args.stack is not None:
        deploy.destroy_stack(cfn, args.stack, args.timeout, print)
    else:
        deploy.destroy_all(cfn, plan, args.timeout, print)


# ---------------------------------------------------------------- add-service


def add_add_service(verbs: Verbs) -> None:
    """add-service: write everything a new app service needs, or nothing."""
    command = verb(
        verbs,
        "add-service",
        cmd_add_service,
        "add an app service: its package, parameter file, compose entries, workspace member",
    )
    command.add_argument("name", metavar="NAME", help="lowercase letters and digits; serves /NAME")
    command.add_argument(
        "--priority", type=int, help="ALB listener rule priority (default: the next free ten)"
    )
    command.add_argument("--title", help="the page's title (default: NAME capitalised)")
    command.add_argument(
        "--root",
        type=Path,
        default=scaffold.REPO_ROOT,
        help="the repository to add it to (default: this checkout)",
    )


def cmd_add_service(args: argparse.Namespace) -> None:
    """Write the new service's files and say what was written and what to run next."""
    wanted = scaffold.NewService(args.name, args.priority, args.title)
    written = scaffold.add_service(args.root, wanted)
    print(f"added app service {args.name}, served under /{args.name}:")
    for path in written:
        print(f"  wrote {path.relative_to(args.root)}")
    print(
        "next: `uv lock` (adds the workspace member to uv.lock), then `docker compose up "
        f"--build` serves /{args.name} through Traefik and `uv run bookingapp-infra plan` "
        "lists its stack"
    )


# ---------------------------------------------------------------- shared


def load(args: argparse.Namespace) -> dict[str, ServiceParams]:
    """Load and validate the parameter files; a problem in them is bad input (exit 2)."""
    try:
        return load_all(args.services_dir)
    except ParamsError as err:
        raise InputError(str(err)) from err


def known_service(args: argparse.Namespace) -> ServiceParams:
    """Return the parameters of the service named on the command line, or refuse it."""
    services = load(args)
    if args.service not in services:
        raise InputError(f"unknown service {args.service!r} (known: {', '.join(services)})")
    return services[args.service]


def cluster_of(args: argparse.Namespace, session: aws.ClientFactory) -> str:
    """Return the cluster named by --cluster, else the platform stack's."""
    return args.cluster or platform_output(session, args.prefix, "ClusterName")


def platform_output(session: aws.ClientFactory, prefix: str, key: str) -> str:
    """Return one output of the deployed platform stack."""
    name = stacks.platform_name(prefix)
    outputs = deploy.stack_outputs(session.client("cloudformation"), name)
    if key not in outputs:
        raise InfraError(f"stack {name} has no output {key}: redeploy the platform")
    return outputs[key]


if __name__ == "__main__":
    sys.exit(main())
