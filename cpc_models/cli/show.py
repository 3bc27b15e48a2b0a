"""Plain-text view of one ``Prediction`` for ``cpc predict``."""

from __future__ import annotations

import click

LEVEL_LABELS = (("main_group", "main groups"), ("subclass", "subclasses"), ("section", "sections"))


def show_prediction(prediction) -> None:
    titles = prediction.titles
    kind = "probability" if prediction.calibrated else "score"
    if prediction.out_of_scope:
        click.echo(f"OUT OF SCOPE: {prediction.scope_note}")
    if prediction.backoff:
        click.echo(f"note: {prediction.backoff}")
    click.echo(f"{'code':<16} {kind}")
    for c in prediction.codes:
        title = titles.get(c.code, "")
        click.echo(f"{c.code:<16} {c.score:.3f}" + (f"  {title}" if title else ""))
        why = prediction.explanations.get(c.code)
        if why:
            if why["terms"]:
                click.echo("    terms: " + ", ".join(f"{t['term']} ({t['weight']:.2f})" for t in why["terms"]))
            if why["neighbours"]:
                click.echo("    voted by: " + ", ".join(n["publication_number"] for n in why["neighbours"]))
    if prediction.levels:
        for key, name in LEVEL_LABELS:
            cells = [
                f"{c.code} ({c.score:.2f})" + (f" {titles[c.code]}" if c.code in titles else "")
                for c in prediction.levels.get(key, [])
            ]
            click.echo(f"{name}: " + (", ".join(cells) or "none above threshold"))
    else:
        click.echo("subclasses: " + ", ".join(f"{c.code} ({c.score:.2f})" for c in prediction.subclasses))
    if prediction.neighbours:
        click.echo("similar training patents:")
        for n in prediction.neighbours:
            click.echo(
                f"  {n['publication_number']:<18} {n['similarity']:.2f}  {n['title']}  [{', '.join(n['codes'][:6])}"
                + (", ..." if len(n["codes"]) > 6 else "")
                + "]"
            )
    if prediction.truncated:
        click.echo("note: the text was truncated to the model's maximum length", err=True)
