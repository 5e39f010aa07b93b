"""The ``hrcnet`` command line (names fixed by the design contract; see docs/cli.md)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from federation.keys import fingerprint_display
from node.config import ConfigError, NodeConfig, load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.errors import DomainError
from node.permissions import OPERATOR
from node.runtime import NodeRuntime, utcnow
from node.setup import SetupError, init_node

F = TypeVar("F", bound=Callable[..., Any])
DATA_DIR = click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))


class CliError(click.ClickException):
    """A mistake of the operator: message on stderr, exit code 1."""

    exit_code = 1


def _explain(error: DomainError) -> str:
    lines = [error.detail]
    if isinstance(error.errors, dict):
        for field, messages in list(error.errors.items())[:50]:
            lines.append(f"  {field}: {json.dumps(messages, ensure_ascii=False)}")
    elif isinstance(error.errors, list):
        for entry in error.errors[:50]:
            lines.append(f"  {json.dumps(entry, ensure_ascii=False)}")
    return "\n".join(lines)


@contextmanager
def node_session(data_dir: Path) -> Iterator[tuple[NodeConfig, Session]]:
    """Open the node in ``data_dir`` for one unit of work; errors become readable messages."""
    try:
        config = load_config(data_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield config, session
    except DomainError as exc:
        raise CliError(_explain(exc)) from exc
    finally:
        engine.dispose()


@contextmanager
def node_jobs(data_dir: Path) -> Iterator[NodeRuntime]:
    """The node in ``data_dir`` as jobs see it (they open their own sessions); errors become
    readable messages."""
    from node.jobs import node_runtime

    try:
        config = load_config(data_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    node = node_runtime(config)
    try:
        yield node
    except DomainError as exc:
        raise CliError(_explain(exc)) from exc
    finally:
        node.engine.dispose()


class _CheckedGroup(click.Group):
    """The command group, refusing arguments that hold text no database can store.

    Python decodes undecodable argument bytes to lone surrogates (``surrogateescape``), which
    would fail later, half-way through a command, when stored or encoded.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from node.input_guard import invalid_text_reason

        for argument in args:
            reason = invalid_text_reason(argument)
            if reason:
                raise CliError(f"The argument {argument!r} {reason}")
        return super().parse_args(ctx, args)


