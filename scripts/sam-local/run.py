"""`make sam-local`: every sample event in events/ through the real `sam local invoke`, checked against
the same event run in-process.

Two local AWS endpoints (moto) get the same deployment of template.yaml. The events are replayed in
one order on both: through SAM CLI's container (a Lambda runtime image built on this machine, see
build-base-image.sh) against the first, and in-process against the second. Each result must match:
same status and body for the API, same batch item failures for QuoteProcessor, same record results
for FirehoseTransform, same returned event (or the same refusal) for the Cognito triggers.

SAM runs an x86_64 build of a template derived from template.yaml (arm64 would need qemu, far too slow
here) which declares the variables the local stack adds (endpoint, tracing off): `sam local invoke
--env-vars` only overrides variables the template declares.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "sam-local",
        "AWS_SECRET_ACCESS_KEY": "sam-local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
    }
)
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402

from tickerstream_local.functions import LocalContext, function_setting, handler_of, load_function  # noqa: E402
from tickerstream_local.server import MotoServer, free_port  # noqa: E402
from tickerstream_local.stack import deploy  # noqa: E402
from tickerstream_local.template import REPO_ROOT, sam_template  # noqa: E402

WORK = REPO_ROOT / ".sam-local"
# Functions whose events change state run first, so the queries that follow find what they wrote.
ORDER = ("quote_processor", "firehose_transform", "api_ingest", "api_query")
LOCAL_ONLY_VARIABLES = {"POWERTOOLS_TRACE_DISABLED": "true"}
QUIET = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
# Values that differ between any two runs of the same event.
VOLATILE = re.compile(r"request_?id|updated_at|timestamp|^time$|^date$|x-amzn|^iat$|^exp$|^jti$|auth_time", re.I)


def functions_by_events_dir() -> dict[str, str]:
    """events/<dir> belongs to the function whose CodeUri is functions/<dir>."""
    found = {}
    for logical_id, resource in sam_template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            found[Path(resource["Properties"]["CodeUri"]).name] = logical_id
    return found


def event_files() -> list[tuple[str, Path]]:
    owners = functions_by_events_dir()
    folders = sorted((REPO_ROOT / "events").iterdir(), key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    unknown = [p.name for p in folders if p.name not in owners]
    if unknown:
        sys.exit(f"sam-local: events/{unknown[0]} names no function of template.yaml")
    return [(owners[folder.name], path) for folder in folders for path in sorted(folder.glob("*.json"))]


def derived_template(environments: dict[str, dict[str, str]]) -> Path:
    """template.yaml for an x86_64 build, code paths absolute, every local variable declared."""
    template = json.loads(json.dumps(sam_template()))
    template["Globals"]["Function"]["Architectures"] = ["x86_64"]
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource.setdefault("Metadata", {})["BuildArchitecture"] = "x86_64"
            props["CompatibleArchitectures"] = ["x86_64"]
            props["ContentUri"] = str(REPO_ROOT / props["ContentUri"])
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = str(REPO_ROOT / props["CodeUri"])
            props.pop("Architectures", None)
            variables = props.setdefault("Environment", {}).setdefault("Variables", {})
            for name in environments[logical_id]:
                variables.setdefault(name, "set-by-sam-local")
    WORK.mkdir(exist_ok=True)
    path = WORK / "template.json"
    path.write_text(json.dumps(template, indent=1))
    return path


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, capture_output=True, **kwargs)


def sam_build(template: Path) -> Path:
    build_dir = WORK / "build"
    env = {**os.environ, "LAYER_PLATFORM": "manylinux2014_x86_64"}
    started = time.monotonic()
    done = run(["sam", "build", "--template-file", str(template), "--build-dir", str(build_dir)], env=env, cwd=WORK)
    if done.returncode:
        sys.exit(f"sam-local: sam build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"sam-local: sam build (x86_64) in {time.monotonic() - started:.0f} s")
    return build_dir / "template.yaml"


def sam_invoke(built: Path, logical_id: str, event: Path, env_file: Path) -> tuple[Any, str]:
    done = run(
        ["sam", "local", "invoke", logical_id, "--template-file", str(built), "--event", str(event),
         "--env-vars", str(env_file), "--skip-pull-image", "--region", "us-east-1"],
        cwd=WORK, timeout=180,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    try:
        return json.loads(last), done.stderr
    except json.JSONDecodeError:
        return {"sam-local": "no JSON result", "stdout": done.stdout[-2000:]}, done.stderr


def in_process(logical_id: str, event: Path, environment: dict[str, str]) -> Any:
    # The function's own logs (Powertools writes them to stdout) would bury the report. The sink stays
    # open: a Logger keeps the stream it was created with for the rest of the process.
    with contextlib.redirect_stdout(QUIET), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = load_function(logical_id, {**environment, **LOCAL_ONLY_VARIABLES})
        context = LocalContext(logical_id, timeout_seconds=int(function_setting(logical_id, "Timeout", 3)))
        try:
            return handler_of(logical_id, module)(json.loads(event.read_text()), context)
        except Exception as exc:  # noqa: BLE001 - a refusal is a result to compare, as Lambda reports it
            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def summary(result: Any) -> str:
    """A few words on what the function answered, for the report line."""
    if not isinstance(result, dict):
        return type(result).__name__
    if "errorType" in result:
        return f"refused: {result['errorType']}"
    if "statusCode" in result:
        return f"HTTP {result['statusCode']}"
    if "batchItemFailures" in result:
        return f"{len(result['batchItemFailures'])} batch item failures"
    if "records" in result:
        results = [record.get("result") for record in result["records"]]
        return ", ".join(f"{results.count(kind)} {kind}" for kind in sorted(set(results)))
    return "event returned"


def comparable(result: Any) -> Any:
    """The result without what differs run to run; API bodies compared as JSON."""
    if isinstance(result, dict):
        if "errorType" in result:
            return {"errorType": result["errorType"], "errorMessage": result.get("errorMessage")}
        out = {}
        for key, value in result.items():
            if VOLATILE.search(str(key)):
                continue
            if key == "body" and isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            out[key] = comparable(value)
        return out
    if isinstance(result, list):
        return [comparable(item) for item in result]
    return result


def bridge_address() -> str:
    """The host's address on Docker's default bridge: where containers reach a server on the host.

    (SAM CLI has no host networking: `--docker-network host` leaves containers on the bridge.)
    """
    shown = run(["ip", "-4", "-o", "addr", "show", "docker0"])
    match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", shown.stdout)
    if not match:
        sys.exit("sam-local: Docker's bridge (docker0) has no IPv4 address; is the daemon running?")
    return match.group(1)


@contextlib.contextmanager
def moto_on(address: str) -> Iterator[str]:
    """A moto server of its own (in one process, moto servers share one backend), listening on `address`,
    patched as the local stack runs it (tickerstream_local.moto_patches)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tickerstream_local.moto_patches", "-H", address, "-p", str(port)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{address}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit(f"sam-local: moto server on {url} did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    events = event_files()
    # Containers reach the first on the bridge; the second serves the in-process reference run only.
    with moto_on(bridge_address()) as sam_endpoint, MotoServer(port=0, separate_process=True) as for_reference:
        sam_side = deploy(boto3.Session(region_name="us-east-1"), endpoint_url=sam_endpoint)
        reference = deploy(boto3.Session(region_name="us-east-1"), endpoint_url=for_reference.endpoint_url)
        functions = sorted({logical_id for logical_id, _ in events})
        environments = {fn: sam_side.function_environment(fn) for fn in sam_template()["Resources"]
                        if sam_template()["Resources"][fn]["Type"] == "AWS::Serverless::Function"}
        built = sam_build(derived_template(environments))
        env_file = WORK / "env.json"
        env_file.write_text(json.dumps({fn: {**env, **LOCAL_ONLY_VARIABLES} for fn, env in environments.items()}))

        failures = []
        print(f"sam-local: {len(events)} events, {len(functions)} functions, real `sam local invoke` vs in-process")
        for logical_id, event in events:
            started = time.monotonic()
            got, logs = sam_invoke(built, logical_id, event, env_file)
            expected = in_process(logical_id, event, reference.function_environment(logical_id))
            same = comparable(got) == comparable(expected)
            name = event.relative_to(REPO_ROOT)
            print(f"  {'ok  ' if same else 'FAIL'} {logical_id:27} {str(name):58} {summary(got):28} "
                  f"({time.monotonic() - started:.1f} s)")
            if not same:
                failures.append((name, got, expected, logs))
        for name, got, expected, logs in failures:
            print(f"\n{name}:\n  sam local invoke: {json.dumps(comparable(got))[:1500]}\n"
                  f"  in-process:       {json.dumps(comparable(expected))[:1500]}\n  stderr: {logs[-1500:]}")
        print(f"sam-local: {len(events) - len(failures)} passed, {len(failures)} failed")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
