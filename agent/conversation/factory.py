"""Per call, a conversation brain for the dialled number's company."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import attrs

from agent.base.errors import ConfigError
from agent.business.company import CompanyDirectory, CompanyProfile
from agent.conversation.brain import ConversationBrain
from agent.conversation.params import ConversationParams
from agent.conversation.protocols import ToolRunner, TranscriptLine
from agent.dialogue.turntaking import TurnTakingParams
from agent.dialogue.vocabulary import company_vocabulary
from agent.dialogue.workflow import WorkflowConfig
from agent.providers.protocols import KnowsCaller, TakesVocabulary

if TYPE_CHECKING:
    from agent.media.call import BrainFactory, Call
    from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech


def conversation_brain_factory(
    *,
    stt: Callable[[Call], SpeechToText],
    llm: Callable[[Call], LanguageModel],
    tts: Callable[[Call], TextToSpeech],
    tools: Callable[[Call, CompanyProfile], ToolRunner],
    companies: CompanyDirectory,
    did_for: Callable[[Call], str | None] | None = None,
    caller_id_for: Callable[[Call], str | None] | None = None,
    company_for: Callable[[Call], CompanyProfile | None] | None = None,
    structured_companies: Collection[str] = (),
    params: ConversationParams | None = None,
    turn_taking: TurnTakingParams | None = None,
    workflow_config: WorkflowConfig | None = None,
    epoch: Callable[[], float] = time.time,
    on_transcript: Callable[[Call, TranscriptLine], None] | None = None,
) -> BrainFactory:
    """A ``BrainFactory`` for ``Call``: per call, new provider sessions and the company
    of the dialled number (``did_for(call)``; the directory default when unknown).
    ``company_for(call)``, when given, picks the company instead (e.g. from the
    context API's cache); ``None`` from it means the directory default."""
    base = params or ConversationParams()
    if companies.default_id is None and did_for is None:
        raise ConfigError("conversation: the companies file needs a default company")

    def make(call: Call) -> ConversationBrain:
        did = did_for(call) if did_for is not None else None
        if company_for is not None:
            company = company_for(call)
        else:
            company = companies.lookup(did) if did else None
        if company is None and companies.default_id is not None:
            company = companies.get(companies.default_id)
        if company is None:
            raise ConfigError(f"conversation: no company for DID {did!r} and no default")
        mode = "structured" if company.id in structured_companies else base.output_mode
        caller_id = caller_id_for(call) if caller_id_for is not None else None
        model = llm(call)
        if isinstance(model, KnowsCaller):
            model.use_caller_id(caller_id)
        recogniser = stt(call)
        if isinstance(recogniser, TakesVocabulary):
            recogniser.use_vocabulary(company_vocabulary(company))
        return ConversationBrain(
            call,
            stt=recogniser,
            llm=model,
            tts=tts(call),
            tools=tools(call, company),
            company=company,
            params=attrs.evolve(base, output_mode=mode),
            turn_taking=turn_taking,
            workflow_config=workflow_config,
            caller_id=caller_id,
            epoch=epoch,
            on_transcript=(
                None if on_transcript is None else lambda line: on_transcript(call, line)
            ),
        )

    return make
