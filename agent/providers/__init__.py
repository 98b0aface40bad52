"""Provider roles (speech to text, language model, text to speech).

One small structural protocol per role, no base classes: a fake or a new vendor
only has to have the right methods. The caller's nursery owns every lifetime;
channel ends are passed in and the provider closes the ends it was given when
it returns, so the other side's ``async for`` ends.
"""

from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech

__all__ = ["LanguageModel", "SpeechToText", "TextToSpeech"]
