"""Documents the secretariat signs for its members: the directory (``hrc.directory/1``), core
catalogue releases (``hrc.catalogue/1``) and benchmarks (``hrc.benchmark/1``)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.fields import CityId, Code, PeriodString
from schemas.keys import validate_public_key_b64

DIRECTORY_TYPE, DIRECTORY_STREAM = "hrc.directory", "directory"
CATALOGUE_TYPE, CATALOGUE_STREAM = "hrc.catalogue", "catalogue"
BENCHMARK_TYPE, BENCHMARK_STREAM = "hrc.benchmark", "benchmarks"
NETWORK_AUDIENCE = "network"


class DirectoryKeySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    key_id = fields.String(required=True, validate=validate.Length(1, 64))
    # The notary's word makes members trust a key: it must be a usable Ed25519 key, never one
    # of small order (under which anyone could sign as that member).
    key = fields.String(required=True, validate=validate_public_key_b64)
    state = fields.String(load_default="current", validate=validate.OneOf(("current", "old")))
    expired_ts = fields.Integer(strict=True, allow_none=True, load_default=None)


class DirectoryMemberSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    city_id = CityId(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    region = fields.String(allow_none=True, load_default=None)
    country = fields.String(allow_none=True, load_default=None)
    base_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    state = fields.String(required=True, validate=validate.OneOf(("active", "suspended")))
    keys = fields.List(
        fields.Nested(DirectoryKeySchema), required=True, validate=validate.Length(1, 20)
    )


class DirectoryPayloadSchema(Schema):
    """Every member, its region, base URL and keys: the notary's word, valid until a date."""

    class Meta:
        unknown = EXCLUDE

    members = fields.List(
        fields.Nested(DirectoryMemberSchema), required=True, validate=validate.Length(max=10_000)
    )
    valid_until_ts = fields.Integer(strict=True, required=True)


class CataloguePayloadSchema(Schema):
    """A core catalogue release: the catalogue document in the seed catalogue's format."""

    class Meta:
        unknown = EXCLUDE

    version = fields.String(required=True, validate=validate.Length(1, 40))
    document = fields.Dict(required=True)
    notes = fields.String(allow_none=True, load_default=None)


class BenchmarkStatsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    min = fields.String(required=True)
    q1 = fields.String(required=True)
    median = fields.String(required=True)
    q3 = fields.String(required=True)
    max = fields.String(required=True)
    mean = fields.String(required=True)


class BenchmarkPositionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    value = fields.String(required=True)
    rank = fields.Integer(strict=True, allow_none=True)
    percentile = fields.String(allow_none=True)
    quartile = fields.Integer(strict=True, allow_none=True)
    distance_to_best_quartile = fields.String(allow_none=True)
    previous_value = fields.String(allow_none=True, load_default=None)
    trend = fields.String(allow_none=True, load_default=None)


class BenchmarkGroupSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    indicator = Code(required=True)
    period = PeriodString(required=True)
    scope = fields.String(required=True, validate=validate.Length(1, 100))
    direction = fields.String(required=True)
    n = fields.Integer(strict=True, required=True)
    stats = fields.Nested(BenchmarkStatsSchema, required=True)
    distribution = fields.List(fields.String(), required=True)  # sorted, anonymous
    previous_median = fields.String(allow_none=True, load_default=None)
    sources = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")), required=True)
    position = fields.Nested(BenchmarkPositionSchema, allow_none=True, load_default=None)


class BenchmarkPayloadSchema(Schema):
    """Benchmark groups for one member: the statistics, the sources, and its own position."""

    class Meta:
        unknown = EXCLUDE

    min_cities = fields.Integer(strict=True, required=True)
    catalogue_version = fields.String(allow_none=True, load_default=None)
    groups = fields.List(
        fields.Nested(BenchmarkGroupSchema), required=True, validate=validate.Length(max=100_000)
    )
