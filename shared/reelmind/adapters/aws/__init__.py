"""Adapters for AWS: S3 for blobs, DynamoDB (through PynamoDB) for results, EventBridge for events.

Only this package (and the integration tests) may import boto3, botocore or pynamodb.
"""