def _read_json_file(file: Path) -> Any:
    """A JSON file given on the command line, parsed with the hostile-input guards.

    Nesting beyond 64 levels (which would overflow the parser) and NUL or lone surrogates in
    strings are refused with a readable message, like bad JSON.
    """
    from node.input_guard import parse_json_text

    try:
        return parse_json_text(file.read_bytes(), what=file.name)
    except DomainError as exc:
        raise CliError(f"{file}: {_explain(exc)}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"{file} is not valid JSON: {exc}") from exc


@click.group(cls=_CheckedGroup, help="hrcnet: human rights cities monitoring node.")
@click.version_option(package_name="hrcnet")
def main() -> None:
    pass


@main.command("init")
@DATA_DIR
@click.option("--city-id", required=True, help="e.g. be-gent")
@click.option("--name", required=True, help="the city's name")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. BE")
@click.option("--region", required=True, help="network region, e.g. europe-west")
@click.option("--url", "base_url", required=True, help="public base URL of this node")
@click.option(
    "--role", type=click.Choice(["city", "secretariat"]), default="city", show_default=True
)
@click.option(
    "--catalogue",
    "catalogue_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="core catalogue JSON (default: the network's seed catalogue)",
)
def init_command(
    data_dir: Path,
    city_id: str,
    name: str,
    country: str,
    region: str,
    base_url: str,
    role: str,
    catalogue_path: Path | None,
) -> None:
    """Create a node: config, migrated database, signing key, core catalogue."""
    try:
        created = init_node(
            data_dir,
            city_id=city_id,
            name=name,
            country=country,
            region=region,
            base_url=base_url,
            role=role,
            catalogue_path=catalogue_path,
        )
    except SetupError as exc:
        raise CliError(str(exc)) from exc
    from federation.keys import load_signing_key

    key = load_signing_key(created.data_dir / "signing_key.pem")
    click.echo(f"Created {role} node '{city_id}' in {created.data_dir}")
    click.echo(f"Catalogue {created.catalogue_version}: {created.indicators} core indicators")
    click.echo(f"Signing key {created.key_id}")
    click.echo(f"Fingerprint {fingerprint_display(key.public_raw)}")


@main.command("serve")
@DATA_DIR
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=click.IntRange(1, 65535), show_default=True)
@click.option("--workers", default=2, type=click.IntRange(1, 32), show_default=True)
@click.option("--log-json", is_flag=True, help="log one JSON object per line")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug shows every routine job run",
)
def serve_command(
    data_dir: Path, host: str, port: int, workers: int, log_json: bool, log_level: str
) -> None:
    """Serve pages, API and federation with gunicorn, plus the node's one scheduler."""
    try:
        load_config(data_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    from node.ops.liveness import NodeIsLive
    from node.server import serve

    try:
        serve(
            data_dir,
            host=host,
            port=port,
            workers=workers,
            log_json=log_json,
            log_level=log_level,
        )
    except NodeIsLive as exc:
        raise CliError(str(exc)) from exc


@main.command("backup")
@DATA_DIR
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(data_dir: Path, dest: Path) -> None:
    """Copy the node (database, config, keys) into the new folder DEST, while it serves."""
    from node.ops.backup import BackupError, backup

    try:
        report = backup(data_dir, dest, now=utcnow())
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    click.echo(
        f"Backed up {data_dir} to {report.dest}: {report.database} database at migration "
        f"{report.migration}, {report.files} files, envelopes up to seq {report.seq_high_water}."
    )


@main.command("restore")
@click.argument("backup_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@DATA_DIR
@click.option(
    "--force", is_flag=True, help="restore into a non-empty DATA_DIR (its content is moved aside)"
)
def restore_command(backup_dir: Path, data_dir: Path, force: bool) -> None:
    """Make the node of BACKUP_DIR live again in DATA_DIR (empty unless --force)."""
    from node.ops.backup import BackupError, restore

    try:
        report = restore(backup_dir, data_dir, now=utcnow(), force=force)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"Restored node '{report.city_id}' into {report.data_dir} (key {report.key_id}).")
    if report.migrated_from != report.migrated_to:
        click.echo(f"Database migrated from {report.migrated_from} to {report.migrated_to}.")
    click.echo(f"New envelopes start at seq {report.seq_floor} (past anything signed since).")


@main.command("upgrade")
@DATA_DIR
@click.option(
    "--backup-to",
    type=click.Path(path_type=Path),
    help="where the backup taken first goes (default: DATA_DIR.backup-<time> beside it)",
)
def upgrade_command(data_dir: Path, backup_to: Path | None) -> None:
    """Back the node up, then migrate its database to this version (the node must be stopped)."""
    from node.ops.backup import BackupError
    from node.ops.upgrade import upgrade

    try:
        report = upgrade(data_dir, now=utcnow(), backup_dest=backup_to)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"Backup: {report.backup.dest}")
    click.echo(f"Database migrated from {report.migrated_from} to {report.migrated_to}.")


@main.command("scheduler", hidden=True)
@DATA_DIR
def scheduler_command(data_dir: Path) -> None:
    """Run the node's scheduler in the foreground (``serve`` starts exactly one)."""
    from node.jobs import run_scheduler

    run_scheduler(data_dir)


