"""Static checks of the AWS deployment in cloudformation/ (nothing is deployed).

The template must agree with the application's settings. The application is not imported here
(it is developed separately); its contract is restated as constants, each naming the setting in
src/anb_pipeline/settings.py it mirrors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from anb_pipeline import layout
from anb_pipeline.settings import Settings
from anb_web.settings import WebSettings

ROOT = Path(__file__).resolve().parent.parent
CFN_DIR = ROOT / "cloudformation"
TEMPLATE_PATH = CFN_DIR / "anb.yaml"
PARAMETERS_EXAMPLE = CFN_DIR / "parameters.example.json"
DEPLOY_SCRIPT = CFN_DIR / "deploy.sh"

# --- the application's contract (src/anb_pipeline/settings.py) ---------------------------------
DEFAULT_QUEUE_NAMESPACE = "anb"  # ANB_QUEUE_NAMESPACE default
MAIN_QUEUE_NAME_SUB = "${QueueNamespace}_video"  # Settings.sqs_queue_name: "<ns>_video"
DLQ_NAME_SUB = "${QueueNamespace}_video_dlq"  # Settings.sqs_dlq_name: "<ns>_video_dlq"
DEFAULT_VISIBILITY_TIMEOUT_S = 120  # ANB_VISIBILITY_TIMEOUT_S default
HEARTBEAT_FRACTION = 3  # heartbeat renews visibility every visibility_timeout_s / 3
MIN_VISIBILITY_TIMEOUT_S = 30  # a heartbeat every >= 10 s keeps SQS API calls reasonable
MAX_RECEIVES = 3  # ANB_MAX_RECEIVES default: redrive to the DLQ after 3 receives
SQS_WAIT_TIME_S = 20  # ANB_SQS_WAIT_TIME_S default (long polling)
MAIN_RETENTION_S = 4 * 24 * 3600  # 4 days (SPEC section 5)
DLQ_RETENTION_S = 14 * 24 * 3600  # 14 days (SPEC section 5)
HEALTH_LIVE_PATH = "/health/live"  # the web app's shallow health check
WEB_PORT = 8000  # anb web --port default used by the deployment
WEB_COMMAND = "anb web --host 0.0.0.0 --port ${WebPort} --workers 2"
WORKER_COMMAND = "anb worker"
REQUIRED_ENV = {
    "ANB_DATABASE_URL": "$DATABASE_URL",  # built from the secret, see below
    "ANB_JWT_SECRET": "$JWT_SECRET",
    "ANB_BROKER_URL": "sqs://",
    "ANB_AWS_REGION": "${AWS::Region}",
    "ANB_QUEUE_NAMESPACE": "${QueueNamespace}",
    "ANB_STORAGE_URL": "s3://${MediaBucket}/",
    "ANB_VISIBILITY_TIMEOUT_S": "${VisibilityTimeoutSeconds}",
}
REQUIRED_OUTPUTS = {"LoadBalancerDNS", "RDSEndpoint", "S3BucketName", "SQSQueueURL", "SQSDLQURL"}
CLI_TEMPLATE_BODY_LIMIT = 51_200  # bytes accepted by create-stack --template-body


# --- loading CloudFormation YAML ---------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Ref, !Sub, ...) into their long form."""


def _construct_intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    with TEMPLATE_PATH.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=CfnLoader)  # a SafeLoader subclass


def resources_of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_name}


