"""How `release` replaces a service's replicas: one interface, one strategy per ECS strategy.

- release.py: the `release` verb: the strategy the service's params name (or --strategy),
  after the checks every release makes (`STRATEGIES` is the registry)
- strategy.py: the interface (`Strategy`: name, options, configure, release) and `Overrides`
- rolling.py: ECS's ROLLING (`Rolling`, its `Bounds` and batch `plan`)
- blue_green.py: the traffic-shifting strategies (`TrafficShift`; `BlueGreen` shifts at once)
  with their controller, and `approve`/`rollback` of a release in progress
- state.py: a traffic-shifting release's stages and transitions (pure), kept by store.py
- routing.py: its listener rules as Traefik file-provider configuration (pure)

A new ECS strategy is one more `Strategy` in release.STRATEGIES, named as params.STRATEGIES
names it; linear and canary are `TrafficShift`s with other shifts (issue 22).
"""
