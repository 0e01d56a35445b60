"""Powertools idempotency records in DynamoDB: the stack's `IdempotencyTable` (key `id`, TTL on `expiration`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer


def dynamodb_persistence_layer(table: str) -> DynamoDBPersistenceLayer:
    """The layer on `table`; its client takes the endpoint and region from the environment, like every
    other client here (`AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local in the tests)."""
    return DynamoDBPersistenceLayer(table_name=table)
