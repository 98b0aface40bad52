"""whisper_decode: the decoding options reach faster-whisper, the line's conditioning
(pre-emphasis, gain), and which segments make the transcript."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agent.providers.stt.whisper_decode import DecodeOptions, condition, decode


class Recorder:
    def __init__(self, segments) -> None:
        self.segments = segments
        self.options: dict = {}
        self.read = 0

    def transcribe(self, samples, **options):
        self.options = options

        def each():
            for segment in self.segments:
                self.read += 1
                yield segment

        return each(), None


def segment(text: str, seek: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        text=f" {text}", avg_logprob=-0.2, no_speech_prob=0.01, words=[], seek=seek
    )


def test_the_options_reach_the_model():
    model = Recorder([segment("hello")])
    options = DecodeOptions(beam_size=3, without_timestamps=False, condition_on_previous_text=True)
    decode(model, np.zeros(16_000, np.float32), options=options)
    assert model.options["beam_size"] == 3
    assert model.options["without_timestamps"] is False
    assert model.options["condition_on_previous_text"] is True


def test_without_timestamps_only_the_first_segment_is_read():
    # The second would be the tail decoded again, at the cost of a second encode.
    model = Recorder([segment("my postcode is SE11 5PH"), segment("5PH")])
    text, *_ = decode(model, np.zeros(16_000, np.float32))
    assert text == "my postcode is SE11 5PH" and model.read == 1


def test_with_timestamps_the_first_window_is_read_whole_and_no_more():
    model = Recorder([segment("Hello."), segment("It's 41 Church Road."), segment("Road.", 3000)])
    text, *_ = decode(
        model, np.zeros(16_000, np.float32), options=DecodeOptions(without_timestamps=False)
    )
    assert text == "Hello. It's 41 Church Road."


def test_default_conditioning_leaves_the_line_alone():
    line = np.random.default_rng(0).normal(0, 0.01, 800).astype(np.float32)
    assert np.array_equal(condition(line, DecodeOptions()), line)


def test_pre_emphasis_is_a_first_difference():
    line = np.array([0.5, 0.5, 0.5, -0.5], np.float32)
    out = condition(line, DecodeOptions(pre_emphasis=0.5))
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([0.5, 0.25, 0.25, -0.75])


def test_gain_brings_a_quiet_line_up_but_no_more_than_20_db():
    rng = np.random.default_rng(1)
    quiet = rng.normal(0, 0.02, 8000).astype(np.float32)
    out = condition(quiet, DecodeOptions(normalise_gain=True))
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.1, rel=0.02)
    hiss = rng.normal(0, 0.0005, 8000).astype(np.float32)
    out = condition(hiss, DecodeOptions(normalise_gain=True))
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.005, rel=0.05)  # x10, not x200
    assert not condition(np.zeros(10, np.float32), DecodeOptions(normalise_gain=True)).any()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="beam_size"):
        DecodeOptions(beam_size=0)
    with pytest.raises(ValueError, match="pre_emphasis"):
        DecodeOptions(pre_emphasis=1.0)


# --- the beam's alternatives ----------------------------------------------------------


class Tokens:
    """A tokenizer of one token per word; 100 is the end of text, above it the specials."""

    def __init__(self, *texts: str) -> None:
        self.words = sorted({w for t in texts for w in t.split()})

    def token_to_id(self, token: str) -> int:
        assert token == "<|endoftext|>"
        return 100

    def ids(self, text: str) -> list[int]:
        return [self.words.index(w) for w in text.split()] + [150]  # a timestamp token

    def decode(self, ids: list[int]) -> str:
        assert all(i < 100 for i in ids), "special tokens reach the text"
        return " " + " ".join(self.words[i] for i in ids)


class Beam:
    """faster-whisper's CTranslate2 model: one beam search, its hypotheses best first."""

    def __init__(self, tokens: Tokens, hypotheses: list[str]) -> None:
        self.tokens, self.hypotheses = tokens, hypotheses
        self.asked: list[dict] = []
        self.is_multilingual = False

    def generate(self, features, prompts, **options):
        self.asked.append(options)
        n = options.get("num_hypotheses", 1)
        ids = [self.tokens.ids(h) for h in self.hypotheses[:n]]
        return [SimpleNamespace(sequences_ids=ids, scores=[-0.1] * len(ids))]


class WhisperLike:
    """faster-whisper's model: ``transcribe`` runs its own generate, reads the first."""

    def __init__(self, hypotheses: list[str]) -> None:
        self.hf_tokenizer = Tokens(*hypotheses)
        self.model = Beam(self.hf_tokenizer, hypotheses)

    def transcribe(self, samples, **options):
        result = self.model.generate(None, [[]], beam_size=options["beam_size"])[0]
        text = self.hf_tokenizer.decode([i for i in result.sequences_ids[0] if i < 100])
        return iter([segment(text.strip())]), None


HEARD = ["easy for M7LS", "EC4M7LS", "Easy for M7LS.", "the 4M7 LS", "EC4 M7LS", "easy 4 M7LS"]


def test_the_beam_gives_its_next_hypotheses_besides_the_best():
    model = WhisperLike(HEARD)
    text, confidence, _, alternatives = decode(model, np.zeros(16_000, np.float32))
    assert text == "easy for M7LS" and confidence == pytest.approx(np.exp(-0.2))
    # "Easy for M7LS." is the best again but for case and punctuation: not an alternative.
    assert alternatives == ("EC4M7LS", "the 4M7 LS", "EC4 M7LS")
    assert model.model.asked == [{"beam_size": 5, "num_hypotheses": 5}]


def test_at_most_four_alternatives_and_never_more_hypotheses_than_the_beam():
    many = [f"line {i}" for i in range(8)]
    model = WhisperLike(many)
    *_, alternatives = decode(model, np.zeros(16_000, np.float32))
    assert alternatives == ("line 1", "line 2", "line 3", "line 4")
    model = WhisperLike(many)
    *_, alternatives = decode(model, np.zeros(16_000, np.float32), options=DecodeOptions(3))
    assert alternatives == ("line 1", "line 2")
    assert model.model.asked[0]["num_hypotheses"] == 3


def test_greedy_decoding_and_other_models_give_no_alternatives():
    model = WhisperLike(HEARD)
    *_, alternatives = decode(
        model, np.zeros(16_000, np.float32), options=DecodeOptions(beam_size=1)
    )
    assert alternatives == () and "num_hypotheses" not in model.model.asked[0]
    *_, alternatives = decode(Recorder([segment("hello")]), np.zeros(16_000, np.float32))
    assert alternatives == ()


def test_the_shared_model_is_left_as_it_was():
    model = WhisperLike(HEARD)
    beam = model.model
    decode(model, np.zeros(16_000, np.float32))
    assert model.model is beam  # each decode has its own view of it
