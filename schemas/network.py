"""The local API's view of the network: peers, summaries, federation status."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.fields import PeriodString


class PeerRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.Url(
        required=True,
        require_tld=False,
        schemes={"http", "https"},
        metadata={"example": "https://monitor.padova.example"},
    )
    themes = fields.List(
        fields.String(validate=validate.Length(1, 300)),
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=100),
        metadata={"description": "rights shared; omitted = every theme"},
    )


class PeerAnswerSchema(Schema):
    class Meta:
        unknown = RAISE

    themes = fields.List(
        fields.String(validate=validate.Length(1, 300)),
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=100),
    )


class PeerKeySchema(Schema):
    key_id = fields.String()
    state = fields.String()
    source = fields.String()
    fingerprint = fields.String()


class PeerSchema(Schema):
    city_id = fields.String()
    name = fields.String()
    base_url = fields.String()
    country = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    role = fields.String()
    state = fields.String(
        metadata={"description": "requested | pending | active | declined | ended"}
    )
    themes = fields.List(fields.String(), allow_none=True)
    requested_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    keys = fields.List(fields.Nested(PeerKeySchema))
    secretariat = fields.String(
        allow_none=True,
        metadata={
            "description": "pinned: the secretariat this node trusts; applied: membership "
            "asked, not admitted yet; null: a city (a declared role counts for nothing)"
        },
    )


class PeerDiscoverySchema(Schema):
    """A twinning request typed in by an official, checked by the discover_peers job."""

    id = fields.Integer()
    url = fields.String()
    themes = fields.List(fields.String(), allow_none=True)
    state = fields.String(
        metadata={
            "description": "queued (the job checks it within a minute) | checking | requested "
            "(discovered, "
            "key pinned, signed request sent: see city_id and keys) | failed (see reason)"
        }
    )
    reason = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    city_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    checked_at = fields.DateTime(allow_none=True)
    keys = fields.List(fields.Nested(PeerKeySchema))


class PublishSchema(Schema):
    class Meta:
        unknown = RAISE

    period = PeriodString(required=True, metadata={"example": "2025"})


class DeliverySchema(Schema):
    destination = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)


class OwnSummarySchema(Schema):
    period = fields.String()
    revision = fields.Integer()
    seq = fields.Integer()
    created_ts = fields.Integer()
    audience = fields.List(fields.String())
    superseded = fields.Boolean()
    envelope_sha256 = fields.String()
    deliveries = fields.List(fields.Nested(DeliverySchema))


class ReceivedSummarySchema(Schema):
    """A twin's summary as this node holds it (contract: ``period``, ``revision``, ``seq``,
    ``current``, ``envelope_sha256``, ``envelope``; the other members are this node's extras)."""

    period = fields.String()
    revision = fields.Integer()
    seq = fields.Integer()
    current = fields.Boolean()
    envelope_sha256 = fields.String(metadata={"description": "hex sha256 of the signed bytes"})
    envelope = fields.String(
        metadata={
            "description": "the envelope exactly as received: the stored JSON text, as a string "
            "(pushed: the request body byte for byte; pulled: the outbox item as it was parsed "
            "and re-serialised compactly). Parse it to read it; hash its signed part or verify "
            "its signatures to check it (docs/protocol.md §7.4)."
        }
    )
    received_at = fields.DateTime(metadata={"description": "when this node accepted it (UTC)"})
    via = fields.String(metadata={"description": "push | pull: how it arrived"})
    verified = fields.Boolean(
        metadata={
            "description": "whether its origin's signature verifies NOW with the keys this node "
            "trusts for the twin (false after the signing key was revoked)"
        }
    )


class PeerStatusSchema(Schema):
    city_id = fields.String()
    state = fields.String()
    last_success_at = fields.DateTime(allow_none=True)
    failures = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    queue_length = fields.Integer()
    dead_letters = fields.Integer()
    unavailable = fields.Boolean()
    last_error = fields.String(allow_none=True)


