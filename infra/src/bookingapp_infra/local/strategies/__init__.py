"""How `release` replaces a service's replicas: one interface, one strategy per ECS strategy.

- release.py: the `release` verb: the strategy the service's params name (or --strategy),
  after the checks every release makes (`STRATEGIES` is the registry)
- strategy.py: the interface (`Strategy`: name, options, configure, release) and `Overrides`
- rolling.py: ECS's ROLLING (`Rolling`, its `Bounds` and batch `plan`)
- traffic_shift.py: the release the traffic-shifting strategies share (`TrafficShift`), its
  controller, `approve`/`rollback` of a release in progress, and ECS's LINEAR and CANARY
  declared as data (`Linear`: step_percent at a time; `Canary`: canary_percent first)
- blue_green.py: ECS's BLUE_GREEN (`BlueGreen`: production moves at once)
- state.py: a traffic-shifting release's stages and transitions (pure), kept by store.py
- routing.py: its listener rules as Traefik file-provider configuration (pure)

A new ECS strategy is one more `Strategy` in release.STRATEGIES, named as params.STRATEGIES
names it; one that shifts traffic is a `TrafficShift` with its own `shifts_for`, or, if it moves
production in steps from one share, one more `gradual(...)` declaration.
"""
