"""The moto server with IAM enforcement that checks what AWS checks, for the least-privilege test.

moto can enforce IAM (`POST /moto-api/reset-auth` with `0` switches it on: every request is then
signature-checked and its action checked against the caller's policies), but on its own it is
more permissive and less precise than AWS in the ways that matter for scoped policies:

- it checks DynamoDB, SNS and Lambda calls against the resource `*`, so a statement scoped to a
  table, topic or function never matches; here each call is checked against the ARN of what it
  touches (the table of every item of a transaction, the topic, the function and qualifier);
- it names the actions after the API operations; AWS names some differently: `Invoke` is
  `lambda:InvokeFunction`, and a `TransactWriteItems` needs `PutItem`, `UpdateItem`,
  `DeleteItem` or `ConditionCheckItem` on each item's table, as AWS documents;
- it ignores `StringLike` conditions (and checks no request values outside trust policies), so
  an `s3:ListBucket` limited by `s3:prefix` allows any prefix; here the request's `prefix` is the
  `s3:prefix` value and `StringLike` / `StringEquals` are evaluated, an absent key not matching;
- an `Allow` whose condition does not hold denies in moto; in AWS it only does not allow;
- its denial is an XML `AccessDenied` for every service; here DynamoDB and Lambda answer JSON
  `AccessDeniedException` and SNS `AuthorizationError`, naming the action and resource, as AWS.

moto also recomputes a form-encoded request's signature from the parsed form, which does not
give back the bytes the client signed (the Rust SDK percent-encodes more characters than Python
does), and an empty body from the query string, so an SNS `Publish` with a backtick in its
message and a Lambda `Invoke` without a payload failed the check; here the request's raw body
is what the signature is checked against.

Everything else (signature checks, the caller's identity from its access key, an assumed role's
policies, explicit denies) is moto's own. Run as `python moto_iam.py -H HOST -p PORT`, like
`moto_server`.
"""

import io
import re
import sys
import threading
from urllib.parse import unquote, urlparse

from botocore.awsrequest import AWSRequest
from moto import settings
from moto.awslambda.responses import LambdaResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from werkzeug.exceptions import HTTPException
from xml.sax.saxutils import escape
from moto.dynamodb.responses import DynamoHandler
from moto.iam import access_control
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto import server
from moto.sns.responses import SNSResponse

TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _table_arn(handler, name):
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{name}"


def _checks(handler, action, resource):
    """The (action, resource) pairs AWS authorises for this request."""
    if isinstance(handler, DynamoHandler):
        body = handler.body if isinstance(handler.body, dict) else {}
        if action in ("TransactWriteItems", "TransactGetItems"):
            pairs = []
            for item in body.get("TransactItems", []):
                for kind, spec in item.items():
                    pairs.append(
                        (TRANSACT_ITEM_ACTIONS[kind], _table_arn(handler, spec["TableName"]))
                    )
            return pairs
        if action in ("BatchWriteItem", "BatchGetItem"):
            return [(action, _table_arn(handler, t)) for t in body.get("RequestItems", {})]
        if "TableName" in body:
            return [(action, _table_arn(handler, body["TableName"]))]
        return [(action, resource)]
    if isinstance(handler, SNSResponse):
        arn = handler._get_param("TopicArn") or handler._get_param("TargetArn")
        return [(action, arn or resource)]
    if isinstance(handler, LambdaResponse):
        m = re.search(r"/functions/([^/]+)", urlparse(handler.uri).path)
        if not m:
            return [(action, resource)]
        name = unquote(m.group(1))
        qualifier = handler.querystring.get("Qualifier", [None])[0]
        if not name.startswith("arn:"):
            name = f"arn:aws:lambda:{handler.region}:{handler.current_account}:function:{name}"
        if qualifier:
            name = f"{name}:{qualifier}"
        iam_action = "InvokeFunction" if action == "Invoke" else action
        return [(iam_action, name)]
    return [(action, resource)]


def _context(handler, action):
    """The request's condition keys that the stack's policies use."""
    if action == "ListBucket":
        prefix = handler.querystring.get("prefix")
        if prefix is not None:
            return {"s3:prefix": prefix[0]}
    return {}


class QueryError(HTTPException):
    """An error of a query-protocol service (SNS) shaped as AWS sends it: `ErrorResponse` /
    `Error` / `Code`, without moto's extra `Errors` level that the Rust SDK does not read."""

    code = 403

    def __init__(self, error_code, message):
        super().__init__()
        self.description = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
            f"<Type>Sender</Type><Code>{error_code}</Code><Message>{escape(message)}</Message>"
            "</Error><RequestId>moto-iam</RequestId></ErrorResponse>"
        )


RAW = threading.local()


