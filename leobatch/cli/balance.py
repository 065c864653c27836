"""``leobatch balance``: the account's API credits, concurrency slots and renewal date."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leobatch._loop import run as run_async
from leobatch.api.client import Account
from leobatch.cli._accounts import keys_option
from leobatch.cli._emulated import emulator_option

__all__ = ["account_json", "command", "format_account"]


def format_account(account: Account) -> str:
    """The human-readable balance, one fact per line."""
    from leobatch.pricing.money import format_usd

    name = account.username or "(no username)"
    slots = "unknown" if account.slots is None else str(account.slots)
    rows = [("account", f"{name} ({account.user_id})")]
    if account.dollars is not None:  # pay-as-you-go: billed in dollars, credits are moot
        rows.append(("balance", f"{format_usd(account.dollars)} (pay-as-you-go, in US dollars)"))
    else:
        rows += [
            ("credits", f"{account.credits:,}"),
            ("  paid", f"{account.paid_credits:,}"),
            ("  subscription", f"{account.subscription_credits:,}"),
        ]
    rows += [
        ("slots", slots),
        ("renewal date", account.renewal_date or "none"),
    ]
    return "\n".join(f"{label:<16}{value}" for label, value in rows)


def account_json(account: Account) -> dict[str, object]:
    """The balance as ``--json`` prints it."""
    return {
        "user_id": account.user_id,
        "username": account.username,
        "credits": account.credits,
        "paid_credits": account.paid_credits,
        "subscription_credits": account.subscription_credits,
        "slots": account.slots,
        "renewal_date": account.renewal_date,
        # issue 10: how the account is billed, and a PAYG account's balance (a decimal string)
        "unit": account.unit,
        "usd": None if account.dollars is None else str(account.dollars),
    }


async def _fetch(emulator: bool, keys_file: Path | None) -> list[Account]:
    from leobatch.cli._accounts import api_endpoints, open_clients

    with api_endpoints(emulator, keys_file) as endpoints:
        async with open_clients(endpoints) as clients:
            return [await client.me() for client in clients]


@click.command("balance")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@emulator_option
@keys_option
def command(as_json: bool, emulator: bool, keys_file: Path | None) -> None:
    """Show the account's credits (paid + subscription), or its US dollars on a pay-as-you-go
    account, its slots and renewal date.

    Reads LEONARDO_API_KEY and LEONARDO_API_BASE_URL, unless --emulator is given. With several
    keys (LEONARDO_API_KEYS or --keys), each account in turn (--json: {"accounts": [...]}).
    """
    accounts = run_async(_fetch, emulator, keys_file)
    if len(accounts) == 1:
        if as_json:
            click.echo(json.dumps(account_json(accounts[0]), sort_keys=True))
        else:
            click.echo(format_account(accounts[0]))
        return
    if as_json:
        click.echo(json.dumps({"accounts": [account_json(a) for a in accounts]}, sort_keys=True))
        return
    blocks = [f"key {n}\n{format_account(a)}" for n, a in enumerate(accounts, start=1)]
    click.echo("\n\n".join(blocks))
