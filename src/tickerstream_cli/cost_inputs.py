"""What the cost estimate reads rather than assumes: template.yaml (functions and what triggers them, memory,
batching, lake lifecycle, keys, alarms, dashboards, topics, secrets), the functions' metric names,
bench/results.json (measured durations) and the price list (data/prices.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tickerstream_local.template import REPO_ROOT, parameter_defaults, resolve, sam_template

BENCH_RESULTS = REPO_ROOT / "bench" / "results.json"
# Cognito trigger names in UserPool.LambdaConfig, as the estimate counts their invocations.
COGNITO_TRIGGERS = ("PreSignUp", "PreAuthentication", "PostAuthentication", "PreTokenGenerationConfig",
                    "PreTokenGeneration", "PostConfirmation", "CustomMessage", "DefineAuthChallenge",
                    "CreateAuthChallenge", "VerifyAuthChallengeResponse", "UserMigration")
_METRIC_NAME = re.compile(r"add_metric\(\s*(?:name\s*=\s*)?[\"']([A-Za-z0-9_.\-]+)[\"']")


@dataclass(frozen=True)
class FunctionFacts:
    logical_id: str
    memory_mb: int
    trigger: str  # stream | firehose | api-read | api-write | cognito:<Trigger> | none
    batch_size: int = 0
    batching_window: float = 0.0


@dataclass(frozen=True)
class TemplateFacts:
    parameters: dict[str, Any]
    functions: tuple[FunctionFacts, ...]
    stream_consumers: int  # event-source mappings and delivery streams reading the quote stream
    customer_keys: int
    alarm_metrics: int
    dashboards: int
    sns_topics: int
    secrets: int
    log_groups: int
    custom_metrics: int
    format_conversion: bool
    dynamic_partitioning: bool
    table_key_users: int  # functions whose role may use a customer key through DynamoDB

    def parameter(self, name: str, default: Any = None) -> Any:
        return self.parameters.get(name, default)


@dataclass(frozen=True)
class Measured:
    """Durations bench/results.json measured (None where it has none)."""

    processor_us_per_record: float | None = None
    transform_us_per_record: float | None = None
    source: str = ""
    keys: dict[str, float] = field(default_factory=dict)


def _target(value: Any) -> str | None:
    """The logical id an !GetAtt X.Arn / !Ref X points to."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return (target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Ref" in value:
            return value["Ref"]
    return None


def _firehose_processors(resource: dict[str, Any]) -> list[str]:
    config = resource["Properties"].get("ExtendedS3DestinationConfiguration") or {}
    found = []
    for processor in (config.get("ProcessingConfiguration") or {}).get("Processors") or []:
        for parameter in processor.get("Parameters") or []:
            if parameter.get("ParameterName") == "LambdaArn" and (target := _target(parameter.get("ParameterValue"))):
                found.append(target)
    return found


def _trigger_of(logical_id: str, resource: dict[str, Any], template: dict[str, Any],
                parameters: dict[str, Any]) -> tuple[str, int, float]:
    for event in (resource["Properties"].get("Events") or {}).values():
        kind, props = event.get("Type"), event.get("Properties") or {}
        if kind == "Kinesis":
            return ("stream", int(resolve(props.get("BatchSize", 100), parameters)),
                    float(resolve(props.get("MaximumBatchingWindowInSeconds", 0), parameters)))
        if kind == "Api":
            return ("api-write" if str(props.get("Method", "")).lower() in ("post", "put", "patch", "delete")
                    else "api-read", 0, 0.0)
    for other in template["Resources"].values():
        if other.get("Type") == "AWS::KinesisFirehose::DeliveryStream" and logical_id in _firehose_processors(other):
            return "firehose", 0, 0.0
        if other.get("Type") == "AWS::Cognito::UserPool":
            for trigger, value in ((other["Properties"].get("LambdaConfig")) or {}).items():
                target = _target(value.get("LambdaArn") if isinstance(value, dict) and "LambdaArn" in value else value)
                if target == logical_id:
                    return f"cognito:{trigger.removesuffix('Config')}", 0, 0.0
    return "none", 0, 0.0


