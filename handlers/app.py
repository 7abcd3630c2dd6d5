"""The gateway's conversation logic: the commands, the chat with the backend, feedback, and the error policy."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from handlers.catalog import SLOW_DOWN_VERB, slow_down_sentence, split_command
from handlers.extras import Extras, IdentityFor, ShowPending, show_pending
from handlers.greetings import greeting, is_greeting, whoami
from handlers.models import ChannelUnavailable, Replier, StreamStopped, Turn
from handlers.report import TurnReport, close_report, current_report, open_report, user_error
from handlers.router import Router
from handlers.routing import Picker, register_routing
from handlers.signin import forward_feedback, label_of, register_sign_in, remember_question
from handlers.usage import metered, register_usage
from services.backends import (
    Attachment,
    AttachmentRules,
    Backend,
    BackendError,
    FinalAnswer,
    Question,
    SignInRequired,
    TextDelta,
)
from services.backends.base import SizesPrompts, capabilities_of
from services.quoting import quote
from services.routing import RouteTable, single
from services.store import Feedback, Store, StoreUnavailable, get_conversation, update_conversation
from services.usage import UsageService

log = logging.getLogger(__name__)

FAILED_SENTENCE = "Sorry, something went wrong on my side."
EMPTY_MESSAGE = "Your message was empty. Ask me a question, or send `help` to see what I can do."
REMEMBERED_ANSWERS = 50  # answers per conversation whose ids Teams' own 👍/👎 can refer to


def trim_question(text: str, limit: int) -> tuple[str, str]:
    """Return (text cut to `limit` characters at a word boundary, a note for the user or '')."""
    if len(text) <= limit:
        return text, ""
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    note = (
        f"Your message was {len(text):,} characters long; I answered the first {len(cut):,} "
        f"(the {limit:,}-character limit of this backend)."
    )
    return cut, note


def state_key(backend: Backend, turn: Turn) -> str:
    """Return the key the turn's conversation state is kept under: the conversation's, or, for a backend that
    answers as each user (`acts_as_user`, e.g. Q Business with user identity) in a group chat or channel,
    the conversation's and the user's: Alice's backend conversation is never continued with Bob's credentials."""
    if capabilities_of(backend).acts_as_user and turn.conversation.type != "personal":
        return f"{turn.conversation.key}|user:{turn.user.id}"  # `new` clears this key too
    return turn.conversation.key


AttachmentsFor = Callable[[Turn, AttachmentRules, str], Awaitable[tuple[list[Attachment], list[str]]]]
ExtrasHook = tuple[Callable[[Extras], None], Sequence[str]]


def build_router(
    backend: Backend | Mapping[str, Backend],
    store: Store,
    usage: UsageService | None = None,
    *,
    identity_for: IdentityFor | None = None,
    attachments_for: AttachmentsFor | None = None,
    extras: Sequence[ExtrasHook] = (),
    routes: RouteTable | None = None,
) -> Router:
    """Return the Router with every command, card action and the default chat handler wired to the backend(s)
    and `store`.

    `backend` is one backend, or the deployment's backends by name (the first is the default). With `usage`,
    answers are metered and budgeted and admins get the `usage` command; `identity_for` gives backends that act
    as the user who asks; `attachments_for(turn, rules, label)` downloads the files of a turn for backends that
    read them (Capabilities.attachments). `extras` are the backend types' Teams extras hooks, each with the
    names of its backends (services/backends/registry.py, BackendType.teams_extras). `routes` picks the backend
    of each turn among several (services/routing.py; default: the first backend answers everything)."""
    router = Router()
    named: dict[str, Backend] = dict(backend) if isinstance(backend, Mapping) else {backend.name: backend}
    routes = routes or single(next(iter(named)))
    picker = Picker(named, routes, store)
    pending_shows: dict[str, ShowPending] = {}
    intro = "I am your company's AI assistant. Ask me a question in plain words and I answer with numbered sources."

    @router.command("help", "show this list; `help drift` shows a command's options and an example", "?", "commands")
    async def help_(turn: Turn, replier: Replier, rest: str) -> None:
        asked = rest.split()[0] if rest.split() else ""
        detail = router.help_for(asked) if asked else None
        near = router.near_command(asked.lstrip("/").lower()) if asked and detail is None else None
        if near:
            await replier.send_text(f"I don't know the command {quote(asked, 40)}. Did you mean `{near}`?")
            return
        await replier.send_text(detail or router.help_text(intro, turn))

    @router.command("whoami", "show your Teams and Entra ids (what an admin puts in ADMIN_USERS)")
    async def whoami_(turn: Turn, replier: Replier, rest: str) -> None:
        await replier.send_text(whoami(turn))

    @router.command("new", "start a fresh conversation (forget this chat's context)", "reset")
    async def new(turn: Turn, replier: Replier, rest: str) -> None:
        await store.clear_conversation(turn.conversation.key)
        await store.clear_conversation(f"{turn.conversation.key}|user:{turn.user.id}")  # see state_key
        where = "this thread" if turn.conversation.type == "channel" else "this chat"
        await replier.send_text(f"Started a new conversation: I have forgotten the earlier context of {where}.")

    async def ask(
        turn: Turn, replier: Replier, text: str, *, action: dict[str, Any] | None = None, backend: str = ""
    ) -> None:
        """Ask the backend (or run a confirmed backend `action`), show the answer and save the conversation."""
        chosen = await picker.pick(turn, backend)
        capabilities = capabilities_of(chosen)
        rules = capabilities.attachments
        reads_files = attachments_for is not None and rules is not None and bool(turn.files)
        if not text.strip() and action is None:
            if not reads_files:
                await replier.send_text(EMPTY_MESSAGE)
                return
            text = "Summarise the attached files."
        text, note = trim_question(text.strip(), chosen.max_input_chars)
        files, skipped = await attachments_for(turn, rules, label_of(chosen)) if reads_files else ([], [])
        note = "\n\n".join(n for n in (note, *skipped, picker.attribution(chosen)) if n)
        saved = await get_conversation(store, state_key(chosen, turn))
        state = saved.get("backend_state", {}) if saved.get("backend") == chosen.name else {}
        question = Question(
            text=text, conversation_key=turn.conversation.key, user_id=turn.user.id, user_name=turn.user.name,
            state=state, identity=identity_for(turn) if identity_for else None, action=action,
            attachments=files,
        )  # fmt: skip
        # What the backend will really send (system prompt, history, passages), when it can say, for the budget
        prompt_chars = chosen.prompt_chars(question) if isinstance(chosen, SizesPrompts) else None
        try:
            answered = await metered(
                usage, turn, replier, lambda: stream_answer(replier, chosen, question, note=note),
                backend=chosen.name, model_id=capabilities.model_id, question=text,
                answer_tokens=capabilities.answer_tokens, prompt_chars=prompt_chars,
            )  # fmt: skip
        except SignInRequired as needed:
            if action is None:
                await remember_question(store, turn, text, chosen.name)
            await replier.send_sign_in(needed.user_message)
            return
        if answered is not None:
            final, message_id = answered
            await update_conversation(
                store, state_key(chosen, turn), lambda fresh: _next_state(fresh, chosen.name, final, message_id, state)
            )
            if final.pending:
                await show_pending(pending_shows, turn, replier, final)

    @router.default
    async def chat(turn: Turn, replier: Replier, text: str) -> None:
        # A model answers a greeting itself; a search backend (answers_small_talk False) would look "hi" up.
        searches = not getattr(named[routes.default], "answers_small_talk", True)
        if searches and is_greeting(text) and not turn.files:
            await replier.send_text(greeting(turn, router.help_text(intro, turn)))
            return
        await ask(turn, replier, text)

    @router.action("feedback")
    async def feedback(turn: Turn, replier: Replier) -> bool | None:
        reaction = turn.data.get("reaction", "")
        if reaction not in ("like", "dislike"):  # a forged or foreign card: the client's mistake, not ours
            user_error("UnknownReaction")
            await replier.send_text("I could not record that feedback: press 👍 or 👎 under the answer again.")
            return False
        ids = dict(turn.data)
        if not ids.get("answer_id") and ids.get("reply_to"):  # Teams' own 👍/👎 names the message, not the answer
            saved = await get_conversation(store, turn.conversation.key)
            ids.update(saved.get("answers", {}).get(str(ids["reply_to"]), {}))
        await store.add_feedback(
            Feedback(
                conversation_key=turn.conversation.key,
                answer_id=str(ids.get("answer_id") or ids.get("reply_to") or ""),
                reaction=reaction,
                user_id=turn.user.aad_object_id or turn.user.id,
                comment=str(ids.get("comment", ""))[:2000],
                backend=str(ids.get("backend", "")),
                backend_conversation_id=str(ids.get("conversation_id", "")),
                model_id=str(ids.get("model_id", "")),
            )
        )
        identity = identity_for(turn) if identity_for else None
        await forward_feedback(named, store, turn, replier, identity, ids, reaction, str(ids.get("comment", "")))

    register_sign_in(router, store, named, identity_for or (lambda turn: None), ask)
    register_routing(router, picker)
    for hook, names in extras:
        hook(Extras(router, store, {n: named[n] for n in names if n in named}, identity_for or (lambda turn: None),
                    ask, pending_shows))  # fmt: skip

    if usage is not None:
        register_usage(router, usage)

    @router.action(SLOW_DOWN_VERB)
    async def slow_down(turn: Turn, replier: Replier) -> None:
        seconds = turn.data.get("seconds")
        await replier.send_text(slow_down_sentence(float(seconds) if isinstance(seconds, int | float) else 60.0))

    @router.welcome
    async def welcome(turn: Turn, replier: Replier) -> None:
        await replier.send_text(router.help_text(intro, turn))

    return router


async def stream_answer(
    replier: Replier, backend: Backend, question: Question, *, note: str = ""
) -> tuple[FinalAnswer, str] | None:
    """Show the backend's answer while it is written; return (the final answer, the id of its message), or
    None when the user stopped it (closing the backend's generator stops the backend too)."""
    report = current_report()
    report.backend = backend.name
    stream = await replier.start_stream(backend.status_text)
    shown = ""
    final: FinalAnswer | None = None
    try:
        async with contextlib.aclosing(backend.answer(question)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    shown += event.text
                    report.first_text()
                    await stream.update(shown)
                elif isinstance(event, FinalAnswer):
                    final = event
    except StreamStopped:
        log.info("answer stopped by the user in %s after %d characters", question.conversation_key, len(shown))
        report.outcome = "stopped"
        return None
    if final is None:
        raise RuntimeError(f"backend {backend.name} ended without a final answer")
    message_id = await stream.finish(final, note="\n\n".join(n for n in (note, *final.notes) if n))
    report.first_text()
    report.outcome = "blocked" if final.blocked else "answered"
    return final, message_id


def _next_state(
    saved: dict[str, Any], backend: str, final: FinalAnswer, message_id: str, asked_with: dict[str, Any]
) -> dict[str, Any]:
    """Return the conversation state after an answer: the backend's state (unless a guardrail blocked the turn),
    outcome counts, and the answer ids of the message that carries it.

    `asked_with` is the backend state the question was asked with. When `saved` holds another one, another
    writer (a concurrent turn or a retry) saved since: its history is kept rather than silently replaced."""
    kept = saved.get("backend_state", {}) if saved.get("backend") == backend else {}
    overtaken = saved.get("backend") == backend and kept != asked_with
    if overtaken:
        log.warning("conversation state changed during the turn; kept the newer backend state")
    outcomes = dict(saved.get("outcomes", {}))
    outcome = "blocked" if final.blocked else "answered"
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    answers = dict(saved.get("answers", {}))
    if message_id:
        answers[message_id] = {
            "answer_id": final.message_id, "backend": final.backend,
            "conversation_id": final.conversation_id, "model_id": final.model_id,
        }  # fmt: skip
        answers = dict(list(answers.items())[-REMEMBERED_ANSWERS:])
    return {
        "backend": backend,
        "backend_state": kept if final.blocked or overtaken else final.state,
        "outcomes": outcomes,
        "last_outcome": outcome,
        "answers": answers,
    }


def new_reference() -> str:
    """Return a short reference id to show a user and log beside a failure."""
    return uuid.uuid4().hex[:8]


async def run_turn(router: Router, turn: Turn, replier: Replier) -> TurnReport:
    """Run one turn and return its report. A failure is logged with a reference id and the user gets one
    friendly sentence with it; the report's outcome is then `failed`.

    Except when the channel itself is unavailable (ChannelUnavailable, after the connector's own retries):
    the sentence could not reach the user either, so the error is raised for the worker, which releases the
    job so that the queue runs it again (and on the last attempt tells the user, or dead-letters it)."""
    command = split_command(turn.text)[0] if turn.kind == "message" else turn.verb
    report = TurnReport(turn.id, turn.conversation.key, turn.kind, command=command if command in router.names else "")
    token = open_report(report)
    try:
        await router.handle(turn, replier)
    except ChannelUnavailable as error:
        log.warning(
            "turn interrupted: the channel is unavailable (%s) activity=%s conversation=%s kind=%s",
            type(error).__name__, turn.id, turn.conversation.id, turn.kind,
        )  # fmt: skip
        raise
    except StoreUnavailable as error:
        # The state store failed (throttled, unreachable): nothing to tell the user yet. The worker lets the queue
        # run the turn again, or ends the job when the answer already reached the user (bot/worker.py); telling
        # "something went wrong" here came before, or after, the answer the retry then gave a second time.
        report.outcome, report.error_kind = "failed", type(error).__name__
        log.warning(
            "turn interrupted: the state store is unavailable (%s) activity=%s conversation=%s kind=%s",
            error.code, turn.id, turn.conversation.id, turn.kind,
        )  # fmt: skip
        raise
    except Exception as error:  # noqa: BLE001 - the error policy: log everything, show a sentence
        # a chat turn already has its reference (its audit record's); keep it so the sentence names that record
        report.outcome, report.error_kind = "failed", type(error).__name__
        report.reference = report.reference or new_reference()
        log.exception(
            "turn failed ref=%s activity=%s conversation=%s kind=%s",
            report.reference, turn.id, turn.conversation.id, turn.kind,
        )  # fmt: skip
        if turn.kind != "welcome":
            sentence = error.user_message if isinstance(error, BackendError) else FAILED_SENTENCE
            try:
                await replier.send_text(f"{sentence} (reference {report.reference})")
            except ChannelUnavailable:
                raise  # nothing reached the user: the queue runs the turn again, as above
            except Exception:  # noqa: BLE001 - the channel refused the sentence; the log line above has the turn
                log.exception("could not tell the user about ref=%s", report.reference)
    finally:
        close_report(token)
    report.final_seconds = round(report.elapsed(), 4)
    return report
