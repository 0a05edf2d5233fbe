"""`nlu train | predict | test | eval` commands: `python -m bot nlu ...` and `python -m nlu ...`.

`register(subparsers, load_documents=...)` adds the `nlu` command group to an argparse parser; each
command's function takes the parsed arguments and returns an exit status. Reading content items is
the application's business, not the NLU's: `predict --content` and `eval` use the loader given to
`register` (the bot passes its content loader), and without one they say so and exit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nlu.engine import DEFAULT_DATA, DEFAULT_MODEL
from nlu.retrieval import Document

EXIT_DATA = 2

# A content folder -> its valid items.
DocumentLoader = Callable[[Path], Sequence[Document]]


def _add_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=Path,
        default=None,
        help="folder of abbreviations.yml and dialect.yml (default: nlu/tables)",
    )


def register(
    subparsers: argparse._SubParsersAction, load_documents: DocumentLoader | None = None
) -> argparse.ArgumentParser:
    """Add the `nlu` command group to `subparsers`; `load_documents` reads a content folder."""
    nlu = subparsers.add_parser("nlu", help="train, try and test the built-in NLU")
    sub = nlu.add_subparsers(dest="nlu_command", required=True)

    t = sub.add_parser("train", help="train the intent model from Rasa NLU files")
    t.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[DEFAULT_DATA],
        help=f"files or folders (default: {DEFAULT_DATA})",
    )
    t.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_MODEL,
        help=f"model file to write (default: {DEFAULT_MODEL})",
    )
    _add_tables(t)
    t.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help='JSON lines {"text": ...} on stdin -> {"text", "intent", "confidence"} on stdout',
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument(
        "--content",
        type=Path,
        default=None,
        help="content folder: also output answer_id and candidates",
    )
    _add_tables(p)
    p.set_defaults(func=cmd_predict, load_documents=load_documents)

    s = sub.add_parser("test", help="per-intent precision, recall and F1 on Rasa NLU data")
    s.add_argument("--data", type=Path, nargs="+", default=[DEFAULT_DATA])
    s.add_argument(
        "--model",
        type=Path,
        default=None,
        help="score this model; without it, cross-validate on the data",
    )
    s.add_argument("--folds", type=int, default=5)
    s.add_argument(
        "--strip-diacritics", action="store_true", help="test the texts typed without diacritics"
    )
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_tables(s)
    s.set_defaults(func=cmd_test)

    e = sub.add_parser(
        "eval",
        help="intent and answer accuracy on an evaluation set (cases: [{text, intent, expect}])",
    )
    e.add_argument("cases", type=Path)
    e.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    e.add_argument("--content", type=Path, default=Path("content"))
    e.add_argument("--strip-diacritics", action="store_true")
    e.add_argument("--errors", action="store_true", help="list the cases that failed")
    e.add_argument("--json", action="store_true")
    _add_tables(e)
    e.set_defaults(func=cmd_eval, load_documents=load_documents)
    return nlu


def cmd_train(args: argparse.Namespace) -> int:
    from nlu.engine import train
    from nlu.rasa_format import NluDataError

    try:
        report = train(args.data, args.out, tables_dir=args.tables)
    except (NluDataError, ValueError) as exc:
        print(f"nlu train: {exc}", file=sys.stderr)
        return EXIT_DATA
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(report.summary())
    return 0


def _documents(args: argparse.Namespace, command: str) -> Sequence[Document] | None:
    """The items of `args.content`, or None (said on stderr) when no loader was given."""
    if args.load_documents is None:
        print(
            f"nlu {command}: reading content items needs the application's content loader; "
            f"run `python -m bot nlu {command} ...`",
            file=sys.stderr,
        )
        return None
    return args.load_documents(args.content)


def cmd_predict(args: argparse.Namespace) -> int:
    from nlu.model import IntentModel, ModelError
    from nlu.normalize import Normalizer

    try:
        if args.content is not None:
            from nlu.engine import BuiltinEngine

            documents = _documents(args, "predict")
            if documents is None:
                return EXIT_DATA
            engine = BuiltinEngine.load(args.model, documents, tables_dir=args.tables)
            model = None
        else:
            model = IntentModel.load(args.model, Normalizer.from_tables(args.tables))
    except ModelError as exc:
        print(f"nlu predict: {exc}", file=sys.stderr)
        return EXIT_DATA
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            text = str(json.loads(line)["text"])
        except (json.JSONDecodeError, KeyError, TypeError):
            print(f'nlu predict: line {n}: expected a JSON object with "text"', file=sys.stderr)
            return EXIT_DATA
        if model is not None:
            pred = model.predict(text)
            out = {"text": text, "intent": pred.intent, "confidence": round(pred.confidence, 4)}
        else:
            r = engine.parse_sync(text)
            out = {
                "text": text,
                "intent": r.intent,
                "confidence": r.confidence,
                "answer_id": r.answer_id,
                "low_confidence": r.low_confidence,
                "candidates": [[c.item_id, c.score] for c in r.candidates],
            }
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from nlu.evaluate import cross_validate, format_report, intent_report
    from nlu.model import IntentModel, ModelError
    from nlu.normalize import Normalizer, strip_diacritics
    from nlu.rasa_format import NluDataError, load_paths

    try:
        data = load_paths(args.data)
        normalizer = Normalizer.from_tables(args.tables)
        if args.model is not None:
            model = IntentModel.load(args.model, normalizer)
            texts = [
                strip_diacritics(e.text) if args.strip_diacritics else e.text for e in data.examples
            ]
            y_true = [e.intent for e in data.examples]
            y_pred = [model.predict(t).intent for t in texts]
            how = f"model {args.model}"
        else:
            texts, y_true, y_pred = cross_validate(
                data, args.folds, normalizer=normalizer, strip=args.strip_diacritics
            )
            how = f"{args.folds}-fold cross-validation"
    except (NluDataError, ModelError, ValueError) as exc:
        print(f"nlu test: {exc}", file=sys.stderr)
        return EXIT_DATA
    report = intent_report(y_true, y_pred)
    report["method"] = how + (", without diacritics" if args.strip_diacritics else "")
    if args.json:
        report["errors"] = [
            {"text": t, "true": a, "predicted": b}
            for t, a, b in zip(texts, y_true, y_pred, strict=True)
            if a != b
        ]
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(f"# {report['method']}")
        print(format_report(report))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from nlu.engine import BuiltinEngine
    from nlu.evaluate import case_summary, load_cases, run_cases
    from nlu.model import ModelError

    try:
        documents = _documents(args, "eval")
        if documents is None:
            return EXIT_DATA
        engine = BuiltinEngine.load(args.model, documents, tables_dir=args.tables)
        results = run_cases(engine, load_cases(args.cases), documents, strip=args.strip_diacritics)
    except (ModelError, ValueError, OSError) as exc:
        print(f"nlu eval: {exc}", file=sys.stderr)
        return EXIT_DATA
    summary = case_summary(results)
    failed = [r for r in results if not r.intent_ok or r.answer_ok is False]
    if args.json:
        summary["failed"] = [r.__dict__ for r in failed] if args.errors else len(failed)
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    print(
        f"cases {summary['cases']}  intent accuracy {summary['intent_accuracy']:.3f}  "
        f"answer accuracy {summary['answer_accuracy']:.3f} "
        f"({summary['answer_cases']} with expected text)"
    )
    if args.errors:
        for r in failed:
            what = (
                f"intent {r.intent} -> {r.predicted} ({r.confidence:.2f})"
                if not r.intent_ok
                else ""
            )
            if r.answer_ok is False:
                what += f"  answer {r.answer_id} lacks {list(r.expect)}"
            print(f"  {r.text!r}: {what.strip()}")
    return 0


def main(argv: list[str] | None = None, load_documents: DocumentLoader | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu", description="Làng Số built-in NLU")
    register(parser.add_subparsers(dest="command", required=True), load_documents)
    args = parser.parse_args(["nlu", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)
