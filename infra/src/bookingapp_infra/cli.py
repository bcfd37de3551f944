"""bookingapp-infra: plan, render, deploy, release, status and destroy the ECS stacks.

Exit codes: 0 done, 1 AWS or the emulator refused or failed, 2 bad input (arguments,
parameter files, unknown service). Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bookingapp_infra import aws, deploy, release, stacks
from bookingapp_infra.params import ParamsError, ServiceParams, load_all

PROG = "bookingapp-infra"
DEPLOY_TIMEOUT = 3600.0  # a first deploy (NAT gateway, ALB, namespace) takes 10-20 minutes
RELEASE_TIMEOUT = 900.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; errors become one line on stderr."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (aws.InputError, ParamsError) as err:
        return fail(str(err), 2)
    except aws.InfraError as err:
        return fail(str(err), 1)
    except (BotoCoreError, ClientError) as err:
        return fail(aws.describe(err), 1)
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
    """Build the argument parser: one subcommand per verb."""
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
    verbs.add_parser("plan", help="show the stacks and each service's parameters").set_defaults(
        run=cmd_plan
    )
    render = verbs.add_parser("render", help="print (or write) each stack's template parameters")
    render.add_argument("--out", type=Path, help="write <stack>.json files here instead")
    render.set_defaults(run=cmd_render)
    dep = verbs.add_parser("deploy", help="create or update the stacks in order; print the URL")
    dep.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT, help="seconds per stack")
    dep.set_defaults(run=cmd_deploy)
    rel = verbs.add_parser("release", help="run a new image in one service and wait for it")
    rel.add_argument("service", metavar="SERVICE")
    rel.add_argument("--image", required=True, help="image reference, e.g. docker.io/me/x:1.2")
    rel.add_argument("--cluster", help="ECS cluster (default: the platform stack's)")
    rel.add_argument("--timeout", type=float, default=RELEASE_TIMEOUT, help="seconds to wait")
    rel.add_argument("--poll", type=float, default=10.0, help=argparse.SUPPRESS)
    rel.set_defaults(run=cmd_release)
    verbs.add_parser("status", help="show stacks, services and the ALB URL").set_defaults(
        run=cmd_status
    )
    destroy = verbs.add_parser("destroy", help="delete every stack, services first")
    destroy.add_argument("--yes", action="store_true", help="confirm: this deletes everything")
    destroy.add_argument("--timeout", type=float, default=DEPLOY_TIMEOUT, help="seconds per stack")
    destroy.set_defaults(run=cmd_destroy)
    return top


def load(args: argparse.Namespace) -> dict[str, ServiceParams]:
    """Load and validate the parameter files."""
    return load_all(args.services_dir)


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
        print(f"  {p.cpu} CPU units / {p.memory} MiB, {scaling}")
        print(f"  route {route}; {p.dns_name} (TTL {p.dns_ttl} s)")


def cmd_render(args: argparse.Namespace) -> None:
    """Print or write each stack's template path and CloudFormation parameters."""
    documents = {
        stack.name: json.dumps(
            {
                "StackName": stack.name,
                "TemplateFile": str(stack.template),
                "Parameters": stack.cfn_parameters(creating=True),
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


def cmd_deploy(args: argparse.Namespace) -> None:
    """Create or update the stacks in order and print the ALB URL."""
    plan = stacks.plan(load(args), args.prefix)
    cfn = aws.make_session().client("cloudformation")
    deploy.deploy_all(cfn, plan, args.timeout, print)
    url = deploy.stack_outputs(cfn, stacks.platform_name(args.prefix))["AlbUrl"]
    print(f"ALB URL: {url}")


def cmd_release(args: argparse.Namespace) -> None:
    """Roll one service onto a new image, leaving its desired count alone."""
    services = load(args)
    if args.service not in services:
        raise aws.InputError(f"unknown service {args.service!r} (known: {', '.join(services)})")
    release.check_image(args.image)  # before any AWS call, even the platform lookup
    session = aws.make_session()
    cluster = args.cluster or platform_output(session, args.prefix, "ClusterName")
    release.release(
        session.client("ecs"), cluster, args.service, args.image, args.timeout, args.poll
    )


def cmd_status(args: argparse.Namespace) -> None:
    """Print each stack's state and, for deployed services, task counts and image."""
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
    except aws.InfraError:
        return "(no ECS service)"
    image = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]
    rollout = svc.get("deployments", [{}])[0].get("rolloutState", "?")
    return (
        f"running {svc['runningCount']}/{svc['desiredCount']}, "
        f"deployments {len(svc.get('deployments', []))} ({rollout}), image {image}"
    )


def cmd_destroy(args: argparse.Namespace) -> None:
    """Delete every stack, newest first."""
    if not args.yes:
        raise aws.InputError("destroy deletes every bookingapp stack and its data; add --yes")
    plan = stacks.plan(load(args), args.prefix)
    cfn = aws.make_session().client("cloudformation")
    deploy.destroy_all(cfn, plan, args.timeout, print)


def platform_output(session: aws.ClientFactory, prefix: str, key: str) -> str:
    """Return one output of the deployed platform stack."""
    name = stacks.platform_name(prefix)
    outputs = deploy.stack_outputs(session.client("cloudformation"), name)
    if key not in outputs:
        raise aws.InfraError(f"stack {name} has no output {key}: redeploy the platform")
    return outputs[key]


if __name__ == "__main__":
    sys.exit(main())
