"""madray's story language: short TinyStories-like stories from a grammar whose distribution is known.

Eldan & Li (2023) built TinyStories from "short stories that only contain words that a typical 3
to 4-year-olds usually understand" (abstract); Gerstgrasser et al. (2024) pretrain their model
sequences on it. Its distribution is unknown, so the KL divergence of a model to the truth cannot
be measured there. This grammar writes stories in the same register — an opening that introduces
a hero, one to three events, an ending — with long-range structure a language model must learn:
the hero's name and pronouns (she/he, her/his) stay consistent across the story, and a toy the
hero plays with is referred to again later ("The ball was red and big.", "... lost her ball").

Every choice point has alternatives that begin with different words, so the grammar expands into a
deterministic automaton (madray/data/language.py) and a story's probability, the entropy rate and
hence each generation's KL to the truth are exact. Word-level tokens; punctuation marks are
tokens of their own; the end token closes every story. `story_language()`: 26,759 states, 121
tokens, entropy rate 0.39950 nats/token (16.98 nats and 42.50 tokens per story), at most 77 tokens.
"""

from __future__ import annotations

import functools

from madray.data.language import Grammar, Language

GIRLS = ("Lily", "Mia", "Sue", "Anna")
BOYS = ("Tom", "Max", "Ben", "Sam")

RULES = {
    "STORY": [(1, "OPENING EVENT MORE ENDING")],
    "MORE": [(6, "EVENT LAST"), (4, "")],  # one to three events
    "LAST": [(5, "EVENT"), (5, "")],
    "OPENING": [
        (5, "Once upon a time , there was a ADJ HERO ."),
        (3, "One day , a ADJ HERO went to the PLACE ."),
        (2, "There was a ADJ HERO who lived in a HOME ."),
    ],
    "HERO": [(1, "girl named $name=GIRL"), (1, "boy named $name=BOY")],
    "GIRL": [(1, g) for g in GIRLS],
    "BOY": [(1, b) for b in BOYS],
    "EVENT": [
        (6, "SUBJECT DID ."),
        (2, "?toy The $toy was COLOR and SIZE ."),
        (2, "?toy One day , $name.she lost $name.her $toy . $name.She was very sad . "
            "Then $name.she found it under the FURNITURE ."),
        (1, "Every day , $name.she went to the PLACE with $name.her MOM ."),
    ],
    "SUBJECT": [(2, "$name"), (3, "$name.She")],
    "DID": [
        (4, "liked to play with $name.her $toy=TOY"),
        (3, "saw a COLOR ANIMAL in the PLACE"),
        (2, "was very FEELING"),
        (2, "wanted to go to the PLACE , but it was far away"),
        (1, "had a friend named $friend=FRIEND"),
        (1, "?friend and $friend played with a BALL all day"),
    ],
    "ENDING": [
        (4, "At the end of the day , $name.she was FEELING ."),
        (4, "?toy From that day on , $name AFTER ."),
        (2, "And they all lived happily ever after ."),
    ],
    "AFTER": [(3, "loved $name.her $toy very much"), (2, "?friend and $friend were best friends")],
    "ADJ": [(3, "little"), (1, "small"), (1, "kind"), (1, "happy"), (1, "brave"), (1, "shy")],
    "PLACE": [(3, "park"), (2, "forest"), (2, "beach"), (1, "garden"), (1, "lake")],
    "HOME": [(2, "small house"), (1, "big house"), (1, "tree house")],
    "TOY": [(3, "ball"), (2, "doll"), (2, "car"), (1, "kite"), (1, "teddy"), (1, "drum")],
    "COLOR": [(2, "red"), (2, "blue"), (1, "green"), (1, "yellow"), (1, "pink")],
    "SIZE": [(1, "big"), (1, "soft"), (1, "shiny"), (1, "new")],
    "ANIMAL": [(2, "dog"), (2, "cat"), (1, "bird"), (1, "frog"), (1, "bunny")],
    "FEELING": [(3, "happy"), (1, "sad"), (1, "tired"), (1, "excited"), (1, "scared")],
    "FURNITURE": [(2, "bed"), (1, "table"), (1, "chair"), (1, "sofa")],
    "MOM": [(2, "mom"), (1, "dad"), (1, "grandma")],
    "FRIEND": [(1, "Bob"), (1, "Kim"), (1, "Zoe")],
    "BALL": [(1, "ball"), (1, "stick")],
}
TABLES = {
    "She": {**{g: "She" for g in GIRLS}, **{b: "He" for b in BOYS}},
    "she": {**{g: "she" for g in GIRLS}, **{b: "he" for b in BOYS}},
    "her": {**{g: "her" for g in GIRLS}, **{b: "his" for b in BOYS}},
}
STORIES = Grammar(RULES, start="STORY", tables=TABLES)


@functools.cache
def story_language() -> Language:
    """The automaton of `STORIES`, built once per process."""
    return Language.from_grammar(STORIES)
