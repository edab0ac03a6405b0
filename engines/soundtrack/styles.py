"""Style control (V2Meow-like): a fixed vocabulary of genre/mood words, free text matched to it.

The model takes one style id as an extra condition (``NO_STYLE`` = none given / dropped in
training). Each style also chooses the GM programs that voice the parts; the words, their
musical meaning in the training arrangements (``engines/soundtrack/train/data.py``) and the
programs are listed in the model card.
"""
from __future__ import annotations

import re

STYLES = ("calm", "tense", "happy", "dark", "epic", "lo-fi", "rock", "orchestral", "electronic")
NO_STYLE = len(STYLES)

# words a user might type -> a vocabulary style
_SYNONYMS = {
    "calm": ("calm", "peaceful", "gentle", "soft", "relaxed", "ambient", "quiet", "piano", "serene",
             "soothing", "chill", "slow", "dreamy", "warm"),
    "tense": ("tense", "suspense", "suspenseful", "thriller", "anxious", "nervous", "urgent", "action",
              "chase", "drama", "dramatic"),
    "happy": ("happy", "joyful", "upbeat", "cheerful", "bright", "fun", "playful", "sunny", "pop",
              "uplifting", "positive", "party"),
    "dark": ("dark", "sad", "gloomy", "moody", "melancholic", "melancholy", "horror", "sombre", "somber",
             "night", "mysterious", "minor"),
    "epic": ("epic", "heroic", "cinematic", "trailer", "grand", "powerful", "triumphant", "big", "battle"),
    "lo-fi": ("lo-fi", "lofi", "lo fi", "hip hop", "hip-hop", "hiphop", "jazzy", "study", "beats", "boom bap"),
    "rock": ("rock", "guitar", "punk", "metal", "grunge", "indie", "band", "drums"),
    "orchestral": ("orchestral", "orchestra", "classical", "strings", "symphonic", "film score", "baroque",
                   "choir", "violin", "cello"),
    "electronic": ("electronic", "edm", "techno", "house", "synth", "synthwave", "dance", "trance",
                   "electro", "club", "retro", "80s"),
}

# GM programs (0-based) per style for (keys, bass, melody); drums always on channel 10
PROGRAMS = {
    "calm": (89, 32, 0),          # warm pad, acoustic bass, piano
    "tense": (48, 43, 40),        # strings, contrabass, violin
    "happy": (0, 33, 73),         # piano, finger bass, flute
    "dark": (95, 43, 42),         # sweep pad, contrabass, cello
    "epic": (48, 43, 60),         # strings, contrabass, horn
    "lo-fi": (4, 32, 11),         # electric piano, acoustic bass, vibraphone
    "rock": (29, 34, 30),         # overdriven guitar, picked bass, distortion guitar
    "orchestral": (48, 43, 71),   # strings, contrabass, clarinet
    "electronic": (81, 38, 80),   # saw lead pad, synth bass, square lead
    None: (0, 32, 0),             # piano, acoustic bass, piano
}


def match_style(text: str | None) -> int:
    """Style id for free text: the vocabulary word or synonym that occurs first wins; none -> NO_STYLE.

    ``"calm piano"`` -> calm, ``"dark synthwave"`` -> dark (mood before genre when both occur at
    the same position is not needed: the earliest match in the text is taken)."""
    if not text:
        return NO_STYLE
    t = " " + re.sub(r"[^a-z0-9\- ]+", " ", text.lower()) + " "
    best = None
    for sid, style in enumerate(STYLES):
        for word in _SYNONYMS[style]:
            i = t.find(" " + word + " ")
            if i < 0 and " " not in word:
                i = t.find(" " + word)  # prefix: "orchestral-ish", "synths"
            if i >= 0 and (best is None or i < best[0]):
                best = (i, sid)
    return NO_STYLE if best is None else best[1]


def style_name(style_id: int) -> str | None:
    return STYLES[style_id] if 0 <= style_id < len(STYLES) else None


def programs(style_id: int) -> tuple[int, int, int]:
    return PROGRAMS[style_name(style_id)]
