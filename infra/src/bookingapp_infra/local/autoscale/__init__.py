"""`autoscale`: each app's own CPU target tracking policy, acted out on the compose stack.

- policy.py: what target tracking decides, as Application Auto Scaling does (pure)
- scaler.py: samples `docker stats`, asks the policy, carries decisions out with the
  compose command releases use (docker.ScaleJob), and the `autoscale` command itself

Exit codes (bookingapp-local's): 0 when --once has carried out its decisions; 1 when one of
them failed (compose refused, or the replicas never reached Traefik's pool) or something
else failed on the way; 2 for bad parameters or options, or a stack that is not up; 130 when
stopped with Ctrl-C or SIGTERM, the normal end of a run without --once (a scaling activity in
flight is finished first; a second Ctrl-C leaves at once).
"""

from bookingapp_infra.local.autoscale.scaler import DEFAULT_SAMPLE_INTERVAL, autoscale

__all__ = ["DEFAULT_SAMPLE_INTERVAL", "autoscale"]
