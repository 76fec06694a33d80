"""Loaded by `make airflow` only: keep Airflow's log servers on 127.0.0.1.

Airflow 3.3's worker and triggerer log servers bind every interface (`uvicorn.run(host="")`, not configurable).
Local development must not expose ports beyond loopback, so this pins an empty or wildcard host to 127.0.0.1.
"""

try:
    import uvicorn

    _run = uvicorn.run

    def _loopback_run(app, *args, **kwargs):
        if kwargs.get("host") in ("", "0.0.0.0", "::", None):
            kwargs["host"] = "127.0.0.1"
        return _run(app, *args, **kwargs)

    uvicorn.run = _loopback_run
except ImportError:  # pragma: no cover - uvicorn is always installed with Airflow
    pass