def _keeping_raw_bodies(app):
    """WSGI middleware: the request's body as sent, for the signature check (one request per
    thread in moto's threaded server)."""

    def wrapped(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        RAW.body = body
        return app(environ, start_response)

    return wrapped


def _create_aws_request(self):
    """The request as the client signed it: its raw body, even when empty."""
    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"])
    headers = self._create_headers_for_aws_request(signed.split(";"), self._headers)
    request = AWSRequest(method=self._method, url=self._path, data=self._body, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def _run_simple(host, port, app, *args, **kwargs):
    return RUN_SIMPLE(host, port, _keeping_raw_bodies(app), *args, **kwargs)


def _authenticate_and_authorize_action(self, iam_request_cls, resource="*"):
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    path = self.raw_path
    query = urlparse(self.uri).query
    if query:
        path += "?" + query
    signed = False
    for action, arn in _checks(self, self._get_action(), resource):
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body or getattr(RAW, "body", b""),
            headers=self.headers,
            action=action,
        )
        if not signed:
            request.check_signature()
            signed = True
        request.mlinfra_context = _context(self, action)
        request.check_action_permitted(arn)


def _check_action_permitted(self, resource):
    self.mlinfra_resource = resource
    if self._action == "sts:GetCallerIdentity":
        return
    context = getattr(self, "mlinfra_context", {})
    permitted = False
    for policy in self._access_key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(self._action, resource, None, context)
        if result == PermissionResult.DENIED:
            self._raise_access_denied()
        if result == PermissionResult.PERMITTED:
            permitted = True
    if self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


def _raise_access_denied(self):
    """The denial as the service itself words it."""
    resource = getattr(self, "mlinfra_resource", "*")
    message = (
        f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
        f" on resource: {resource}"
    )
    print(f"moto_iam: denied: {message}", file=sys.stderr, flush=True)
    if self._service == "dynamodb":
        raise JsonRESTError("com.amazonaws.dynamodb.v20120810#AccessDeniedException", message)
    if self._service == "lambda":
        denied = JsonRESTError("AccessDeniedException", message)
        denied.code = 403
        raise denied
    if self._service == "sns":
        raise QueryError("AuthorizationError", message)
    raise AccessDeniedError(user_arn=self._access_key.arn, action=self._action)


def _like(pattern, value, ignore_case=False):
    """IAM's wildcards: `*` any run of characters, `?` one; nothing else is special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches(patterns, value, ignore_case=False):
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(_like(p, value, ignore_case) for p in patterns)


OPERATORS = {
    "StringLike": _like,
    "StringEquals": lambda expected, value: expected == value,
}


def _conditions_hold(statement, context):
    for operator, keys in statement.get("Condition", {}).items():
        test = OPERATORS.get(operator)
        if test is None:
            raise ValueError(f"moto_iam.py does not evaluate the condition operator {operator}")
        for key, expected in keys.items():
            if key not in context:
                return False
            expected = expected if isinstance(expected, list) else [expected]
            if not any(test(e, context[key]) for e in expected):
                return False
    return True


def _principal_matches(expected, principal):
    """A trust policy's `Principal` against the caller's ARN: `*` or an `AWS` entry naming it or
    its account; a `Service` principal (`lambda.amazonaws.com`) is never a caller here."""
    if expected == "*":
        return True
    if not isinstance(expected, dict):
        return False
    aws = expected.get("AWS", [])
    aws = aws if isinstance(aws, list) else [aws]
    account = principal.split(":")[4] if principal.count(":") >= 5 else None
    return any(a in ("*", principal, account, f"arn:aws:iam::{account}:root") for a in aws)


def _is_action_permitted(self, action, resource="*", principal=None, incoming=None):
    s = self._statement
    if principal is not None and not _principal_matches(s.get("Principal"), principal):
        return PermissionResult.NEUTRAL
    # Action names are case-insensitive in IAM; resources are not.
    if "NotAction" in s:
        concerned = not _matches(s["NotAction"], action, ignore_case=True)
    else:
        concerned = _matches(s["Action"], action, ignore_case=True)
    if not concerned:
        return PermissionResult.NEUTRAL
    if "NotResource" in s:
        on_resource = not _matches(s["NotResource"], resource)
    else:
        # A trust policy has no `Resource`: it is about the role it belongs to.
        on_resource = _matches(s.get("Resource", "*"), resource)
    if not on_resource or not _conditions_hold(s, incoming or {}):
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if s["Effect"] == "Allow" else PermissionResult.DENIED


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
access_control.IAMRequestBase.check_action_permitted = _check_action_permitted
access_control.IAMRequest._raise_access_denied = _raise_access_denied
access_control.IAMRequestBase._create_aws_request = _create_aws_request
IAMPolicyStatement.is_action_permitted = _is_action_permitted

RUN_SIMPLE = server.run_simple
server.run_simple = _run_simple

if __name__ == "__main__":
    server.main(sys.argv[1:])