@main.group("user")
def user_group() -> None:
    """Manage users."""


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise CliError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@user_group.command("add")
@DATA_DIR
@click.option("--email", required=True)
@click.option(
    "--role",
    required=True,
    help="admin, official, data_collector, cso_partner, "
    "reviewer, viewer (secretariat on a secretariat node)",
)
def user_add(data_dir: Path, email: str, role: str) -> None:
    """Create a user; the password is read from standard input."""
    from node.services import users

    with node_session(data_dir) as (config, session):
        password = _read_password()
        user = users.create_user(
            session,
            email=email,
            password=password,
            role=role,
            now=utcnow(),
            node_role=config.role,
            city_words=(config.city_id, config.name),
        )
        click.echo(f"User {user.email} ({user.role}) created.")


@user_group.command("passwd")
@DATA_DIR
@click.option("--email", required=True)
def user_passwd(data_dir: Path, email: str) -> None:
    """Set a user's password (read from standard input); signs out all their sessions.

    Also lifts a sign-in lock on the account: the operator has just chosen who holds it.
    """
    from node.services import throttle, users

    with node_session(data_dir) as (config, session):
        user = users.find_user(session, email)
        password = _read_password()
        users.change_password(session, user, password, city_words=(config.city_id, config.name))
        throttle.clear(session, throttle.account_key(user.email))
        click.echo(f"Password of {user.email} changed; their sessions are signed out.")


@main.group("token")
def token_group() -> None:
    """Manage API tokens."""


@token_group.command("create")
@DATA_DIR
@click.option("--email", required=True)
def token_create(data_dir: Path, email: str) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from node.services import users

    with node_session(data_dir) as (_config, session):
        user = users.find_user(session, email)
        token = users.create_token(session, user, now=utcnow())
    click.echo(f"Token for {user.email} ({user.role}); keep it secret, it is shown only once:")
    click.echo(token)


@main.group("catalogue")
def catalogue_group() -> None:
    """The indicator catalogue."""


@catalogue_group.command("load")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def catalogue_load(data_dir: Path, file: Path) -> None:
    """Load or update the core catalogue (seed catalogue format)."""
    from node.services import catalogue

    document = _read_json_file(file)
    with node_session(data_dir) as (_config, session):
        report = catalogue.load_catalogue(session, document, now=utcnow())
    retired = (
        f", {len(report.indicators_retired)} retired from core (kept as local indicators, "
        f"with their results: {', '.join(report.indicators_retired)})"
        if report.indicators_retired
        else ""
    )
    click.echo(
        f"Catalogue {report.version}: {report.indicators_added} added, "
        f"{report.indicators_updated} updated{retired}."
    )


@catalogue_group.command("add")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def catalogue_add(data_dir: Path, file: Path) -> None:
    """Add local dimensions, codes and indicators from a JSON file (see docs/cli.md)."""
    from node.services import exchange

    document = _read_json_file(file)
    with node_session(data_dir) as (_config, session):
        summary = exchange.apply_catalogue_additions(session, document, now=utcnow())
    click.echo(summary)


@main.command("import")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--layout", type=click.Choice(["own", "open-sdg"]), default="own", show_default=True)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSON import profile (column → dimension mapping) for open-sdg files",
)
@click.option("--indicator", help="target indicator code for a single-indicator open-sdg file")
@click.option("--as", "as_email", help="record the figures as entered by this user")
@click.option("--reason", help="why the file changes validated or published figures")
@click.option(
    "--confirm-outliers",
    is_flag=True,
    help="keep values far from the previous period's (listed without this flag)",
)
def import_command(
    data_dir: Path,
    file: Path,
    layout: str,
    profile: Path | None,
    indicator: str | None,
    as_email: str | None,
    reason: str | None,
    confirm_outliers: bool,
) -> None:
    """Import results from a CSV or XLSX file, all-or-nothing."""
    from node.services import exchange, users

    profile_data = None
    if profile is not None:
        profile_data = _read_json_file(profile)
    with node_session(data_dir) as (_config, session):
        # Without --as the operator imports with the node's own (administrator) authority.
        user = users.find_user(session, as_email) if as_email else OPERATOR
        with file.open("rb") as upload:  # streamed: a million-row file is never read whole
            report = exchange.import_file(
                session,
                file.name,
                upload,
                layout=layout,
                profile=profile_data,
                indicator=indicator,
                user=user,
                now=utcnow(),
                reason=reason,
                confirm_outliers=confirm_outliers,
            )
    click.echo(
        f"Imported {report.imported} results from {file.name}: {report.new} new, "
        f"{report.changed} changed, {report.unchanged} unchanged "
        f"({report.skipped} rows skipped: no value, or a repeated total)."
    )
    for summary in report.affected_summaries:
        click.echo(
            f"Changed figures were in the signed summary of {summary['period']} "
            f"(revision {summary['revision']}, sha256 {summary['sha256']}); publish "
            f"{summary['period']} again to send the corrected values."
        )


