"""Documents the secretariat signs for its members: the directory (``hrc.directory/1``), core
catalogue releases (``hrc.catalogue/1``) and benchmarks (``hrc.benchmark/1``)."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.catalogue import DIRECTIONS
from schemas.fields import CityId, Code, DecimalText, PeriodString
from schemas.keys import validate_public_key_b64

DIRECTORY_TYPE, DIRECTORY_STREAM = "hrc.directory", "directory"
CATALOGUE_TYPE, CATALOGUE_STREAM = "hrc.catalogue", "catalogue"
BENCHMARK_TYPE, BENCHMARK_STREAM = "hrc.benchmark", "benchmarks"
NETWORK_AUDIENCE = "network"
# The trends a benchmark position may carry (node.secretariat.stats.TRENDS).
TRENDS = ("improving", "worsening", "stable", "no_data")


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
    # Every statistic is drawn as a number by the benchmark page: decimal text only (no "nan",
    # "inf" or "abc" from a peer), refused at the inbox with 422 invalid_payload.
    class Meta:
        unknown = EXCLUDE

    min = DecimalText(required=True)
    q1 = DecimalText(required=True)
    median = DecimalText(required=True)
    q3 = DecimalText(required=True)
    max = DecimalText(required=True)
    mean = DecimalText(required=True)


class BenchmarkPositionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    value = DecimalText(required=True)
    rank = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1))
    percentile = DecimalText(
        allow_none=True, minimum=Decimal(0), maximum=Decimal(100), load_default=None
    )
    quartile = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 4))
    distance_to_best_quartile = DecimalText(allow_none=True, load_default=None)
    previous_value = DecimalText(allow_none=True, load_default=None)
    trend = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(TRENDS))


class BenchmarkGroupSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    indicator = Code(required=True)
    period = PeriodString(required=True)
    scope = fields.String(required=True, validate=validate.Length(1, 100))
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    n = fields.Integer(strict=True, required=True, validate=validate.Range(0, 1_000_000))
    stats = fields.Nested(BenchmarkStatsSchema, required=True)
    distribution = fields.List(  # sorted, anonymous
        DecimalText(), required=True, validate=validate.Length(max=100_000)
    )
    previous_median = DecimalText(allow_none=True, load_default=None)
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
