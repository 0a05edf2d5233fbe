"""Làng Số's built-in NLU: normalisation, intent classification and FAQ retrieval.

Training (`python -m bot nlu train`) uses scikit-learn; the running bot loads the resulting model
with numpy only. Start from `nlu.engine` (`NluEngine`, `BuiltinEngine`, `NluResult`, `train`) and
`nlu.intents` (the intents and their groups). The package imports nothing of the bot: content items
and settings come in as arguments.
"""
