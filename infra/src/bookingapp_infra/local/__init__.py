"""The local stack (compose.yaml, Traefik playing the ALB) driven the way ECS drives tasks.

Each module owns one concern and is meant to be reused by the verbs built on it:
`compose` finds a project's replicas and starts or stops them, `traefik` reads the load
balancer's pool, `rolling` is the release, `status` shows what runs, `cli` lists the verbs.
Everything goes through the docker CLI on the host (Docker Desktop included); no container
gets the Docker socket writable.
"""
