"""The ways into the gateway, each a thin caller of the composition roots in `wiring.py`:

- `local.py`: `python -m bot serve` / `make run`, the aiohttp server with the worker in the same process;
- `lambda_ingress.py`: the IngressFunction (HTTP API → the same ingress → SQS);
- `lambda_worker.py`: the ChatWorkerFunction and AnalyticsWorkerFunction (SQS → the same worker → Teams),
  and the DeadLetterFunction (tells the user when a job failed for good);
- `cli.py`: `python -m bot ...` commands.
"""
