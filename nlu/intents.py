"""The intents the bot knows and the groups they fall in: the one list the NLU and the bot share.

The training data in `nlu/data` labels its examples with exactly `INTENTS` (a test checks it),
every content item names one of them, and an intent a Rasa model names outside them counts as out
of scope. Code that treats a group of intents alike imports the group from here rather than
writing the names again.
"""

from __future__ import annotations

INTENTS = (
    "greet",
    "goodbye",
    "thank",
    "help",
    "ask_policy",
    "ask_product",
    "ask_training",
    "report",
    "feedback",
    "subscribe",
    "unsubscribe",
    "set_language",
    "human",
    "my_data",
    "out_of_scope",
)

# Questions about the world (policies, products, training courses), answered by a content item:
# a close retrieval match speaks for the intent, and each has a topic menu.
QUESTION_INTENTS = ("ask_policy", "ask_product", "ask_training")
# Intents answered from content items: the questions, and "help" items on using the bot. These
# resemble the requests they explain ("xóa dữ liệu"), so they are no evidence for "help".
ANSWER_INTENTS = (*QUESTION_INTENTS, "help")
# Intents whose only useful reply is an answer item: without one, the bot should say it is unsure.
ANSWER_EXPECTED = ("ask_policy", "ask_product")
# Never given an answer item, however close one is.
NEVER_ANSWERED = ("out_of_scope",)
# Requests about the same things the content is about (a broken water tank, a house not built):
# their examples name the topics too, so a message that is only a topic's name ("nước sạch") is
# no evidence for them; it asks about the topic (`nlu.engine.Combiner`).
TOPIC_SHARING = ("feedback", "report")