@main.command("export")
@DATA_DIR
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "sdmx-json"]),
    default="csv",
    show_default=True,
)
@click.option("--indicator")
@click.option("--period")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="default: stdout")
def export_command(
    data_dir: Path, fmt: str, indicator: str | None, period: str | None, out: Path | None
) -> None:
    """Export published results as CSV, JSON or SDMX-JSON 2.1."""
    from node.services import exchange

    with node_session(data_dir) as (config, session):
        _media_type, body = exchange.export(
            session, fmt, config=config, indicator=indicator, period=period, now=utcnow()
        )
        if out is None:
            for chunk in body:
                click.echo(chunk, nl=False)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                for chunk in body:
                    handle.write(chunk)
    if out is not None:
        click.echo(f"Wrote {out}", err=True)


@main.command("sync")
@DATA_DIR
def sync_command(data_dir: Path) -> None:
    """Run the federation jobs once: check queued twinning requests and key fetches, deliver the
    outbox (ignoring backoff), pull from every twin."""
    from node.network import keyfetch, outbox, peers, pull

    with node_jobs(data_dir) as node:
        click.echo(f"discovery: {peers.run_discoveries(node)}")
        click.echo(f"keys: {keyfetch.run_key_fetches(node)}")
        if node.config.role == "secretariat":
            from node.jobs import publish_benchmarks

            click.echo(f"benchmarks: {publish_benchmarks(node)}")
        report = outbox.deliver_outbox(node, ignore_backoff=True)
        for line in report.lines():
            click.echo(f"outbox: {line}")
        for city_id, (accepted, error) in pull.pull_all(node).items():
            click.echo(f"pull {city_id}: {accepted} new" + (f" (failed: {error})" if error else ""))


