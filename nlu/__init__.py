"""Làng Số's built-in NLU: normalisation, intent classification and FAQ retrieval.

Training (`python -m bot nlu train`) uses scikit-learn; the running bot loads the resulting model with
numpy only. Start from `nlu.engine` (`BuiltinEngine`, `NluResult`, `train`).
"""