def custom_metric_names(function_dirs: list[Path]) -> set[str]:
    """The EMF metric names the functions' code emits (each is one custom metric per dimension set)."""
    names: set[str] = set()
    for directory in function_dirs:
        for source in directory.rglob("*.py"):
            names.update(_METRIC_NAME.findall(source.read_text()))
    return names


def template_facts(overrides: dict[str, Any] | None = None, template: dict[str, Any] | None = None) -> TemplateFacts:
    template = template or sam_template()
    parameters = {**parameter_defaults(template), **(overrides or {})}
    resources = template["Resources"]
    globals_memory = int((template.get("Globals") or {}).get("Function", {}).get("MemorySize", 128))
    functions, dirs = [], []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        trigger, batch, window = _trigger_of(logical_id, resource, template, parameters)
        memory = int(resolve(resource["Properties"].get("MemorySize", globals_memory), parameters))
        functions.append(FunctionFacts(logical_id, memory, trigger, batch, window))
        dirs.append(REPO_ROOT / resource["Properties"]["CodeUri"])
    of_type = lambda kind: [r for r in resources.values() if r.get("Type") == kind]  # noqa: E731
    hoses = of_type("AWS::KinesisFirehose::DeliveryStream")
    alarm_metrics = sum(max(1, len(a["Properties"].get("Metrics") or [])) for a in of_type("AWS::CloudWatch::Alarm"))
    s3_configs = [h["Properties"].get("ExtendedS3DestinationConfiguration") or {} for h in hoses]
    names = custom_metric_names(dirs + [REPO_ROOT / "layers" / "shared"])
    with_metrics = sum(1 for d in dirs if custom_metric_names([d]))
    roles_with_table_key = sum(1 for r in of_type("AWS::IAM::Role") if "QuotesTableKey" in json.dumps(r))
    return TemplateFacts(
        parameters=parameters,
        functions=tuple(functions),
        stream_consumers=sum(1 for f in functions if f.trigger == "stream") + sum(
            1 for h in hoses if h["Properties"].get("DeliveryStreamType") == "KinesisStreamAsSource"),
        customer_keys=len(of_type("AWS::KMS::Key")),
        alarm_metrics=alarm_metrics,
        dashboards=len(of_type("AWS::CloudWatch::Dashboard")),
        sns_topics=len(of_type("AWS::SNS::Topic")),
        secrets=len(of_type("AWS::SecretsManager::Secret")),
        log_groups=len(of_type("AWS::Logs::LogGroup")),
        custom_metrics=len(names) + with_metrics,  # + ColdStart, one per function (its function_name dimension)
        format_conversion=any((c.get("DataFormatConversionConfiguration") or {}).get("Enabled") for c in s3_configs),
        dynamic_partitioning=any((c.get("DynamicPartitioningConfiguration") or {}).get("Enabled") for c in s3_configs),
        table_key_users=roles_with_table_key,
    )


def measured(path: Path = BENCH_RESULTS) -> Measured:
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return Measured()
    return Measured(results.get("processor_us_per_record"), results.get("transform_us_per_record"), str(path),
                    {k: v for k, v in results.items() if isinstance(v, int | float)})


def prices() -> dict[str, Any]:
    return json.loads(resources.files("tickerstream_cli").joinpath("data/prices.json").read_text())


def demo_record_shape() -> tuple[float, int, int]:
    """Average record size in bytes, tickers and sectors of the demo's quotes (the seed universe)."""
    from tickerstream_cli.demo_quotes import DemoQuotes, seed_quotes

    quotes = seed_quotes()
    sizes = [len(record.data) for record, _ in zip(DemoQuotes(seed=0), range(2000), strict=False)]
    return (sum(sizes) / len(sizes), len({q["ticker_symbol"] for q in quotes}), len({q["sector"] for q in quotes}))
