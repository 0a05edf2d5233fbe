"""The form engine's one error type: what the user typed is not a valid answer, and why."""

from __future__ import annotations

from bot.i18n import N_


class FormInputError(ValueError):
    """An answer the field cannot take. `message` is a Vietnamese UI string (a gettext id) with
    `{placeholders}` filled from `params` after translation; it says what is wrong and what is
    right ("Nhập một số, ví dụ 12")."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def render(self, translate) -> str:
        text = translate(self.message)
        try:
            return text.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.message.format(**self.params)


class ExprError(FormInputError):
    """An expression (`relevant`, `constraint`) that cannot be read or evaluated."""

    def __init__(self, detail: str) -> None:
        super().__init__(N_("Biểu thức không hợp lệ: {detail}"), detail=detail)
        self.detail = detail