class FederationStatusSchema(Schema):
    city_id = fields.String()
    key_id = fields.String()
    items = fields.List(fields.Nested(PeerStatusSchema))
    dead_letters = fields.List(fields.Nested(DeliverySchema))


class ComparisonQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    period = PeriodString()


class ComparisonRowSchema(Schema):
    indicator = fields.String()
    name = fields.String()
    unit = fields.String(allow_none=True)
    direction = fields.String(allow_none=True)
    period = fields.String()
    disaggregation = fields.Dict(keys=fields.String(), values=fields.String())
    ours = fields.Raw(metadata={"oneOf": [{"type": "string"}, {"type": "boolean"}]})
    theirs = fields.Raw(metadata={"oneOf": [{"type": "string"}, {"type": "boolean"}]})
    their_revision = fields.Integer()


class MemberActionSchema(Schema):
    class Meta:
        unknown = RAISE

    region = fields.String(validate=validate.Length(1, 100), allow_none=True, load_default=None)


class RekeySchema(Schema):
    class Meta:
        unknown = RAISE

    key = fields.String(
        required=True,
        validate=validate.Length(40, 50),
        metadata={
            "description": "the member's new Ed25519 public key, unpadded "
            "base64 (checked with the city out of band)"
        },
    )


class ReleasePublishSchema(Schema):
    class Meta:
        unknown = RAISE

    document = fields.Dict(
        required=True, metadata={"description": "catalogue in the seed catalogue's format"}
    )
    notes = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=5000))


class ReleaseChangesSchema(Schema):
    added = fields.List(fields.String())
    removed = fields.List(fields.String())
    changed = fields.List(fields.String())


class ReleaseSchema(Schema):
    version = fields.String()
    published_at = fields.DateTime()
    adopted_at = fields.DateTime(allow_none=True)
    indicators = fields.Integer()
    changes = fields.Nested(ReleaseChangesSchema, allow_none=True)


class BenchmarkQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    indicator = fields.String(validate=validate.Length(1, 64))
    period = PeriodString()


class BenchmarkViewSchema(Schema):
    indicator = fields.String()
    period = fields.String()
    scope = fields.String()
    direction = fields.String()
    n = fields.Integer()
    stats = fields.Dict(keys=fields.String(), values=fields.String())
    distribution = fields.List(fields.String())
    previous_median = fields.String(allow_none=True)
    sources = fields.List(fields.String())
    position = fields.Dict(allow_none=True)


class DirectoryMemberViewSchema(Schema):
    city_id = fields.String()
    name = fields.String()
    region = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    base_url = fields.String()
    state = fields.String()
    keys = fields.List(fields.Dict())


class KeyEntrySchema(Schema):
    key_id = fields.String()
    key = fields.String(metadata={"description": "base64url public key, unpadded"})
    fingerprint = fields.String(metadata={"description": "sha256, groups of 4 hex characters"})


class KeyChangeSchema(Schema):
    """A twin's key that the secretariat's directory replaced, awaiting an official."""

    id = fields.Integer()
    city_id = fields.String()
    old_keys = fields.List(fields.Nested(KeyEntrySchema))
    new_keys = fields.List(fields.Nested(KeyEntrySchema))
    directory_origin = fields.String()
    directory_seq = fields.Integer()
    state = fields.String(metadata={"description": "pending | confirmed | rejected | superseded"})
    recorded_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)


class SecretariatAnchorSchema(Schema):
    """The secretariat this node trusts (pinned at membership or by an operator)."""

    city_id = fields.String()
    base_url = fields.String()
    key_id = fields.String()
    fingerprint = fields.String()
    state = fields.String(metadata={"description": "applied | pinned"})
    how = fields.String(metadata={"description": "membership | operator"})
    by = fields.String(allow_none=True)
    applied_at = fields.DateTime(allow_none=True)
    pinned_at = fields.DateTime(allow_none=True)


class TrustSchema(Schema):
    secretariat = fields.Nested(SecretariatAnchorSchema, allow_none=True)