@main.command("annual-report")
@DATA_DIR
@click.option(
    "--year",
    "years",
    type=click.IntRange(1900, 9999),
    multiple=True,
    help="only this year (repeat for more; default: every year with published figures)",
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    help="only this language (repeat for more; default: annual_report_languages)",
)
@click.option("--force", is_flag=True, help="print again even when the page did not change")
@click.option(
    "--budget",
    type=click.FloatRange(min=1),
    default=None,
    help="seconds after which no new print starts (the rest is left for later)",
)
@click.option(
    "--background", is_flag=True, help="at low CPU priority (nice 10), as the scheduled job runs"
)
def annual_report_command(
    data_dir: Path,
    years: tuple[int, ...],
    languages: tuple[str, ...],
    force: bool,
    budget: float | None,
    background: bool,
) -> None:
    """Print the annual report PDFs now (what the print_annual_reports job runs).

    Only the reports whose page changed since their last print are printed, one at a time,
    each within 60 s; exits 1 when one failed or another print run holds the lock.
    """  # fmt: skip
    import os
    import signal

    from node.app import create_app
    from node.i18n import SUPPORTED_LOCALES
    from node.portal import report

    unknown = [code for code in languages if code not in SUPPORTED_LOCALES]
    if unknown:
        raise CliError(
            f"Unknown language {', '.join(unknown)}: one of {', '.join(SUPPORTED_LOCALES)}."
        )

    def stopped(signum: int, _frame: object) -> None:
        # SIGTERM from the scheduler (or an operator): unwind, so the running Chromium's
        # process group is killed on the way out (node.portal.report._print).
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stopped)
    if background:
        # Printing is background work: pages and federation requests keep the CPU first
        # (Chromium inherits the priority).
        os.nice(10)
    try:
        app = create_app(data_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    try:
        run = report.print_reports(
            app,
            years=years or None,
            languages=languages or None,
            force=force,
            budget_seconds=budget,
        )
    finally:
        app.extensions["hrcnet"].engine.dispose()
    click.echo(run.line())
    if run.busy or run.failed:
        sys.exit(1)


@main.group("job")
def job_group() -> None:
    """The node's scheduled jobs (``serve`` runs them; these run one now)."""


@job_group.command("list")
def job_list() -> None:
    """Every scheduled job with its interval."""
    from node.jobs import JOBS

    for entry in sorted(JOBS.values(), key=lambda j: j.name):
        click.echo(f"{entry.name:20} every {entry.every_seconds:>4} s  {entry.description}")


@job_group.command("run")
@DATA_DIR
@click.argument("name")
def job_run(data_dir: Path, name: str) -> None:
    """Run one scheduled job once, in the foreground (cron, checks, tests)."""
    from node.jobs import JOBS, run_job_once

    if name not in JOBS:
        raise CliError(f"No job '{name}'. Jobs: {', '.join(sorted(JOBS))}.")
    with node_jobs(data_dir) as node:
        click.echo(f"{name}: {run_job_once(node, name)}")


@main.group("keys")
def keys_group() -> None:
    """This node's signing keys."""


@keys_group.command("show")
@DATA_DIR
def keys_show(data_dir: Path) -> None:
    """List our keys with their state and fingerprint."""
    from federation.keys import b64decode_unpadded
    from node.network import keyring
    from node.network.models import NodeKey

    with node_session(data_dir) as (config, session):
        keyring.register_initial_key(session, config, utcnow())
        for row in session.query(NodeKey).order_by(NodeKey.created_at):
            click.echo(
                f"{row.key_id}  {row.state:8}  "
                f"{fingerprint_display(b64decode_unpadded(row.public_b64))}"
            )


@keys_group.command("rotate")
@DATA_DIR
@click.option(
    "--overlap-days",
    default=7,
    type=click.IntRange(0, 90),
    show_default=True,
    help="days during which the old key co-signs new documents",
)
def keys_rotate(data_dir: Path, overlap_days: int) -> None:
    """Make a new signing key; the old one co-signs during the overlap, then only verifies."""
    from node.network import keyring

    with node_session(data_dir) as (config, session):
        old, new = keyring.rotate(session, config, utcnow(), overlap_days * 86_400_000)
    click.echo(f"Rotated: {old} -> {new} (old key co-signs for {overlap_days} days)")


@keys_group.command("revoke")
@DATA_DIR
@click.argument("key_id")
def keys_revoke(data_dir: Path, key_id: str) -> None:
    """Revoke an old key: peers stop trusting anything it signed."""
    from node.network import keyring

    with node_session(data_dir) as (config, session):
        keyring.revoke(session, config, key_id, utcnow())
    click.echo(f"Revoked {key_id}.")


@main.group("members")
def members_group() -> None:
    """Network members (secretariat)."""


@members_group.command("rekey")
@DATA_DIR
@click.argument("city_id")
@click.argument("key")
def members_rekey(data_dir: Path, city_id: str, key: str) -> None:
    """Lost-key recovery: vouch for a member's new public KEY (unpadded base64, checked with
    the city out of band) in a new signed directory."""
    from node.secretariat import membership

    with node_session(data_dir) as (config, session):
        peer = membership.rekey(session, config, city_id, key, user=OPERATOR, now=utcnow())
        current = [k.key_id for k in peer.keys if k.state == "current"]
    click.echo(
        f"{city_id} now has key {', '.join(current)}; the new directory goes to every member "
        "on the next sync."
    )


@main.group("secretariat")
def secretariat_group() -> None:
    """The secretariat this city trusts (its trust anchor): show, pin, unpin."""


def _echo_anchor(described: dict | None) -> None:
    if described is None:
        click.echo(
            "No secretariat is pinned: directories, catalogue releases and benchmarks are refused."
        )
        return
    click.echo(
        f"Secretariat:  {described['city_id']} ({described['state']}, by {described['how']})"
    )
    click.echo(f"Address:      {described['base_url']}")
    click.echo(f"Key:          {described['key_id']}")
    click.echo(f"Fingerprint:  {described['fingerprint']}")
    when = described["pinned_at"] or described["applied_at"]
    click.echo(f"Since:        {when:%Y-%m-%d %H:%M} UTC ({described['by'] or 'unknown'})")


@secretariat_group.command("show")
@DATA_DIR
def secretariat_show(data_dir: Path) -> None:
    """Show the pinned secretariat and its key fingerprint."""
    from node.network import trust

    with node_session(data_dir) as (_config, session):
        _echo_anchor(trust.describe(session))


@secretariat_group.command("pin")
@DATA_DIR
@click.option("--city-id", required=True, help="An active twin of this node.")
@click.option(
    "--fingerprint",
    required=True,
    help="The secretariat's key fingerprint, as read to you out of band (spaces allowed).",
)
def secretariat_pin(data_dir: Path, city_id: str, fingerprint: str) -> None:
    """Trust CITY_ID as this city's secretariat. No network call: the node must already be
    twinned with it, and FINGERPRINT must be the one of the key it holds."""
    from node.network import trust

    with node_session(data_dir) as (config, session):
        trust.pin(session, config, city_id, fingerprint, user=OPERATOR, now=utcnow())
        described = trust.describe(session)
    _echo_anchor(described)


@secretariat_group.command("unpin")
@DATA_DIR
@click.option("--city-id", required=True, help="The pinned secretariat (as a confirmation).")
def secretariat_unpin(data_dir: Path, city_id: str) -> None:
    """Stop trusting the pinned secretariat: its documents are refused from now on."""
    from node.network import trust

    with node_session(data_dir) as (_config, session):
        trust.unpin(session, city_id, user=OPERATOR, now=utcnow())
    click.echo(f"{city_id} is no longer this node's secretariat (it stays a twin).")


@main.group("benchmarks")
def benchmarks_group() -> None:
    """Regional benchmarks (secretariat)."""


@benchmarks_group.command("recompute")
@DATA_DIR
def benchmarks_recompute(data_dir: Path) -> None:
    """Recompute every benchmark group from every stored summary (full recompute)."""
    import time

    from node.secretariat import benchmarks

    with node_session(data_dir) as (config, session):
        if config.role != "secretariat":
            raise CliError("Benchmarks are computed by the secretariat node.")
        started = time.perf_counter()
        groups = benchmarks.full_recompute(session, config, utcnow())
        elapsed = time.perf_counter() - started
    click.echo(f"Recomputed {groups} groups in {elapsed:.2f} s; members get them on next sync.")


@catalogue_group.command("publish")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--notes", help="what changed, for the members")
def catalogue_publish(data_dir: Path, file: Path, notes: str | None) -> None:
    """Sign and send a core catalogue release to every member (secretariat)."""
    from node.secretariat import releases

    document = _read_json_file(file)
    with node_session(data_dir) as (config, session):
        release = releases.publish_release(
            session, config, document, notes=notes, user=OPERATOR, now=utcnow()
        )
    click.echo(f"Published core catalogue {release.version}.")


@main.group("demo", invoke_without_command=True)
@click.option(
    "--check", is_flag=True, help="build in a temporary dir, check every step, exit 0 if all held"
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data"),
    show_default=True,
)
@click.option(
    "--port-base",
    type=click.IntRange(1, 65530),
    default=None,
    help="serve the nodes on N, N+1, ... (default: the first free block from 8000)",
)
@click.option("--reset", is_flag=True, help="rebuild the network from scratch (asks first)")
@click.option("--yes", is_flag=True, help="do not ask (for scripts)")
@click.option("--verbose", is_flag=True, help="show every log line of the nodes")
@click.pass_context
def demo_command(
    ctx: click.Context,
    check: bool,
    data_dir: Path,
    port_base: int | None,
    reset: bool,
    yes: bool,
    verbose: bool,
) -> None:
    """The main job: a living network (a secretariat and four cities) on 127.0.0.1.

    The subcommands deploy the same network elsewhere (e.g. docker/compose.yaml): init-network
    writes its table, init-node initialises one node from it, seed seeds the running nodes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from node.demo.run import run_demo

    sys.exit(
        run_demo(data_dir, port_base=port_base, check=check, reset=reset, yes=yes, verbose=verbose)
    )


_NETWORK_FILE = click.option(
    "--network",
    "network_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the network's table (network.json)",
)


def _demo_paths() -> tuple[Path, Path]:
    from node.demo.nodes import DATASET
    from node.setup import DEFAULT_CATALOGUE

    return DEFAULT_CATALOGUE, DATASET


@demo_command.command("init-network")
@click.argument("network_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--url-template",
    default="http://127.0.0.1:{port}",
    show_default=True,
    help="each node's URL: {host} (gent, secretariat...), {city_id}, {port}",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="each node's data dir is DATA_ROOT/<city_id>",
)
@click.option("--port-base", type=click.IntRange(1, 65530), default=None, help="{port}: N, N+1...")
def demo_init_network_command(
    network_file: Path, url_template: str, data_root: Path, port_base: int | None
) -> None:
    """Write the table of a new demo network (fresh passwords and tokens); keep an existing one."""
    from node.demo.run import run_init_network

    sys.exit(
        run_init_network(
            network_file, url_template=url_template, data_root=data_root, port_base=port_base
        )
    )


@demo_command.command("init-node")
@_NETWORK_FILE
@click.option("--city-id", required=True, help="this node's row of the table")
@click.option(
    "--catalogue",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="the core catalogue (default: ../shared/data/indicator_catalogue.json)",
)
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Los Angeles' Open SDG files (default: ../shared/datasets/los-angeles-open-sdg)",
)
def demo_init_node_command(
    network_file: Path, city_id: str, catalogue: Path | None, dataset: Path | None
) -> None:
    """Initialise one node of the demo network from its row of the table (its own operator's
    step, before it serves; NODE_DATABASE_URL chooses PostgreSQL). Idempotent."""
    from node.demo.run import run_init_node

    default_catalogue, default_dataset = _demo_paths()
    sys.exit(
        run_init_node(
            network_file,
            city_id,
            catalogue=catalogue or default_catalogue,
            dataset=dataset or default_dataset,
        )
    )


@demo_command.command("seed")
@_NETWORK_FILE
@click.option(
    "--catalogue",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="the core catalogue the secretariat publishes (default: ../shared/data/...)",
)
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Los Angeles' Open SDG files (default: ../shared/datasets/los-angeles-open-sdg)",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.IntRange(0, 3600),
    default=60,
    show_default=True,
    help="seconds to wait for nodes still starting",
)
def demo_seed_command(
    network_file: Path, catalogue: Path | None, dataset: Path | None, wait_s: int
) -> None:
    """Seed a running demo network through its nodes' HTTP APIs (the same steps as hrcnet demo).

    Idempotent: run twice, nothing is duplicated. Exit codes: 0 seeded (or already), 1 a step
    failed, 2 bad network file, 3 a node unreachable, 4 a login refused.
    """
    from node.demo.run import run_seed

    default_catalogue, default_dataset = _demo_paths()
    sys.exit(
        run_seed(
            network_file,
            catalogue=catalogue or default_catalogue,
            dataset=dataset or default_dataset,
            wait_s=float(wait_s),
        )
    )