def only_resource(template: dict[str, Any], type_name: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(template, type_name)
    assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
    return next(iter(found.items()))


def queue_named(template: dict[str, Any], name_sub: str) -> tuple[str, dict[str, Any]]:
    for name, res in resources_of_type(template, "AWS::SQS::Queue").items():
        if res["Properties"].get("QueueName") == {"Fn::Sub": name_sub}:
            return name, res["Properties"]
    raise AssertionError(f"no AWS::SQS::Queue named !Sub {name_sub!r}")


def user_data(template: dict[str, Any], launch_template: str) -> str:
    data = template["Resources"][launch_template]["Properties"]["LaunchTemplateData"]
    sub = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


def launch_template_of(template: dict[str, Any], asg: dict[str, Any]) -> str:
    return asg["Properties"]["LaunchTemplate"]["LaunchTemplateId"]["Ref"]


def asg_named(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    res = template["Resources"][logical_id]
    assert res["Type"] == "AWS::AutoScaling::AutoScalingGroup"
    return res


def walk(node: Any, path: str = ""):
    """Yield (path, key, value) for every mapping entry and list item in the template."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path, str(index), value
            yield from walk(value, f"{path}/{index}")


def refs(value: Any) -> set[str]:
    """Logical ids a value points at through Ref or GetAtt."""
    found: set[str] = set()
    for _, key, item in walk({"v": value}):
        if key == "Ref" and isinstance(item, str):
            found.add(item)
        if key == "Fn::GetAtt" and isinstance(item, list):
            found.add(item[0])
    return found


# --- queues --------------------------------------------------------------------------------------
def test_queue_namespace_parameter_default(template):
    assert template["Parameters"]["QueueNamespace"]["Default"] == DEFAULT_QUEUE_NAMESPACE


def test_main_queue_attributes(template):
    _, props = queue_named(template, MAIN_QUEUE_NAME_SUB)
    assert props["ReceiveMessageWaitTimeSeconds"] == SQS_WAIT_TIME_S
    assert props["MessageRetentionPeriod"] == MAIN_RETENTION_S


def test_dlq_attributes(template):
    _, props = queue_named(template, DLQ_NAME_SUB)
    assert props["MessageRetentionPeriod"] == DLQ_RETENTION_S
    assert "RedrivePolicy" not in props


def test_redrive_policy_targets_the_dlq(template):
    dlq_id, _ = queue_named(template, DLQ_NAME_SUB)
    _, props = queue_named(template, MAIN_QUEUE_NAME_SUB)
    policy = props["RedrivePolicy"]
    assert int(policy["maxReceiveCount"]) == MAX_RECEIVES
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_visibility_timeout_comes_from_one_parameter(template):
    param = template["Parameters"]["VisibilityTimeoutSeconds"]
    assert param["Type"] == "Number"
    assert param["Default"] == DEFAULT_VISIBILITY_TIMEOUT_S
    assert param["Default"] >= MIN_VISIBILITY_TIMEOUT_S
    assert param["MinValue"] >= MIN_VISIBILITY_TIMEOUT_S
    # The heartbeat fires every third of the timeout: it must be a whole number of seconds apart.
    assert param["Default"] / HEARTBEAT_FRACTION >= 10

    _, props = queue_named(template, MAIN_QUEUE_NAME_SUB)
    assert props["VisibilityTimeout"] == {"Ref": "VisibilityTimeoutSeconds"}
    for lt in resources_of_type(template, "AWS::EC2::LaunchTemplate"):
        assert "ANB_VISIBILITY_TIMEOUT_S=${VisibilityTimeoutSeconds}\n" in user_data(
            template, lt
        ), f"{lt} must pass the queue's visibility timeout to the app"


def test_dlq_alarm(template):
    dlq_id, _ = queue_named(template, DLQ_NAME_SUB)
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    on_dlq = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    ]
    assert len(on_dlq) == 1, "expected exactly one alarm on the DLQ"
    alarm = on_dlq[0]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    topic_id, _ = only_resource(template, "AWS::SNS::Topic")
    assert {"Ref": topic_id} in alarm["AlarmActions"]


def test_alarm_email_subscription_is_optional(template):
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    _, sub = only_resource(template, "AWS::SNS::Subscription")
    condition = template["Conditions"][sub["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


# --- worker scaling ------------------------------------------------------------------------------
def worker_policy(template):
    policies = [
        p["Properties"]
        for p in resources_of_type(template, "AWS::AutoScaling::ScalingPolicy").values()
        if "CustomizedMetricSpecification" in p["Properties"].get("TargetTrackingConfiguration", {})
    ]
    assert len(policies) == 1
    return policies[0]


def test_worker_scales_on_backlog_per_instance(template):
    policy = worker_policy(template)
    assert policy["PolicyType"] == "TargetTrackingScaling"
    worker_asg_id = policy["AutoScalingGroupName"]["Ref"]
    main_queue_id, _ = queue_named(template, MAIN_QUEUE_NAME_SUB)

    config = policy["TargetTrackingConfiguration"]
    assert config["TargetValue"] == {"Ref": "BacklogPerInstanceTarget"}
    queries = {q["Id"]: q for q in config["CustomizedMetricSpecification"]["Metrics"]}

    m1 = queries["m1"]["MetricStat"]["Metric"]
    assert (m1["Namespace"], m1["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert m1["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [main_queue_id, "QueueName"]}}
    ]
    m2 = queries["m2"]["MetricStat"]["Metric"]
    assert (m2["Namespace"], m2["MetricName"]) == ("AWS/AutoScaling", "GroupInServiceInstances")
    assert m2["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": {"Ref": worker_asg_id}}]

    expressions = [q for q in queries.values() if "Expression" in q]
    assert len(expressions) == 1
    expression = expressions[0]["Expression"].replace(" ", "")
    assert "m1/m2" in expression
    # Only the expression is returned: target tracking needs exactly one time series.
    assert [q["Id"] for q in queries.values() if q.get("ReturnData", True)] == [
        expressions[0]["Id"]
    ]


def test_backlog_target_parameter(template):
    param = template["Parameters"]["BacklogPerInstanceTarget"]
    assert param["Type"] == "Number"
    assert float(param["Default"]) > 0


def test_worker_asg_collects_in_service_metric(template):
    asg = asg_named(template, worker_policy(template)["AutoScalingGroupName"]["Ref"])
    metrics = {m for c in asg["Properties"]["MetricsCollection"] for m in c.get("Metrics", [])}
    assert "GroupInServiceInstances" in metrics
    assert (asg["Properties"]["MinSize"], asg["Properties"]["MaxSize"]) == ("1", "3")


def lifecycle_hooks(template, asg_id):
    hooks = list(
        asg_named(template, asg_id)["Properties"].get("LifecycleHookSpecificationList", [])
    )
    for res in resources_of_type(template, "AWS::AutoScaling::LifecycleHook").values():
        if res["Properties"]["AutoScalingGroupName"] == {"Ref": asg_id}:
            hooks.append(res["Properties"])
    return hooks


def test_worker_termination_lifecycle_hook_and_drain(template):
    asg_id = worker_policy(template)["AutoScalingGroupName"]["Ref"]
    hooks = [
        h
        for h in lifecycle_hooks(template, asg_id)
        if h["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook["DefaultResult"] == "CONTINUE"
    assert hook["HeartbeatTimeout"] == {"Ref": "WorkerDrainTimeoutSeconds"}
    assert template["Parameters"]["WorkerDrainTimeoutSeconds"]["Default"] >= 600

    script = user_data(template, launch_template_of(template, asg_named(template, asg_id)))
    # The drain agent stops the worker gracefully, then completes the hook by its name.
    assert "systemctl stop anb-worker.service" in script
    assert "complete-lifecycle-action" in script
    assert f"--lifecycle-hook-name {hook['LifecycleHookName']}" in script
    assert "--lifecycle-action-result CONTINUE" in script
    # The worker drains as long as the hook waits; systemd kills only 30 s after Dramatiq
    # gave in-flight work back, and signals only the main worker process.
    assert "ANB_WORKER_DRAIN_S=${WorkerDrainTimeoutSeconds}\n" in script
    assert "TimeoutStopSec=${WorkerDrainTimeoutSeconds}s 30s\n" in script
    assert template["Parameters"]["WorkerDrainTimeoutSeconds"]["Default"] == Settings().worker_drain_s
    assert Settings().worker_drain_s > Settings().ffmpeg_timeout_s, "one ffmpeg call fits the drain"
    assert "KillSignal=SIGTERM" in script
    assert "KillMode=mixed" in script
    assert script.index("systemctl stop anb-worker") < script.index("complete-lifecycle-action")


def test_web_asg_cpu_target_tracking(template):
    web = [
        (name, res)
        for name, res in resources_of_type(template, "AWS::AutoScaling::AutoScalingGroup").items()
        if res["Properties"].get("TargetGroupARNs")
    ]
    assert len(web) == 1
    web_id, web_asg = web[0]
    assert (web_asg["Properties"]["MinSize"], web_asg["Properties"]["MaxSize"]) == ("1", "3")
    assert web_asg["Properties"]["HealthCheckType"] == "ELB"
    policies = [
        p["Properties"]
        for p in resources_of_type(template, "AWS::AutoScaling::ScalingPolicy").values()
        if p["Properties"]["AutoScalingGroupName"] == {"Ref": web_id}
    ]
    assert len(policies) == 1
    spec = policies[0]["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
    assert spec["PredefinedMetricType"] == "ASGAverageCPUUtilization"


def test_instance_types_and_profile(template):
    params = template["Parameters"]
    assert params["WebInstanceType"]["Default"] == "t3.small"
    assert params["WorkerInstanceType"]["Default"] == "t3.small"
    assert params["InstanceProfileName"]["Default"] == "LabInstanceProfile"
    for res in resources_of_type(template, "AWS::EC2::LaunchTemplate").values():
        data = res["Properties"]["LaunchTemplateData"]
        assert data["IamInstanceProfile"] == {"Name": {"Ref": "InstanceProfileName"}}
        assert data["MetadataOptions"]["HttpTokens"] == "required"


# --- load balancer -------------------------------------------------------------------------------
def test_target_group_health_check(template):
    _, tg = only_resource(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert tg["Properties"]["HealthCheckPath"] == HEALTH_LIVE_PATH
    assert tg["Properties"]["Port"] == {"Ref": "WebPort"}
    assert template["Parameters"]["WebPort"]["Default"] == WEB_PORT
    _, listener = only_resource(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert listener["Properties"]["Port"] == 80


def test_network_spans_two_azs(template):
    _, vpc = only_resource(template, "AWS::EC2::VPC")
    assert vpc["Properties"]["CidrBlock"] == "10.0.0.0/16"
    subnets = resources_of_type(template, "AWS::EC2::Subnet").values()
    public = [s["Properties"] for s in subnets if s["Properties"].get("MapPublicIpOnLaunch")]
    assert len(public) == 2
    azs = [s["AvailabilityZone"] for s in public]
    assert all(az["Fn::Select"][1] == {"Fn::GetAZs": ""} for az in azs)
    assert {az["Fn::Select"][0] for az in azs} == {0, 1}


# --- storage -------------------------------------------------------------------------------------
def test_bucket_is_private_and_encrypted(template):
    _, bucket = only_resource(template, "AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_bucket_lifecycle(template):
    _, bucket = only_resource(template, "AWS::S3::Bucket")
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    work = [
        r
        for r in rules
        if r.get("Prefix") == "work/" or r.get("Filter", {}).get("Prefix") == "work/"
    ]
    assert len(work) == 1 and work[0]["Status"] == "Enabled"
    assert work[0]["ExpirationInDays"] <= 2
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)


def test_bucket_lifecycle_is_the_safety_net_behind_the_resumable_upload_sweep(template):
    """Parts and tails of a resumable upload outlive its expiry only when the sweep failed;
    the rules must never remove them while the upload may still finish."""
    _, bucket = only_resource(template, "AWS::S3::Bucket")
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    expiry_s = WebSettings(pipeline=Settings(), jwt_secret="x").upload_expiry_s
    assert "ANB_UPLOAD_EXPIRY_S" not in json.dumps(template), "then compare with that value"
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert len(aborts) == 1 and aborts[0]["Status"] == "Enabled"
    assert "Prefix" not in aborts[0] and "Filter" not in aborts[0], "every multipart upload"
    assert aborts[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] * 86400 > expiry_s
    prefix = f"{layout.UPLOADS_PREFIX}/"
    tails = [r for r in rules if r.get("Prefix") == prefix
             or r.get("Filter", {}).get("Prefix") == prefix]
    assert len(tails) == 1 and tails[0]["Status"] == "Enabled"
    assert tails[0]["ExpirationInDays"] * 86400 > expiry_s


# --- database ------------------------------------------------------------------------------------
def test_rds_is_private(template):
    _, db = only_resource(template, "AWS::RDS::DBInstance")
    props = db["Properties"]
    assert props["Engine"] == "postgres"
    assert props["PubliclyAccessible"] is False
    assert props["DBInstanceClass"] == {"Ref": "DBInstanceClass"}
    assert template["Parameters"]["DBInstanceClass"]["Default"] == "db.t3.micro"
    assert str(props["AllocatedStorage"]) == "20" and props["StorageType"] == "gp3"
    subnet_group = template["Resources"][props["DBSubnetGroupName"]["Ref"]]
    assert len(subnet_group["Properties"]["SubnetIds"]) == 2


def test_rds_security_group_admits_only_web_and_workers(template):
    _, db = only_resource(template, "AWS::RDS::DBInstance")
    (sg_ref,) = db["Properties"]["VPCSecurityGroups"]
    sg_id = sg_ref["Ref"]
    ingress = list(template["Resources"][sg_id]["Properties"].get("SecurityGroupIngress", []))
    for res in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values():
        if res["Properties"].get("GroupId") == {"Ref": sg_id}:
            ingress.append(res["Properties"])

    launch_sgs = set()
    for res in resources_of_type(template, "AWS::EC2::LaunchTemplate").values():
        for ref in res["Properties"]["LaunchTemplateData"]["SecurityGroupIds"]:
            launch_sgs.add(ref["Ref"])
    assert len(launch_sgs) == 2, "web and worker launch templates use their own groups"

    sources = set()
    for rule in ingress:
        assert not any(k in rule for k in ("CidrIp", "CidrIpv6", "SourcePrefixListId")), rule
        assert (rule["FromPort"], rule["ToPort"]) == (5432, 5432)
        sources.add(rule["SourceSecurityGroupId"]["Ref"])
    assert sources == launch_sgs


# --- secrets -------------------------------------------------------------------------------------
SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|api_?key|private_?key|credential)")
NOT_SECRET_KEYS = {"SecretStringTemplate", "GenerateSecretString", "GenerateStringKey"}
SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # NAME_SECRET=literal / PASSWORD=literal in scripts; "$VAR" and "$(command)" are fine.
    re.compile(r"(?i)\b\w*(password|secret|token)\w*=(?![\"']?\$)[^\s\"']{4,}"),
]
HIGH_ENTROPY = re.compile(r"(?<![\w/.-])[A-Za-z0-9+/]{32,}={0,2}(?![\w/.-])")


def test_db_password_is_a_dynamic_reference(template):
    secret_ids = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    _, db = only_resource(template, "AWS::RDS::DBInstance")
    password = db["Properties"]["MasterUserPassword"]
    assert isinstance(password, dict) and set(password) == {"Fn::Sub"}, "no literal password"
    match = re.fullmatch(
        r"\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString:password\}\}", password["Fn::Sub"]
    )
    assert match and match.group(1) in secret_ids


def test_secrets_are_generated_in_secrets_manager(template):
    secrets = resources_of_type(template, "AWS::SecretsManager::Secret")
    assert len(secrets) >= 2, "database credentials and the JWT key"
    for name, res in secrets.items():
        props = res["Properties"]
        assert "SecretString" not in props, f"{name} must be generated, not written down"
        assert "GenerateSecretString" in props
        template_json = props["GenerateSecretString"].get("SecretStringTemplate")
        if template_json:
            assert not SECRET_KEY.search(" ".join(json.loads(template_json)))
    # Both secrets are read by every instance at boot, none generated per instance.
    for lt in resources_of_type(template, "AWS::EC2::LaunchTemplate"):
        script = user_data(template, lt)
        for secret in secrets:
            assert f"--secret-id ${{{secret}}}" in script


def test_no_echo_parameters_have_no_default(template):
    for name, param in template["Parameters"].items():
        if str(param.get("NoEcho", "false")).lower() == "true":
            assert "Default" not in param, f"NoEcho parameter {name} has a default"


def test_no_string_looks_like_a_hard_coded_secret(template):
    for path, key, value in walk(template):
        if not isinstance(value, str):
            continue
        if SECRET_KEY.search(key) and key not in NOT_SECRET_KEYS:
            # A secret-named property must be resolved, not written down.
            assert "{{resolve:" in value, f"{path}/{key} is a literal"
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(value), f"{path}/{key}: {pattern.pattern}"
        for token in HIGH_ENTROPY.findall(value):
            classes = sum(bool(re.search(c, token)) for c in ("[a-z]", "[A-Z]", "[0-9]"))
            assert classes < 3, f"{path}/{key}: {token!r} looks like a key"


# --- instances -----------------------------------------------------------------------------------
def env_file_lines(script: str) -> dict[str, str]:
    block = script.split("cat > /etc/anb.env <<EOF\n", 1)[1].split("\nEOF\n", 1)[0]
    return dict(line.split("=", 1) for line in block.splitlines() if line.strip())


@pytest.mark.parametrize("role", ["Web", "Worker"])
def test_user_data_configures_the_app(template, role):
    script = user_data(template, f"{role}LaunchTemplate")
    assert "${GitRepositoryUrl}" in script and "${GitBranch}" in script
    assert "pip install /opt/anb/src" in script
    env = env_file_lines(script)
    for name, expected in REQUIRED_ENV.items():
        assert env.get(name, "").startswith(expected), f"{role}: {name}={env.get(name)!r}"
    # The URL is assembled on the instance from the secret and the RDS endpoint.
    assert re.search(
        r'"postgresql\+psycopg2://%s:%s@\$\{Database\.Endpoint\.Address\}'
        r':\$\{Database\.Endpoint\.Port\}/anb"',
        script,
    )
    assert "chmod 600 /etc/anb.env" in script
    assert "set -x" not in script.replace('"set -x"', "")
    assert "Restart=on-failure" in script


def test_web_runs_migrations_and_the_web_command(template):
    web = user_data(template, "WebLaunchTemplate")
    worker = user_data(template, "WorkerLaunchTemplate")
    assert f"ExecStart=/opt/anb/venv/bin/{WEB_COMMAND}\n" in web
    assert "anb db upgrade" in web
    assert web.index("anb db upgrade") < web.index("systemctl enable --now anb-web")
    # Migrations run on web instances only (once per boot; the command is idempotent).
    assert "anb db upgrade" not in worker
    assert re.search(r"ExecStart=/opt/anb/venv/bin/anb worker\b", worker)
    assert WORKER_COMMAND in worker


def render_sub(text: str) -> str:
    """Substitute every ${Name} of an Fn::Sub string with a dummy, as CloudFormation would."""
    text = re.sub(r"\$\{(?!!)([\w:.]+)\}", lambda m: "X" + re.sub(r"\W", "", m.group(1)), text)
    return text.replace("${!", "${")


@pytest.mark.parametrize("role", ["Web", "Worker"])
def test_user_data_is_valid_bash(template, role, tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = render_sub(user_data(template, f"{role}LaunchTemplate"))
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    result = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # The embedded drain agent is its own script: check it too.
    if "cat > /usr/local/bin/anb-drain <<'EOF'\n" in script:
        agent = script.split("cat > /usr/local/bin/anb-drain <<'EOF'\n", 1)[1].split("\nEOF\n")[0]
        path.write_text(agent)
        result = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


# --- outputs, parameters file, size, deploy script ----------------------------------------------
def test_required_outputs(template):
    assert set(template["Outputs"]) >= REQUIRED_OUTPUTS


def test_template_fits_the_cli_limit():
    assert TEMPLATE_PATH.stat().st_size < CLI_TEMPLATE_BODY_LIMIT


def test_parameters_example_matches_the_template(template):
    entries = json.loads(PARAMETERS_EXAMPLE.read_text())
    assert all(set(e) == {"ParameterKey", "ParameterValue"} for e in entries)
    keys = [e["ParameterKey"] for e in entries]
    assert len(keys) == len(set(keys))
    params = template["Parameters"]
    assert set(keys) <= set(params), set(keys) - set(params)
    required = {name for name, p in params.items() if "Default" not in p}
    assert required <= set(keys), required - set(keys)


def test_deploy_script_usage():
    text = DEPLOY_SCRIPT.read_text()
    assert "set -euo pipefail" in text
    for command in ("create-stack", "update-stack", "describe-stacks", "delete-stack", "wait"):
        assert command in text
    assert "s3 rm" in text and "--recursive" in text
    assert text.index("s3 rm") < text.index("delete-stack")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    assert subprocess.run([bash, "-n", str(DEPLOY_SCRIPT)]).returncode == 0
    for args in ([], ["bogus"], ["create", "stack", "extra"]):
        result = subprocess.run([bash, str(DEPLOY_SCRIPT), *args], capture_output=True, text=True)
        assert result.returncode != 0
        assert "usage:" in result.stderr


# --- cfn-lint ------------------------------------------------------------------------------------
def cfn_lint_command() -> list[str] | None:
    beside = Path(sys.executable).parent / "cfn-lint"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("cfn-lint")
    if found:
        return [found]
    try:
        import cfnlint.runner  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]


def test_cfn_lint_is_clean():
    command = cfn_lint_command()
    if command is None:
        if os.environ.get("ANB_REQUIRE_SERVICES") == "1":
            pytest.fail("cfn-lint is not installed and ANB_REQUIRE_SERVICES=1")
        pytest.skip("cfn-lint is not installed (pip install cfn-lint)")
    templates = sorted([*CFN_DIR.glob("*.yaml"), *CFN_DIR.glob("*.yml")])
    assert templates
    result = subprocess.run(
        [*command, *map(str, templates)], capture_output=True, text=True, cwd=ROOT
    )
    # Exit code 0: no errors (2), no warnings (4), no informational findings (8).
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
