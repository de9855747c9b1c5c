"""``charter reward``: the wish-sampled reward from the command line.

Examples::

    charter reward score --ledger builtin:sample --prompt "My toddler has a fever..." \\
        --response "Go to the ER now if ..."
    charter reward weights --ledger wishes.db --transform sqrt --half-life 90
    charter reward serve --ledger wishes.db --scorer embedding --k 64 --port 8100
"""

from __future__ import annotations

import typer

from charter.cli._common import console, emit_json
from charter.errors import ConfigError, missing_extra

app = typer.Typer(help="The wish-sampled reward: score, weigh, serve.", no_args_is_help=True)

LEDGER = typer.Option(
    "builtin:sample",
    "--ledger",
    "-l",
    help="A ledger (SQLite/postgresql://), an export, or builtin:sample.",
)
TRANSFORM = typer.Option("linear", help="Stake transform: linear | sqrt | log1p | capped.")
HALF_LIFE = typer.Option(None, "--half-life", help="Recency half-life in days (default none).")
PER_KEY = typer.Option(False, "--per-key", help="Transform each key's total stake.")
CAP = typer.Option(None, help="capped: the cap in credits (default 10x the median stake).")
SCORER = typer.Option("embedding", help="embedding | judge (the embedded feedback model).")
TOP = typer.Option(32, help="Draw among the N most relevant wishes (0: all).")
SEED = typer.Option(0, help="Reward seed.")
NO_VERIFY = typer.Option(False, "--no-verify", help="Skip checkpoint verification.")
JSON_OUT = typer.Option(False, "--json", help="Print JSON.")


def _reward(ledger, scorer, k, transform, half_life, per_key, cap, top, seed, no_verify):
    from charter.collective.reward import make_reward_fn

    return make_reward_fn(
        ledger,
        scorer=scorer,
        k=k,
        transform=transform,
        half_life_days=half_life,
        per_key=per_key,
        cap=cap,
        relevance_top=top if top > 0 else None,
        seed=seed,
        verify=not no_verify,
    )


def score(
    prompt: str = typer.Option(..., "--prompt", "-p", help="The user's prompt."),
    response: str = typer.Option(..., "--response", "-r", help="The response to score."),
    ledger: str = LEDGER,
    scorer: str = SCORER,
    k: int = typer.Option(64, help="Wishes drawn."),
    transform: str = TRANSFORM,
    half_life: float = HALF_LIFE,
    per_key: bool = PER_KEY,
    cap: float = CAP,
    top: int = TOP,
    seed: int = SEED,
    show: int = typer.Option(5, help="Wishes to list (by weight in the result)."),
    no_verify: bool = NO_VERIFY,
    json_out: bool = JSON_OUT,
) -> None:
    """Score one response and list the wishes that drove the score."""
    reward = _reward(ledger, scorer, k, transform, half_life, per_key, cap, top, seed, no_verify)
    result = reward.score(prompt, response)
    top_wishes = [
        {
            "entry_id": wish_id,
            "weight_share": share,
            "score": value,
            "behaviour": reward.wishes.by_id(wish_id).behaviour,
        }
        for wish_id, share, value in result.top_wishes(show)
    ]
    if json_out:
        emit_json({**result.to_dict(), "top_wishes": top_wishes})
        return
    console.print(
        f"reward {result.value:.4f} ± {result.stderr:.4f} (K={reward.k}, {reward.scorer})"
    )
    console.print(f"ledger {reward.wishes.checkpoint_id}", highlight=False, soft_wrap=True)
    for wish in top_wishes:
        console.print(
            f"  {wish['weight_share']:5.1%}  score {wish['score']:+.3f}  {wish['entry_id'][:12]}  "
            f"{wish['behaviour'][:90]}",
            highlight=False,
            soft_wrap=True,
        )


def weights(
    ledger: str = LEDGER,
    transform: str = TRANSFORM,
    half_life: float = HALF_LIFE,
    per_key: bool = PER_KEY,
    cap: float = CAP,
    no_verify: bool = NO_VERIFY,
    json_out: bool = JSON_OUT,
) -> None:
    """Influence concentration over keys: raw stake, and under the chosen transform."""
    from charter.collective.weights import (
        InfluencePolicy,
        concentration_report,
        policy_label,
    )
    from charter.collective.wishes import load_wishes

    wishes = load_wishes(ledger, verify=not no_verify)
    policy = InfluencePolicy(transform, cap=cap, half_life_days=half_life, per_key=per_key)  # type: ignore[arg-type]
    report = concentration_report(wishes, [policy])
    if json_out:
        emit_json({"checkpoint": wishes.checkpoint_id, "wishes": wishes.size, "report": report})
        return
    console.print(
        f"{wishes.size} wishes at {wishes.checkpoint_id}", highlight=False, soft_wrap=True
    )
    console.print(f"{'':28} {'keys':>5} {'gini':>6} {'top1%':>6} {'top10%':>7} {'eff.keys':>9}")
    for label in ("stake", policy_label(policy)):
        row = report[label]
        console.print(
            f"{label:28} {row['keys']:5d} {row['gini']:6.3f} {row['top1_share']:6.1%} "
            f"{row['top10_share']:7.1%} {row['effective_keys']:9.1f}",
            highlight=False,
            soft_wrap=True,
        )


def serve(
    ledger: str = LEDGER,
    scorer: str = SCORER,
    k: int = typer.Option(64, help="Wishes drawn per response."),
    transform: str = TRANSFORM,
    half_life: float = HALF_LIFE,
    per_key: bool = PER_KEY,
    cap: float = CAP,
    top: int = TOP,
    seed: int = SEED,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8100, help="TCP port."),
    no_verify: bool = NO_VERIFY,
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the reward over HTTP: POST /score, GET /health."""
    try:
        import uvicorn

        from charter.collective.reward_server import create_app
    except ImportError as exc:
        raise missing_extra(exc.name or "fastapi", "server") from None
    if k < 1:
        raise ConfigError("--k must be at least 1.")
    reward = _reward(ledger, scorer, k, transform, half_life, per_key, cap, top, seed, no_verify)
    console.print(
        f"wish reward over {reward.wishes.checkpoint_id} ({reward.scorer}, K={k}) on "
        f"http://{host}:{port}/score",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(create_app(reward), host=host, port=port, log_level=log_level)


app.command()(score)
app.command()(weights)
app.command()(serve)
