"""Where the CLI's AWS calls go: real AWS, or an emulator when the environment asks for one."""

from __future__ import annotations

import os
from typing import Any, Protocol, cast

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from localstack_client.session import Session as LocalSession

from bookingapp_infra.errors import InfraError

# Either of these in the environment sends every call to an emulator (LocalStack, or
# moto's server on port 4566). AWS_ENDPOINT_URL wins when both are set.
EMULATOR_VARIABLES = ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
NO_REGION = "no AWS region: set AWS_REGION (or a region in your AWS profile)"


class ClientFactory(Protocol):
    """Anything with boto3's Session.client signature: a boto3 or localstack-client session."""

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """Return a low-level client for one AWS service."""


def make_session() -> ClientFactory:
    """Return a localstack-client session if the environment names an emulator, else boto3's."""
    env = os.environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not any(env.get(name) for name in EMULATOR_VARIABLES):
        session = boto3.session.Session(region_name=region)
        if session.region_name is None:
            raise InfraError(NO_REGION)
        return cast(ClientFactory, session)  # boto3 ships no types: its Session
    if region is None:
        raise InfraError(NO_REGION)
    # localstack-client reads AWS_ENDPOINT_URL / LOCALSTACK_HOST itself; it would otherwise
    # invent credentials and a region, so hand it the ones the user set.
    local: ClientFactory = LocalSession(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=region,
    )
    return local


def error_code(err: ClientError) -> str:
    """Return the AWS error code of a ClientError."""
    return str(err.response.get("Error", {}).get("Code", ""))


def describe(err: BotoCoreError | ClientError) -> str:
    """Turn a boto error into one line a person can act on."""
    if isinstance(err, ClientError):
        message = err.response.get("Error", {}).get("Message", "") or str(err)
        return f"AWS refused {err.operation_name}: {error_code(err)}: {message}"
    text = str(err)
    if "credentials" in text.lower():
        return f"{text}: configure AWS credentials (aws configure, or AWS_PROFILE)"
    return text
