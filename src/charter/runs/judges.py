"""Every run carries a calibration card per judge, and can refuse a judge that falls short.

Before a run starts, each stage names the calibrated judges it relies on
(:meth:`~charter.runs.config.StageSpec.judges`). For each, the card measured on
that judge model is found (the config's ``judge_cards`` file, else the card
Charter ships for its embedded feedback model) and copied into
``<run>/cards/<judge>.<method>.json``. With ``min_judge_accuracy`` set, a judge
without a card, or whose card's test accuracy is below the bar, stops the run
before any stage starts, with the command that calibrates it.
"""

from __future__ import annotations

from collections.abc import Sequence

from charter.errors import RunError
from charter.feedback.card import CalibrationCard, find_card
from charter.runs.config import StageSpec
from charter.runs.context import RunContext

CARDS_DIR = "cards"


def carry_cards(ctx: RunContext, stages: Sequence[StageSpec]) -> dict[str, CalibrationCard]:
    """Find, check and copy the card of every judge the stages use; judge name -> card.

    Raises:
        RunError: ``min_judge_accuracy`` is set and a judge has no card or falls short.
    """
    config = ctx.config
    cards: dict[str, CalibrationCard] = {}
    for stage in stages:
        for judge, method, key in stage.judges():
            if judge in cards:
                continue
            spec = config.models[key]
            user = config.judge_cards.get(judge)
            model_id = ctx.model(key).model_id
            card = find_card(judge, method, model_id, ctx.resolve(user) if user else None)
            bar = config.min_judge_accuracy
            if card is None:
                if bar is not None:
                    raise RunError(
                        f"judge {judge} ({method}) on {model_id} has no calibration card, and "
                        f"min_judge_accuracy is {bar}; calibrate it: `charter eval calibrate "
                        f"--judge {judge} --method {method} --backend {spec.backend} --model "
                        f"{spec.model} --card cards/{judge}.json`, then add "
                        f"`judge_cards: {{{judge}: cards/{judge}.json}}` to the config."
                    )
                continue
            if bar is not None and card.accuracy < bar:
                raise RunError(
                    f"judge {judge} ({method}) on {model_id}: test accuracy {card.accuracy:.3f} "
                    f"[{card.ci_low:.3f}, {card.ci_high:.3f}] is below min_judge_accuracy {bar}; "
                    "use a stronger judge model (and calibrate it) or lower the bar."
                )
            cards[judge] = card
            card.save(ctx.output_dir / CARDS_DIR / f"{judge}.{method}.json")
    ctx.cards = cards
    return cards
