"""Templates: `templates/<kind>.txt` (which sets `subject`) and `templates/<kind>.html`.

HTML is autoescaped (every name and reason is someone's typing); plain text is not escaped, and
neither can break out of the message: headers are set through the email library, which refuses
line breaks. No remote images or scripts: the HTML is inline-styled and self-contained.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("televisit.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def render(name: str, context: dict[str, Any]) -> Rendered:
    env = environment()
    text_module = env.get_template(f"{name}.txt").make_module(context)
    subject = " ".join(str(vars(text_module)["subject"]).split())  # one line, whatever a name held
    text = str(text_module).strip() + "\n"
    html = env.get_template(f"{name}.html").render({**context, "subject": subject})
    return Rendered(subject=subject, text=text, html=html)
