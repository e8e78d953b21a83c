"""What the household reads aloud at enrolment: the Harvard sentences.

The "IEEE Recommended Practice for Speech Quality Measurements" (IEEE Transactions
on Audio and Electroacoustics, 1969) published 72 lists of ten phonetically balanced
sentences, public domain and read in speech research ever since. Lists 1 to 6 are
here. Read aloud at enrolment they are the verifier's negatives in the enrolled
voices themselves: the same people saying things that are not the wake word, which
is what a kiosk in a home hears most (openWakeWord's custom verifiers are trained
on such clips). eSpeak voices reading other words did not teach the verifier to
refuse them (scripts/bench_verifier.py).

Sentences alone did not do it: they hold little that sounds like the wake word.
So the passage also has lines of words that share three sounds in a row with it
(:func:`sounds_like`, from the CMU pronouncing dictionary of pocketsphinx, a core
dependency): "marvel carving nervous", read in the household's voices, the near
misses the verifier must refuse.

Any thread; :func:`sounds_like` reads the dictionary (~3 MB) on each call.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path

__all__ = ["HARVARD_SENTENCES", "reading_passage", "sounds_like"]

HARVARD_SENTENCES: tuple[str, ...] = (
    # List 1
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    # List 2
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    # List 3
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    # List 4
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    # List 5
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    # List 6
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
)


#: Words per line of :func:`sounds_like` words in the passage.
WORDS_PER_LINE = 5


def reading_passage(model: str, lines: int, *, exclude: Collection[str] = ()
                    ) -> tuple[str, ...]:
    """What enrolment asks each person to read: ``lines`` Harvard sentences, each
    followed by a line of :data:`WORDS_PER_LINE` words that sound like part of
    ``model``'s name (none of ``exclude``); 2 × ``lines`` lines, about 4 s per pair
    read aloud. The same for the same arguments."""
    if not 1 <= lines <= len(HARVARD_SENTENCES):
        raise ValueError(f"lines must be 1…{len(HARVARD_SENTENCES)}, not {lines}")
    words = sounds_like(model, exclude=exclude)
    random.Random(5).shuffle(words)
    out: list[str] = []
    for i, sentence in enumerate(HARVARD_SENTENCES[:lines]):
        out.append(sentence)
        near = words[i * WORDS_PER_LINE:(i + 1) * WORDS_PER_LINE]
        if near:
            out.append(", ".join(near).capitalize() + ".")
    return tuple(out)


def sounds_like(model: str, *, exclude: Collection[str] = ()) -> list[str]:
    """Words of the CMU pronouncing dictionary sharing three sounds in a row with
    ``model``'s name said as one phrase ("hey_jarvis": HH EY JH AA R V AH S →
    "marvel", "nervous", "jargon"), sorted; not the name's own words, not a word of
    ``exclude`` nor one starting with such a word of 4 letters or more (the
    benchmark excludes what its test corpus says)."""
    from pocketsphinx import get_model_path

    phones: dict[str, list[str]] = {}
    path = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, *rest = line.split()
            if word.isalpha() and len(word) > 1 and word not in phones:
                phones[word] = [p.rstrip("012") for p in rest]
    own = [w for w in Path(model).stem.lower().replace("-", "_").split("_") if w]
    target = [p for w in own for p in phones.get(w, [])]
    runs = {tuple(target[i:i + 3]) for i in range(len(target) - 2)}
    banned = {w.lower() for w in exclude} | set(own)
    stems = tuple(w for w in banned if len(w) >= 4)
    return sorted(w for w, ph in phones.items()
                  if w not in banned and not w.startswith(stems)
                  and any(tuple(ph[i:i + 3]) in runs for i in range(len(ph) - 2)))


if __name__ == "__main__":  # python -m voicebot.kiosk.passage [MODEL]: what to read
    import sys

    from .enroll_cli import READING_PAIRS

    print("\n".join(reading_passage(sys.argv[1] if len(sys.argv) > 1 else "hey_jarvis",
                                    READING_PAIRS)))
