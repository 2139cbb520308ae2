"""`tickerstream board open` and `board publish` (in-process moto; a small CloudFormation stack stands in
for a deployed one, with the outputs and the LakeSectors parameter the real template gives it)."""

from __future__ import annotations

import json

import pytest

from tickerstream_cli.board import ASSET_CACHE, NO_CACHE, board_files, deployed_config, publish
from tickerstream_cli.config import ConfigError
from tickerstream_cli.main import main
from tickerstream_local.board import BOARD_DIR
from tickerstream_local.paths import LOCAL_STACK_ENV

OUTPUTS = {
    "BoardBucketName": "board-bucket", "BoardUrl": "https://d111111abcdef8.cloudfront.net/",
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod",
    "WebSocketUrl": "wss://def456.execute-api.eu-west-1.amazonaws.com/Prod",
    "UserPoolId": "eu-west-1_Pool", "UserClientId": "userclient",
}


def test_deployed_config_is_built_from_the_stack_outputs():
    config = deployed_config(OUTPUTS, ["ENERGY", "RETAIL"], "eu-west-1")
    assert config == {
        "api_url": OUTPUTS["ApiUrl"], "websocket_url": OUTPUTS["WebSocketUrl"], "region": "eu-west-1",
        "user_pool_id": "eu-west-1_Pool", "user_client_id": "userclient",
        "cognito_endpoint_url": "https://cognito-idp.eu-west-1.amazonaws.com/", "sectors": ["ENERGY", "RETAIL"],
    }


def test_a_stack_without_the_board_outputs_is_named():
    partial = {k: v for k, v in OUTPUTS.items() if k != "WebSocketUrl"}
    with pytest.raises(ConfigError, match="WebSocketUrl"):
        deployed_config(partial, ["ENERGY"], "eu-west-1")


def test_publish_uploads_every_file_with_its_type_and_cache_and_config_last(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="board-bucket")
    config = deployed_config(OUTPUTS, ["ENERGY"], "us-east-1")
    written = publish(s3, "board-bucket", config)
    expected = [p.relative_to(BOARD_DIR).as_posix() for p in board_files()]
    assert written == expected + ["config.json"]
    assert {"index.html", "board.js", "vendor/lightweight-charts/LICENSE", "vendor/README.md"} <= set(written)
    for key in expected:
        stored = s3.get_object(Bucket="board-bucket", Key=key)
        assert stored["Body"].read() == (BOARD_DIR / key).read_bytes(), key
        if key.endswith((".js", ".mjs")):
            assert stored["ContentType"].startswith("text/javascript"), key
        assert stored["CacheControl"] == (NO_CACHE if key.endswith(".html") else ASSET_CACHE), key
    stored = s3.get_object(Bucket="board-bucket", Key="config.json")
    assert json.loads(stored["Body"].read()) == config and stored["CacheControl"] == NO_CACHE


# CloudFormation answers a CommaDelimitedList parameter as "A,B"; moto as "['A', 'B']", so the stand-in
# declares it a String, which both answer as given.
STACK_TEMPLATE = {
    "Parameters": {"LakeSectors": {"Type": "String", "Default": "ENERGY,RETAIL"}},
    "Resources": {"BoardBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "board-bucket"}}},
    "Outputs": {key: {"Value": {"Ref": "BoardBucket"} if key == "BoardBucketName" else value}
                for key, value in OUTPUTS.items()},
}


def test_publish_to_a_deployed_stack(aws, capsys):
    aws.client("cloudformation").create_stack(StackName="tickerstream", TemplateBody=json.dumps(STACK_TEMPLATE),
                                              Parameters=[{"ParameterKey": "LakeSectors",
                                                           "ParameterValue": "HEALTHCARE,TECHNOLOGY"}])
    assert main(["board", "publish", "--stack-name", "tickerstream", "--region", "us-east-1"]) == 0
    assert "the board: https://d111111abcdef8.cloudfront.net/" in capsys.readouterr().out
    config = json.loads(aws.client("s3").get_object(Bucket="board-bucket", Key="config.json")["Body"].read())
    assert config["sectors"] == ["HEALTHCARE", "TECHNOLOGY"]  # the stack's parameter, not the default
    assert config["cognito_endpoint_url"] == "https://cognito-idp.us-east-1.amazonaws.com/"
    assert config["websocket_url"] == OUTPUTS["WebSocketUrl"]


def test_open_prints_and_opens_the_local_board(tmp_path, monkeypatch, capsys):
    local = tmp_path / "local.json"
    local.write_text(json.dumps({"board_url": "http://127.0.0.1:4321/", "api_url": "http://127.0.0.1:4321"}))
    monkeypatch.setenv(LOCAL_STACK_ENV, str(local))
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert main(["board", "open"]) == 0
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:4321/"
    assert opened == ["http://127.0.0.1:4321/"]
    assert main(["board", "open", "--no-browser"]) == 0 and opened == ["http://127.0.0.1:4321/"]


def test_open_without_a_stack_says_how_to_start_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(LOCAL_STACK_ENV, str(tmp_path / "absent.json"))
    assert main(["board", "open", "--no-browser"]) == 2
    assert "make local" in capsys.readouterr().err
