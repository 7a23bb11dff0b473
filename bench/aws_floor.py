"""The floor for provisioning time: a straight-line boto3 script creating the same resources as
`mlinfra up` of stacks/heart-disease.yaml (no reads, no plan, no state), against an endpoint.

    python bench/aws_floor.py ENDPOINT ARTIFACTS_DIR
"""
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint, artifacts = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **kw)
ddb, iam, lam = boto3.client("dynamodb", **kw), boto3.client("iam", **kw), boto3.client("lambda", **kw)
ev, apigw = boto3.client("events", **kw), boto3.client("apigateway", **kw)
sns, cw = boto3.client("sns", **kw), boto3.client("cloudwatch", **kw)
acct, region, stack, bucket = "123456789012", "us-east-1", "heart-disease", "mlinfra-heart-disease-floor"

t0 = time.perf_counter()
s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
    "ID": "expire", "Filter": {"Prefix": "predictions/"}, "Status": "Enabled",
    "Expiration": {"Days": 90}, "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]})
ddb.create_table(TableName=f"{stack}-floor-registry", BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"}])
ddb.update_continuous_backups(TableName=f"{stack}-floor-registry",
                              PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
memory = {"etl": 512, "train": 2048, "predict": 256, "monitor": 512}
timeout = {"etl": 120, "train": 900, "predict": 10, "monitor": 300}
for f in memory:
    role = f"{stack}-floor-{f}-role"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                "Resource": [f"arn:aws:s3:::{bucket}/raw/*"]}]}))
for f in memory:
    name = f"{stack}-floor-{f}"
    with open(f"{artifacts}/{f}/bootstrap.zip", "rb") as z:
        lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap",
                            Role=f"arn:aws:iam::{acct}:role/{stack}-floor-{f}-role",
                            Code={"ZipFile": z.read()}, MemorySize=memory[f], Timeout=timeout[f],
                            Environment={"Variables": {"MLINFRA_FUNCTION": f}})
    v = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
alias = lambda f: f"arn:aws:lambda:{region}:{acct}:function:{stack}-floor-{f}:live"
lam.add_permission(FunctionName=f"{stack}-floor-etl", Qualifier="live", StatementId="s3",
                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                   SourceArn=f"arn:aws:s3:::{bucket}")
s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
    "LambdaFunctionConfigurations": [{"Id": "raw", "LambdaFunctionArn": alias("etl"),
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}}}]})
for rule, expr, f in [("retrain", "cron(0 3 ? * MON *)", "train"), ("monitor", "rate(1 day)", "monitor")]:
    arn = ev.put_rule(Name=f"{stack}-floor-{rule}", ScheduleExpression=expr, State="ENABLED")["RuleArn"]
    lam.add_permission(FunctionName=f"{stack}-floor-{f}", Qualifier="live", StatementId=rule,
                       Action="lambda:InvokeFunction", Principal="events.amazonaws.com", SourceArn=arn)
    ev.put_targets(Rule=f"{stack}-floor-{rule}", Targets=[{"Id": "f", "Arn": alias(f)}])
api = apigw.create_rest_api(name=f"{stack}-floor-api", endpointConfiguration={"types": ["REGIONAL"]})["id"]
root = apigw.get_resources(restApiId=api)["items"][0]["id"]
uri = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{alias('predict')}/invocations"
for method, path in [("POST", "predict"), ("POST", "feedback"), ("GET", "health")]:
    rid = apigw.create_resource(restApiId=api, parentId=root, pathPart=path)["id"]
    apigw.put_method(restApiId=api, resourceId=rid, httpMethod=method, authorizationType="NONE",
                     apiKeyRequired=True)
    apigw.put_integration(restApiId=api, resourceId=rid, httpMethod=method, type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
lam.add_permission(FunctionName=f"{stack}-floor-predict", Qualifier="live", StatementId="api",
                   Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                   SourceArn=f"arn:aws:execute-api:{region}:{acct}:{api}/*")
apigw.create_deployment(restApiId=api, stageName="v1")
plan = apigw.create_usage_plan(name=f"{stack}-floor-plan", throttle={"rateLimit": 50, "burstLimit": 100},
                               quota={"limit": 100000, "period": "DAY"},
                               apiStages=[{"apiId": api, "stage": "v1"}])["id"]
key = apigw.create_api_key(name=f"{stack}-floor-key", enabled=True)["id"]
apigw.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
topic = sns.create_topic(Name=f"{stack}-floor-alerts", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://hooks.example.com/mlinfra/on-call")
for name, metric, op, th in [("drift", "DatasetDriftShare", "GreaterThanThreshold", 0.5),
                             ("accuracy", "Accuracy", "LessThanThreshold", 0.75),
                             ("f1", "F1", "LessThanThreshold", 0.7),
                             ("latency", "LatencyP99Ms", "GreaterThanThreshold", 100),
                             ("errors", "ErrorRate", "GreaterThanThreshold", 0.01)]:
    cw.put_metric_alarm(AlarmName=f"{stack}-floor-{name}", Namespace="mlinfra", MetricName=metric,
                        Dimensions=[{"Name": "Stack", "Value": stack}], Statistic="Maximum",
                        Period=86400, EvaluationPeriods=1, Threshold=th, ComparisonOperator=op,
                        TreatMissingData="notBreaching", AlarmActions=[topic])
print(f"{time.perf_counter() - t0:.3f}")
