"""A typical Python Lambda stack, for the cold-start comparison (bench/coldstart,
docs/performance.md "Cold start"): boto3, OpenAI and Twilio clients created at import,
as such functions usually do, and a handler answering an API Gateway (REST proxy) event
after what a webhook handler does first: one DynamoDB read and one SQS send."""

import os

import boto3
from openai import OpenAI
from twilio.rest import Client

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
secrets = boto3.client("secretsmanager")
openai_client = OpenAI(api_key="sk-test")
twilio_client = Client("ACtest", "test-auth-token")

TABLE = os.environ.get("COMMS_TABLE", "comms-data")
QUEUE_URL = os.environ["COMMS_SMS_QUEUE_URL"]


def handler(event, context):
    dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "coldstart"}, "sk": {"S": "coldstart"}})
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=event.get("body") or "")
    return {"statusCode": 200, "headers": {"content-type": "text/xml"}, "body": "<Response/>"}
