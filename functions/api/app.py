"""api: the HTTP API behind API Gateway, through mangum."""

from mangum import Mangum

from reelmind.api.app import create_app
from reelmind.runtime import bootstrap

handler = Mangum(create_app(bootstrap()), lifespan="off")
