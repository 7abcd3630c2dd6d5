"""template.yaml's optional EMR Serverless application: off by default, refused without its buckets, a job
role that reads only the data bucket and writes only the results prefix."""

from __future__ import annotations

from tests.cfn import evaluate, failed_rules, function_environment, load_template, parameter_values

BASE = {"MicrosoftAppId": "6f1c0e2a-1111-4000-8000-000000000abc", "MicrosoftAppPassword": "secret"}


def test_emr_is_off_by_default_and_needs_both_buckets() -> None:
    template = load_template()
    values = parameter_values(template, BASE)
    assert evaluate(template["Conditions"]["EmrOn"], values, template["Conditions"]) is False
    assert function_environment(template, values, "AnalyticsWorkerFunction")["EMR_APPLICATION_ID"] == ""
    on = parameter_values(template, {**BASE, "EnableEmrServerless": "true"})  # fmt: skip
    assert any("EnableEmrServerless needs DataBucket" in text for text in failed_rules(template, on))
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/emr:1"
    both = parameter_values(template, {**BASE, "EnableEmrServerless": "true", "DataBucket": "events",
                                       "EmrArtifactsBucket": "artifacts", "EmrImageUri": image})  # fmt: skip
    assert not [text for text in failed_rules(template, both) if "Emr" in text]
    assert evaluate(template["Conditions"]["EmrOn"], both, template["Conditions"]) is True


def test_the_job_role_reads_the_data_bucket_and_writes_only_the_results_prefix() -> None:
    role = load_template()["Resources"]["EmrJobRole"]
    assert role["Condition"] == "EmrOn"
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    writes = [s for s in statements if any(a in {"s3:PutObject", "s3:DeleteObject"} for a in _list(s["Action"]))]
    assert [s["Resource"] for s in writes] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${EmrArtifactsBucket}/emr-results/*"}
    ]
    every = {a for s in statements for a in _list(s["Action"])}
    assert every == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"}
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Resource"]).replace("/*", "") for s in statements)


def _list(value: object) -> list[str]:
    return value if isinstance(value, list) else [value]  # type: ignore[return-value]


def test_emr_artifacts_builds_the_job_and_uploads_it_where_the_role_reads(tmp_path, monkeypatch) -> None:
    import zipfile

    import boto3

    from infra import emr_artifacts
    from tests.aws import aws_environment, moto_server

    paths = emr_artifacts.build(tmp_path)
    with zipfile.ZipFile(paths[1]) as zipped:
        names = set(zipped.namelist())
    assert {"services/analytics/spark_engine.py", "services/analytics/summaries.py"} <= names
    assert not any("__pycache__" in name for name in names)
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket="artifacts")
        assert emr_artifacts.upload(paths, "artifacts") == [
            "s3://artifacts/emr/spark_job.py",
            "s3://artifacts/emr/gateway.zip",
        ]  # EMR_JOB_URI and EMR_CODE_URI of template.yaml


def test_the_memory_cap_leaves_room_for_executors_beside_the_driver() -> None:
    # sparkb25: the cap was 1 GB per vCPU (16 GB at the default 16 vCPU), the default driver's size alone, so a
    # job got no executor. EMR Serverless' default workers take 4 vCPU and 16 GB.
    template = load_template()
    capacity = template["Resources"]["EmrApplication"]["Properties"]["MaximumCapacity"]
    parameter = template["Parameters"]["EmrMaximumVcpu"]
    for vcpu in (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]):
        cpu = capacity["Cpu"]["Fn::Sub"].replace("${EmrMaximumVcpu}", str(vcpu))
        memory = capacity["Memory"]["Fn::Sub"].replace("${EmrMaximumVcpu}", str(vcpu))
        assert cpu == f"{vcpu} vCPU" and memory.endswith(" GB")
        assert int(memory.removesuffix(" GB")) >= 4 * vcpu  # every vCPU of the cap usable by a default worker
