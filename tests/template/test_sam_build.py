"""`sam build` works on a machine with no Docker, and builds what Lambda arm64/python3.13 runs."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tickerstream_local.template import REPO_ROOT, TEMPLATE_PATH


def test_sam_build_produces_arm64_python313_artifacts(tmp_path):
    build_dir = tmp_path / "build"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sam"), "build", "--template-file", str(TEMPLATE_PATH),
         "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "tickerstream" / "quote.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    for shipped_by_the_runtime in ("boto3", "botocore", "s3transfer"):
        assert not (layer / shipped_by_the_runtime).exists()
    compiled = list(layer.rglob("*.so"))
    assert compiled, "expected at least one compiled extension (wrapt)"
    for extension in compiled:
        assert "cpython-313-aarch64-linux-gnu" in extension.name, extension.name
        assert extension.read_bytes()[18] == 0xB7  # ELF e_machine = EM_AARCH64

    built = yaml.safe_load((build_dir / "template.yaml").read_text().replace("!", ""))
    functions = [name for name, r in built["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    for name in functions:
        assert (build_dir / name / "app.py").is_file(), name
        assert not list((build_dir / name).rglob("__pycache__")), f"{name} ships bytecode caches"
