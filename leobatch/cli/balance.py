"""``leobatch balance``: the account's API credits, concurrency slots and renewal date."""

from __future__ import annotations

import json

import anyio
import click

from leobatch.api.client import Account
from leobatch.cli._emulated import api_endpoint, emulator_option, open_client

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


async def _fetch(emulator: bool) -> Account:
    with api_endpoint(emulator) as endpoint:
        async with open_client(endpoint) as client:
            return await client.me()


@click.command("balance")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@emulator_option
def command(as_json: bool, emulator: bool) -> None:
    """Show the account's credits (paid + subscription), or its US dollars on a pay-as-you-go
    account, its slots and renewal date.

    Reads LEONARDO_API_KEY and LEONARDO_API_BASE_URL, unless --emulator is given.
    """
    account = anyio.run(_fetch, emulator)
    if as_json:
        click.echo(json.dumps(account_json(account), sort_keys=True))
    else:
        click.echo(format_account(account))
