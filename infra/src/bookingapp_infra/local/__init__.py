"""The local stack (compose.yaml, Traefik playing the ALB) driven the way ECS drives tasks.

Each concept has one home:

- `cli`: every verb of bookingapp-local with its options, and the one place that dispatches
- `docker`: every docker and docker compose call: replicas, the one compose command line,
  overlay files, scaling (ScaleJob), stopping, waiting for health
- `traefik`: the one client of Traefik's API (pools, routers, weights, 5xx counts) and what
  a replica's labels tell Traefik
- `wait`: the one poller (a check, a deadline, a message) and the step timeout
- `strategies`: `release` follows the service's [deployment] strategy: rolling, or one of
  the traffic-shifting three, blue/green, linear and canary (one release with its stages,
  listener rules and state between commands; they differ in how production moves)
- `autoscale`: each app's target tracking policy (policy) and the scaler acting it out
- `status`: what runs, and the releases in progress

Everything goes through the docker CLI on the host (Docker Desktop included); no container
gets the Docker socket writable. Parameters come from bookingapp_infra.params only.
"""

PROG = "bookingapp-local"
