"""From a plan to images, one home each, top to bottom:

build.py     one run: plan, up-to-date lines, then execute.py (only when something is stale)
execute.py   the builders' capabilities, the strategy, the scheduler over the pipeline
pipeline.py  one image: disk guard, reuse, build with retries, smoke check, push, manifest
registry.py  pushes and pulls: reuse by input digest, parents pinned for other builders
buildx.py    the `docker buildx build` process: rawjson progress -> step events, the result
spec.py      one image's build as a frozen spec, and its buildx argv
strategy.py  each tier's builder and cache plan, parents that travel through the registry
cache.py     cache plans, --cache-from/--cache-to arguments, local cache housekeeping
scheduler.py one ready-queue over the image DAG; smoke.py the smoke checks
history.py   history lines; report.py the run's report, folded from its events
options.py   what the caller asks and chooses (BuildOptions, DiskCare); events.py the events
"""
